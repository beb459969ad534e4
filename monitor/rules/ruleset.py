"""Loading rule packs: YAML files validated into a :class:`RuleSet`, all or nothing.

``RuleSet.load`` returns a complete valid set or raises :class:`ConfigError` naming the file, the rule
and the field, so that a shell reloading rules keeps the old set on error. ``ruleset_digest`` is a
cheap content hash of the files, to notice changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.errors import ConfigError
from monitor.records import TaggedEvent
from monitor.rules.conditions import matches, routing_key_for
from monitor.rules.exposure import DATA_DIR, Exposure, load_exposure
from monitor.rules.schema import Rule

RULE_SUFFIXES = (".yaml", ".yml")


def rule_files(paths: Sequence[Path]) -> list[Path]:
    """The rule files under ``paths``: files as given, directories' ``*.yaml``/``*.yml`` (not recursive)."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix in RULE_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"{path}: no such rule file or directory")
    return found


def ruleset_digest(paths: Sequence[Path]) -> str:
    """A SHA-256 over the names and contents of the rule files (changes when any file changes).

    Unreadable or missing paths are hashed as such rather than raising, so polling never fails.
    """
    digest = hashlib.sha256()
    try:
        files = rule_files(paths)
    except ConfigError as err:
        digest.update(f"error:{err}".encode())
        return digest.hexdigest()
    for path in files:
        digest.update(str(path).encode("utf-8") + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError as err:
            digest.update(f"unreadable:{err}".encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _describe(err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "(rule)"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"field {loc}: {message}")
    return "; ".join(parts)


#: Values a rule file may hold once its YAML aliases are expanded (a "billion laughs" file is refused).
MAX_EXPANDED_NODES = 100_000


def _expanded_size(value: Any, limit: int) -> int:
    """How many values ``value`` holds with every shared (aliased) part counted each time it is used.

    Stops counting past ``limit``; raises ValueError when a value contains itself (a recursive alias).
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(item: Any) -> int:
        if not isinstance(item, dict | list):
            return 1
        key = id(item)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ValueError("a value contains itself (recursive alias)")
        active.add(key)
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                break
        active.discard(key)
        sizes[key] = total
        return total

    return size(value)


def _load_yaml(text: str, origin: str) -> Any:
    """``yaml.safe_load`` with every failure as a :class:`ConfigError` naming ``origin``.

    PyYAML lets some errors of its constructors through as plain Python errors (an impossible date
    such as ``2024-13-45``, an integer over 4300 digits, ``!!timestamp foo``), and its composer
    recurses once per nesting level; all of them mean the file is not valid YAML for us.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{origin}: invalid YAML: {err}") from err
    except RecursionError as err:
        raise ConfigError(f"{origin}: invalid YAML: nested too deeply") from err
    except (ValueError, TypeError, AttributeError, OverflowError) as err:
        raise ConfigError(f"{origin}: invalid YAML: {type(err).__name__}: {err}") from err
    try:
        expanded = _expanded_size(raw, MAX_EXPANDED_NODES)
    except (ValueError, RecursionError) as err:
        raise ConfigError(f"{origin}: invalid rule file: {err}") from err
    if expanded > MAX_EXPANDED_NODES:
        limit = f"more than {MAX_EXPANDED_NODES} values once YAML aliases are expanded"
        raise ConfigError(f"{origin}: invalid rule file: {limit}")
    return raw


def parse_rules(text: str, origin: str) -> list[Rule]:
    """Validate the rules of one YAML document; ``origin`` names it in errors."""
    raw = _load_yaml(text, origin)
    if raw is None:
        return []
    if isinstance(raw, list):
        raw = {"rules": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: a rule file is a mapping with a 'rules' list, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"rules"}, key=repr)  # keys may be of any YAML type
    if unknown:
        raise ConfigError(f"{origin}: unknown top-level field(s) {unknown}; a rule file has a 'rules' list")
    items = raw.get("rules") or []
    if not isinstance(items, list):
        raise ConfigError(f"{origin}: field rules: must be a list of rules")
    rules: list[Rule] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"{origin}: rule #{index + 1}: must be a mapping, got {type(item).__name__}")
        name = item.get("id")
        label = f"rule {name!r}" if name else f"rule #{index + 1}"
        if "source" in item:
            raise ConfigError(f"{origin}: {label}: field source: not allowed (set by the loader)")
        try:
            rules.append(Rule.model_validate({**item, "source": origin}))
        except ValidationError as err:
            raise ConfigError(f"{origin}: {label}: {_describe(err)}") from err
    return rules


@dataclass(frozen=True)
class RuleSet:
    """A validated set of rules and the reference data their severity reads.

    ``rules`` holds every rule, enabled or not; :attr:`enabled` the ones evaluated.
    """

    rules: tuple[Rule, ...]
    exposure: Exposure = field(default_factory=load_exposure, repr=False, compare=False)
    digest: str = ""

    @classmethod
    def load(cls, paths: Sequence[Path], data_dir: Path = DATA_DIR) -> RuleSet:
        """Load and validate every rule file under ``paths`` (files or directories of ``*.yaml``).

        Raises :class:`ConfigError` naming the file, the rule id and the field at the first problem,
        or when two rules share an id.
        """
        files = rule_files(paths)
        rules: list[Rule] = []
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as err:
                raise ConfigError(f"{path}: cannot read rule file: {err.strerror or err}") from err
            except UnicodeDecodeError as err:
                raise ConfigError(f"{path}: not UTF-8 (invalid byte at offset {err.start})") from err
            rules.extend(parse_rules(text, str(path)))
        return cls.from_rules(rules, exposure=load_exposure(data_dir), digest=ruleset_digest(paths))

    @classmethod
    def from_rules(
        cls, rules: Sequence[Rule | dict[str, Any]], exposure: Exposure | None = None, digest: str = ""
    ) -> RuleSet:
        """Build a set from rule models or plain dicts (tests); ids must be unique."""
        built: list[Rule] = []
        seen: dict[str, Rule] = {}
        for item in rules:
            if isinstance(item, dict):
                origin = str(item.get("source") or "<rules>")
                label = f"rule {item.get('id')!r}"
                try:
                    rule = Rule.model_validate({**item, "source": origin})
                except ValidationError as err:
                    raise ConfigError(f"{origin}: {label}: {_describe(err)}") from err
            else:
                rule = item
            if rule.id in seen:
                first = seen[rule.id].source or "<rules>"
                raise ConfigError(
                    f"{rule.source or '<rules>'}: rule {rule.id!r}: field id: duplicate, "
                    f"already defined in {first}"
                )
            seen[rule.id] = rule
            built.append(rule)
        return cls(rules=tuple(built), exposure=exposure or load_exposure(), digest=digest)

    # Derived values are computed once per set (a set never changes; it is replaced on reload).

    @cached_property
    def enabled(self) -> tuple[Rule, ...]:
        """The rules that are evaluated."""
        return tuple(rule for rule in self.rules if rule.enabled)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError when none)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def with_enabled(self, rule_ids: Sequence[str]) -> RuleSet:
        """A copy with the given rules enabled as well (rule tests of disabled rules)."""
        wanted = set(rule_ids)
        missing = wanted - {rule.id for rule in self.rules}
        if missing:
            raise ConfigError(f"enable: unknown rule id(s) {sorted(missing)}")
        rules = tuple(
            rule.model_copy(update={"enabled": True}) if rule.id in wanted else rule for rule in self.rules
        )
        return RuleSet(rules=rules, exposure=self.exposure, digest=self.digest)

    def matching(self, event: TaggedEvent) -> list[Rule]:
        """The enabled rules whose conditions the event meets."""
        return [rule for rule in self.enabled if matches(rule.when, event, self.exposure)]

    def routing_keys(self, event: TaggedEvent) -> list[str]:
        """The distinct partition keys this event must be evaluated under (one per matching rule's key)."""
        keys: list[str] = []
        by_labels: dict[tuple[str, ...], str] = {}
        for rule, labels in self.routes:
            if not matches(rule.when, event, self.exposure):
                continue
            key = by_labels.get(labels)
            if key is None:
                key = by_labels[labels] = routing_key_for(labels, event)
            if key not in keys:
                keys.append(key)
        return keys

    @cached_property
    def routes(self) -> tuple[tuple[Rule, tuple[str, ...]], ...]:
        """The enabled rules, each with the labels of its routing key (``Rule.routing_labels``)."""
        return tuple((rule, rule.routing_labels) for rule in self.enabled)

    @cached_property
    def horizons(self) -> Mapping[str, timedelta]:
        """How long each rule needs its state (read-only)."""
        return MappingProxyType({rule.id: rule.horizon for rule in self.rules})

    @cached_property
    def horizon(self) -> timedelta:
        """The longest state horizon of any rule (30 days when there are no rules)."""
        return max((rule.horizon for rule in self.rules), default=timedelta(days=30))
