"""The dashboards and alert rules hang together (no Prometheus needed; the live run is in integration).

Every dashboard is valid Grafana JSON with a uid, refers to the provisioned datasources by uid, defines
the variables its queries use, and selects only metrics the service exports; every alerting rule is
complete and covered by a promtool unit test; the PromQL metric-name parser the checks rely on is right.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from monitor.observability.metrics import Metrics


def _support() -> ModuleType:
    name = "monitor_tests_dashboard_queries"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("dashboard_queries.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


dq = _support()

DASHBOARD_FILES = dq.dashboard_files()
SUPPLY = dq.DASHBOARDS / "supply-risk.json"
HEALTH = dq.DASHBOARDS / "pipeline-health.json"


def _datasources() -> dict[str, str]:
    config = yaml.safe_load(dq.DATASOURCES.read_text(encoding="utf-8"))
    return {source["uid"]: source["type"] for source in config["datasources"]}


def _exported() -> set[str]:
    names: set[str] = dq.exposed_names(generate_latest(Metrics(CollectorRegistry()).registry).decode())
    return names


@pytest.fixture(params=DASHBOARD_FILES, ids=lambda p: p.name)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    data: dict[str, Any] = dq.load_dashboard(request.param)
    return data


def test_both_dashboards_exist() -> None:
    assert {SUPPLY, HEALTH} <= set(DASHBOARD_FILES)


def test_dashboard_uids_are_set_and_unique() -> None:
    uids = [dq.load_dashboard(path)["uid"] for path in DASHBOARD_FILES]
    assert all(uids) and len(uids) == len(set(uids))
    assert all(len(uid) <= 40 for uid in uids)


def test_dashboard_shape(dashboard: dict[str, Any]) -> None:
    assert dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert "id" not in dashboard or dashboard["id"] is None, "provisioned dashboards carry no database id"
    panels = list(dq.iter_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["w"] > 0 and grid["h"] > 0, panel["title"]
        if panel["type"] != "row":
            assert panel.get("title") and panel.get("description"), f"panel {panel['id']} needs both"
            assert panel["targets"], f"panel {panel['title']!r} has no query"


def test_datasources_are_referred_to_by_provisioned_uid(dashboard: dict[str, Any]) -> None:
    provisioned = _datasources()
    refs = []
    for panel in dq.iter_panels(dashboard):
        if panel["type"] == "row":
            continue
        refs.append((panel["title"], panel["datasource"]))
        refs.extend((panel["title"], target["datasource"]) for target in panel["targets"])
    refs.extend((f"${v['name']}", v["datasource"]) for v in dq.variables(dashboard) if v["type"] == "query")
    for where, ref in refs:
        assert isinstance(ref, dict), f"{where}: datasource must be a {{type, uid}} reference"
        assert provisioned.get(ref["uid"]) == ref["type"], f"{where}: {ref} is not a provisioned datasource"


def test_targets_carry_their_query(dashboard: dict[str, Any]) -> None:
    for panel in dq.iter_panels(dashboard):
        for target in panel.get("targets", []):
            if target["datasource"]["type"] == dq.PROMETHEUS_TYPE:
                assert target["expr"].strip(), panel["title"]
            else:
                assert target["rawSql"].strip() and target["rawQuery"] is True, panel["title"]
                assert target["format"] in ("table", "time_series"), panel["title"]


def test_every_variable_used_is_defined_and_every_defined_one_is_used(dashboard: dict[str, Any]) -> None:
    defined = {variable["name"] for variable in dq.variables(dashboard)}
    builtins = set(dq.PROMQL_BUILTINS)
    used: set[str] = set()
    for panel in dq.iter_panels(dashboard):
        for target in panel.get("targets", []):
            used |= dq.referenced_variables(target.get("expr") or target.get("rawSql") or "")
    assert used - defined - builtins == set()
    assert defined - used == set(), "a variable no query uses filters nothing"


def test_supply_risk_has_mineral_and_country_variables() -> None:
    variables = {v["name"]: v for v in dq.variables(dq.load_dashboard(SUPPLY))}
    mineral, country = variables["mineral"], variables["country"]
    assert dq.variable_query(mineral) == "label_values(monitor_rules_alerts_total, mineral)"
    assert mineral["datasource"]["type"] == dq.PROMETHEUS_TYPE
    # No metric carries a country label (bounded cardinality): countries come from the alert store.
    assert country["datasource"]["type"] == dq.POSTGRES_TYPE
    for variable in (mineral, country):
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*"


def test_supply_risk_shows_the_score_and_the_critical_alerts_with_evidence_links() -> None:
    panels = {p["title"]: p for p in dq.iter_panels(dq.load_dashboard(SUPPLY))}
    score = panels["Supply-risk score per mineral"]
    assert "monitor_rules_supply_risk_score" in score["targets"][0]["expr"]
    table = panels["Latest critical alerts"]
    assert table["type"] == "table" and table["datasource"]["uid"] == "monitor-postgres"
    assert "severity = 'critical'" in table["targets"][0]["rawSql"]
    links = [
        prop["value"]
        for override in table["fieldConfig"]["overrides"]
        if override["matcher"]["options"] == "evidence"
        for prop in override["properties"]
        if prop["id"] == "links"
    ]
    assert links and links[0][0]["url"] == "${__value.raw}"


def test_pipeline_health_covers_the_issue() -> None:
    exprs = " ".join(q.text for q in dq.dashboard_queries(HEALTH))
    for needle in (
        "monitor_stream_messages_total",
        "histogram_quantile(0.95, sum by (le) (rate(monitor_extract_duration_seconds_bucket",
        "monitor_pipeline_end_to_end_latency_seconds_bucket",
        "monitor_ingest_source_up",
        "monitor_ingest_source_consecutive_failures",
        "monitor_ingest_poll_failures_total",
        "monitor_delivery_attempts_total",
        "monitor_delivery_retry_queue_depth",
        "monitor_stream_dead_letters_total",
        "monitor_stream_consumer_lag_messages",
    ):
        assert needle in exprs, needle


def test_queries_select_only_metrics_the_service_exports() -> None:
    exported = _exported() | dq.PROMETHEUS_SYNTHETIC
    queries = [q for q in dq.all_dashboard_queries() + dq.rule_queries() if q.language == "promql"]
    assert len(queries) > 30
    for query in queries:
        unknown = dq.metric_names(query.text) - exported
        assert not unknown, f"{query.where}: {sorted(unknown)} not exported by the service"


def test_the_dashboards_use_every_metric_of_the_catalogue() -> None:
    used = set().union(
        *(dq.metric_names(q.text) for q in dq.all_dashboard_queries() if q.language == "promql")
    )
    metrics = Metrics(CollectorRegistry())
    families = {family.name for family in metrics.registry.collect()}
    unused = {name for name in families if not any(u == name or u.startswith(f"{name}_") for u in used)}
    assert unused == set()


def test_the_metrics_catalogue_documents_every_metric() -> None:
    catalogue = (dq.ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    for family in Metrics(CollectorRegistry()).registry.collect():
        name = {"counter": f"{family.name}_total", "info": f"{family.name}_info"}.get(
            family.type, family.name
        )
        assert f"`{name}`" in catalogue, name


# -- alert rules ------------------------------------------------------------------------------------


def test_rule_files_exist_and_every_alert_is_complete() -> None:
    assert dq.RULE_FILES and dq.RULE_TESTS
    alerts = [rule for path in dq.RULE_FILES for rule in dq.load_rules(path)]
    names = {rule["alert"] for rule in alerts}
    assert {
        "MonitorPipelineStalled",
        "MonitorStageStalled",
        "MonitorConsumerLagGrowing",
        "MonitorSourceFailing",
        "MonitorDeliveriesFailing",
        "MonitorDeadLettersGrowing",
        "CriticalSupplyAlert",
    } <= names
    for rule in alerts:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_every_alert_has_a_promtool_test_where_it_fires() -> None:
    alerts = {rule["alert"] for path in dq.RULE_FILES for rule in dq.load_rules(path)}
    firing: set[str] = set()
    for path in dq.RULE_TESTS:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    firing.add(check["alertname"])
    assert alerts - firing == set()


# -- the helpers the checks rely on ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        (
            'sum by (stage) (rate(monitor_stream_messages_total{stage="x",outcome=~"a|b"}[5m]))',
            {"monitor_stream_messages_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le) (rate(h_seconds_bucket[$__rate_interval])))",
            {"h_seconds_bucket"},
        ),
        ("time() - max by (source) (a_b_seconds) > 1800", {"a_b_seconds"}),
        ("x unless on (job, instance) y offset 10m and z > bool 1e3", {"x", "y", "z"}),
        ('label_replace(lag, "stage", "ingest", "topic", ".*raw")', {"lag"}),
        ("sum(rate(a[5m:1m])) / ignoring(le) group_left(foo) sum(b) or vector(0)", {"a", "b"}),
        ("count by (version) (monitor_build_info) > Inf", {"monitor_build_info"}),
        ("x offset $__range unless y offset ${w} or z[[[w]]]", {"x", "y", "z"}),
    ],
)
def test_metric_names_are_parsed_out_of_promql(expr: str, names: set[str]) -> None:
    assert dq.metric_names(expr) == names


def test_exposed_names_account_for_suffixes() -> None:
    exposition = (
        '# TYPE a_total counter\n# TYPE h histogram\nh_bucket{le="1"} 0\n# TYPE g gauge\n'
        '# TYPE i_info gauge\ni_info{version="1"} 1\n'
    )
    assert dq.exposed_names(exposition) == {
        "a_total",
        "a_created",
        "h_bucket",
        "h_count",
        "h_sum",
        "h_created",
        "g",
        "i_info",
    }


def test_variables_and_macros_are_substituted() -> None:
    values = {"mineral": ".*", **dq.PROMQL_BUILTINS}
    assert dq.substitute('x{m=~"$mineral"}[$__rate_interval] ${mineral:regex} [[mineral]]', values) == (
        'x{m=~".*"}[1m] .* .*'
    )
    with pytest.raises(KeyError):
        dq.substitute("$nope", values)
    sql = dq.expand_sql_macros("SELECT $__timeGroupAlias(a.raised_at, $__interval) WHERE $__timeFilter(a.x)")
    assert sql == (
        'SELECT floor(extract(epoch from a.raised_at)/60)*60 AS "time" '
        f"WHERE a.x BETWEEN {dq.SQL_TIME_FROM} AND {dq.SQL_TIME_TO}"
    )
    assert dq.label_values_promql("label_values(m_total, mineral)") == "count by (mineral) (m_total)"
