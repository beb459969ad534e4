"""The active rule set, reloaded when its files change, keeping the old set when a new one is invalid."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from monitor.errors import ConfigError
from monitor.observability.metrics import Metrics
from monitor.rules import RuleSet, ruleset_digest

log = logging.getLogger(__name__)


class RuleHolder:
    """Holds the current :class:`RuleSet`; :meth:`reload` swaps it only for a valid new one."""

    def __init__(self, paths: Sequence[Path], metrics: Metrics) -> None:
        self.paths = list(paths)
        self.metrics = metrics
        self.current = RuleSet.load(self.paths)  # invalid rules at start-up stop the service
        self.digest = ruleset_digest(self.paths)
        self.metrics.rules_loaded.set(sum(1 for rule in self.current.rules if rule.enabled))

    def reload(self, force: bool = False) -> tuple[bool, str]:
        """Reload when the files changed (or ``force``). Returns (changed, message)."""
        try:
            digest = ruleset_digest(self.paths)
        except (OSError, ConfigError) as err:
            self.metrics.rules_reloads.labels(outcome="rejected").inc()
            return False, f"rules not reloaded: {err}"
        if digest == self.digest and not force:
            return False, "rules unchanged"
        try:
            candidate = RuleSet.load(self.paths)
        except ConfigError as err:
            self.metrics.rules_reloads.labels(outcome="rejected").inc()
            self.metrics.inputs_rejected.labels(kind="rule_file", reason="invalid").inc()
            self.digest = digest  # do not log the same broken file every few seconds
            log.error("rule reload rejected, keeping the previous rules: %s", err)
            return False, f"rejected, previous rules kept: {err}"
        self.current, self.digest = candidate, digest
        enabled = sum(1 for rule in candidate.rules if rule.enabled)
        self.metrics.rules_loaded.set(enabled)
        self.metrics.rules_reloads.labels(outcome="ok").inc()
        log.info("rules reloaded: %d enabled", enabled)
        return True, f"reloaded {enabled} enabled rules"
