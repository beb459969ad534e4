"""Test support: every query of the dashboards and alert rules, with Grafana's variables substituted.

Shared by ``tests/unit/observability/test_dashboards.py`` (static checks) and
``tests/integration/observability/test_live_prometheus.py`` (the queries run on a real Prometheus and
PostgreSQL). pytest runs with ``--import-mode=importlib``, so test modules load this file by path
(``importlib.util.spec_from_file_location``); it is not a test module (no ``test_`` prefix).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = ROOT / "dashboards"
ALERTS = DASHBOARDS / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.yml"))
RULE_TESTS = sorted((ALERTS / "tests").glob("*.test.yml"))
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yml"

PROMETHEUS_TYPE = "prometheus"
POSTGRES_TYPE = "grafana-postgresql-datasource"

#: Series Prometheus itself adds for every target (not exported by the service).
PROMETHEUS_SYNTHETIC = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)

#: Grafana's built-in variables, as a test substitutes them in PromQL.
PROMQL_BUILTINS: dict[str, str] = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__interval_ms": "60000",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NUMBER = re.compile(r"(?<![\w:])(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|[smhdwy])?)+(?![\w:])", re.IGNORECASE)
_IDENT = re.compile(r"(?<![\w:.])[a-zA-Z_:][\w:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
)
_LITERALS = frozenset({"inf", "nan"})
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)\]\]")
_MACRO = re.compile(r"\$__(\w+)\(([^()]*)\)")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*$")

#: The time range a test gives the SQL macros: wide enough for any alert a test stores.
SQL_TIME_FROM = "'2000-01-01T00:00:00Z'"
SQL_TIME_TO = "'2100-01-01T00:00:00Z'"


@dataclass(frozen=True)
class Query:
    """One query: where it is (for messages), its language (``promql`` or ``sql``) and its text."""

    where: str
    language: str
    text: str


# -- files ------------------------------------------------------------------------------------------


def dashboard_files() -> list[Path]:
    """Every dashboard of ``dashboards/``."""
    return sorted(DASHBOARDS.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    """A dashboard's JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a JSON object"
    return data


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's template variables."""
    return list(dashboard.get("templating", {}).get("list", []))


def variable_query(variable: Mapping[str, Any]) -> str:
    """The query text of a query variable (Grafana stores a string or an object with ``query``)."""
    query = variable.get("query", "")
    if isinstance(query, dict):
        query = query.get("query", "")
    return str(query)


def datasource_type(ref: Any) -> str:
    """The type of a datasource reference ``{"type": ..., "uid": ...}``."""
    return str(ref.get("type", "")) if isinstance(ref, dict) else ""


def dashboard_queries(path: Path) -> list[Query]:
    """Every panel target and query variable of a dashboard, as PromQL or SQL."""
    dashboard = load_dashboard(path)
    queries: list[Query] = []
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            kind = datasource_type(target.get("datasource") or panel.get("datasource"))
            where = f"{path.name}: panel {panel.get('title')!r} target {target.get('refId')}"
            if kind == PROMETHEUS_TYPE:
                queries.append(Query(where, "promql", str(target.get("expr", ""))))
            elif kind == POSTGRES_TYPE:
                queries.append(Query(where, "sql", str(target.get("rawSql", ""))))
            else:
                raise AssertionError(f"{where}: unknown datasource {target.get('datasource')!r}")
    for variable in variables(dashboard):
        if variable.get("type") != "query":
            continue
        where = f"{path.name}: variable ${variable.get('name')}"
        text = variable_query(variable)
        kind = datasource_type(variable.get("datasource"))
        if kind == PROMETHEUS_TYPE:
            queries.append(Query(where, "promql", label_values_promql(text)))
        elif kind == POSTGRES_TYPE:
            queries.append(Query(where, "sql", text))
        else:
            raise AssertionError(f"{where}: unknown datasource {variable.get('datasource')!r}")
    return queries


def all_dashboard_queries() -> list[Query]:
    """The queries of every dashboard."""
    return [query for path in dashboard_files() for query in dashboard_queries(path)]


def load_rules(path: Path) -> list[dict[str, Any]]:
    """The rules of a Prometheus rule file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def rule_queries() -> list[Query]:
    """The expression of every alerting and recording rule."""
    return [
        Query(f"{path.name}: {rule.get('alert') or rule.get('record')}", "promql", str(rule["expr"]))
        for path in RULE_FILES
        for rule in load_rules(path)
    ]


# -- Grafana variables and macros -------------------------------------------------------------------


def label_values_promql(text: str) -> str:
    """``label_values(metric, label)`` as a PromQL query returning the same label values."""
    match = _LABEL_VALUES.match(text)
    if match is None:
        return text  # query_result(...) or a plain expression
    selector, label = match.group(1), match.group(2)
    return f"count by ({label}) ({selector})" if selector else f'count by ({label}) ({{{label}=~".+"}})'


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace ``$var``, ``${var}``, ``${var:format}`` and ``[[var]]``; unknown variables raise KeyError."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        if name not in values:
            raise KeyError(f"unknown variable ${name} in {text!r}")
        return values[name]

    return _VARIABLE.sub(replace, text)


def referenced_variables(text: str) -> set[str]:
    """Names of the variables a query uses (macros excluded)."""
    text = _MACRO.sub(lambda m: m.group(2), text)
    return {m.group(1) or m.group(3) or m.group(4) for m in _VARIABLE.finditer(text)}


def expand_sql_macros(text: str, interval_s: int = 60) -> str:
    """Expand Grafana's PostgreSQL macros the way the datasource does, over a fixed wide time range."""

    def replace(match: re.Match[str]) -> str:
        name, raw = match.group(1), match.group(2)
        args = [a.strip() for a in raw.split(",")] if raw.strip() else []
        if name == "timeFilter":
            return f"{args[0]} BETWEEN {SQL_TIME_FROM} AND {SQL_TIME_TO}"
        if name in ("timeGroup", "timeGroupAlias"):
            expr = f"floor(extract(epoch from {args[0]})/{interval_s})*{interval_s}"
            return f'{expr} AS "time"' if name == "timeGroupAlias" else expr
        if name == "timeFrom":
            return SQL_TIME_FROM
        if name == "timeTo":
            return SQL_TIME_TO
        if name == "unixEpochFilter":
            return f"{args[0]} BETWEEN 946684800 AND 4102444800"
        raise KeyError(f"unsupported Grafana macro $__{name} in a test")

    return _MACRO.sub(replace, text)


# -- metric names -----------------------------------------------------------------------------------


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and label names left out)."""
    text = _STRING.sub(" ", expr)
    text = _VARIABLE.sub(" 1m ", text)  # Grafana variables left in: `offset $__range`, `[$__interval]`
    text = _BRACES.sub(" ", text)
    while _BRACKETS.search(text):
        text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        name = match.group(0)
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or name in _KEYWORDS or name.lower() in _LITERALS:
            continue
        names.add(name)
    return names


def exposed_names(exposition: str) -> set[str]:
    """The sample names a Prometheus text exposition can carry, from its ``# TYPE`` lines and samples.

    A family with no sample yet (a labelled metric never set) is counted by its type: counters give
    ``<name>_total`` and ``_created``, histograms ``_bucket``, ``_count``, ``_sum`` and ``_created``,
    summaries the name, ``_count``, ``_sum`` and ``_created``.
    """
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            if kind == "counter":
                base = name.removesuffix("_total")
                names |= {f"{base}_total", f"{base}_created"}
            elif kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum", f"{name}_created"}
            elif kind == "summary":
                names |= {name, f"{name}_count", f"{name}_sum", f"{name}_created"}
            else:
                names.add(name)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names
