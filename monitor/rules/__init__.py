"""The rules core, PURE: which tagged events become alerts, how severe, and when to stay quiet.

It imports no broker, HTTP, database or metrics library; state goes in and comes back out so that a
Faust table can hold it. The public surface::

    ruleset = RuleSet.load([Path("rules")])            # all or nothing: ConfigError names file, rule, field
    for key in ruleset.routing_keys(event):            # partition keys, e.g. "imposing_country=CN|..."
        state, alerts = evaluate(ruleset, RuleState.from_dict(table[key]), event, key, now)
        table[key] = state.to_dict()

    cache = StateCache()                                # or: keep decoded states between events
    state, alerts = evaluate(ruleset, cache.get(key, table.get(key)), event, key, now)
    table[key] = cache.put(key, state)

Modules: ``schema`` (rule file models), ``ruleset`` (loading, routing, digest), ``conditions``
(matching and labels), ``severity`` and ``exposure`` (exposure-aware severity from ``monitor/data``),
``fingerprint``, ``state`` (and ``cache``), ``evaluate``, ``testing`` (rule tests and checks), ``backtest``.

For the CLI: ``check(paths) -> list[str]``, ``run_tests(paths, extractor) -> RuleTestReport`` (its
``format()`` and ``ok``), ``backtest(ruleset, read_events(path)) -> BacktestReport`` (its ``format()``).
"""

from __future__ import annotations

from monitor.rules.backtest import BacktestReport, backtest, format_backtest, read_events
from monitor.rules.cache import StateCache
from monitor.rules.evaluate import evaluate, evaluate_all
from monitor.rules.exposure import Exposure, load_exposure
from monitor.rules.fingerprint import alert_id, fingerprint
from monitor.rules.ruleset import RuleSet, parse_rules, rule_files, ruleset_digest
from monitor.rules.schema import Conditions, Rule, SeverityPolicy
from monitor.rules.severity import severity_for
from monitor.rules.state import RuleState
from monitor.rules.testing import RuleTestReport, check, run_tests

__all__ = [
    "BacktestReport",
    "Conditions",
    "Exposure",
    "Rule",
    "RuleSet",
    "RuleState",
    "RuleTestReport",
    "SeverityPolicy",
    "StateCache",
    "alert_id",
    "backtest",
    "check",
    "evaluate",
    "evaluate_all",
    "fingerprint",
    "format_backtest",
    "load_exposure",
    "parse_rules",
    "read_events",
    "rule_files",
    "ruleset_digest",
    "run_tests",
    "severity_for",
]
