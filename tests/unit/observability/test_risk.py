"""The supply-risk score (pure) and the tracker that keeps the gauges (docs/metrics.md, formula)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from monitor.observability.metrics import Metrics
from monitor.observability.risk import (
    MAX_SCORE,
    RiskTracker,
    explain_supply_risk,
    latest_revisions,
    open_alert_counts,
    supply_risk,
)
from monitor.records import SEVERITIES, Alert
from monitor.rules.exposure import load_exposure
from monitor.rules.schema import SeverityPolicy
from monitor.rules.severity import score_mineral

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def alert(alert_id: str, **fields: Any) -> Alert:
    """An alert with sensible defaults: a CN export licence on gallium, firing, revision 1."""
    values: dict[str, Any] = {
        "id": alert_id,
        "fingerprint": f"fp-{alert_id}",
        "rule": "export-controls",
        "severity": "critical",
        "title": f"alert {alert_id}",
        "measure": "export_licence",
        "direction": "tighten",
        "minerals": ["gallium"],
        "imposing_country": "CN",
        "raised_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Alert(**values)


def points(mineral: str, measure: str, country: str | None) -> float:
    """The exposure points the severity policy gives (the formula's p(a, m))."""
    return float(
        score_mineral(mineral, measure, country, policy=SeverityPolicy(), exposure=load_exposure()).points
    )


def gauge(metrics: Metrics, name: str, **labels: str) -> float | None:
    value = metrics.registry.get_sample_value(name, labels)
    return value


# -- the pure formula -------------------------------------------------------------------------------


def test_no_alerts_no_scores() -> None:
    assert supply_risk([]) == {}


def test_the_score_is_the_exposure_points_of_the_mineral() -> None:
    scores = supply_risk([alert("a", minerals=["gallium", "germanium"])])
    assert scores == {
        "gallium": points("gallium", "export_licence", "CN"),
        "germanium": points("germanium", "export_licence", "CN"),
    }
    assert scores["gallium"] == 5.0  # strictness 1 + CN concentration 3 + US reliance 1


def test_the_score_is_the_worst_active_measure_not_a_sum() -> None:
    licence = alert("a", measure="export_licence")
    ban = alert("b", measure="export_ban")
    duplicate = alert("c", measure="export_licence", rule="other-rule")
    assert supply_risk([licence, ban, duplicate]) == {"gallium": points("gallium", "export_ban", "CN")}
    explained = explain_supply_risk([licence, ban, duplicate])["gallium"]
    assert (explained.alert_id, explained.active) == ("b", 3)


def test_scores_stay_within_the_documented_range() -> None:
    many = [alert(f"a{i}", measure="export_ban", minerals=["gallium", "cobalt"]) for i in range(20)]
    assert all(0.0 <= score <= MAX_SCORE for score in supply_risk(many).values())


def test_each_mineral_is_scored_with_its_own_exposure_not_the_alert_severity() -> None:
    # One critical alert naming gallium and zinc: zinc does not inherit gallium's criticality.
    scores = supply_risk([alert("a", minerals=["gallium", "zinc"], severity="critical")])
    assert scores["zinc"] == points("zinc", "export_licence", "CN")
    assert scores["zinc"] < scores["gallium"]


def test_import_measures_score_the_target_country() -> None:
    tariff = alert("a", measure="import_tariff", imposing_country="US", target_country="CN")
    assert supply_risk([tariff]) == {"gallium": points("gallium", "import_tariff", "CN")}


def test_aliases_are_scored_under_the_canonical_name() -> None:
    assert set(supply_risk([alert("a", minerals=["aluminium"])])) == {"aluminum"}


def test_resolved_alerts_do_not_count() -> None:
    assert supply_risk([alert("a", status="resolved")]) == {}


def test_acknowledged_alerts_still_count() -> None:
    assert supply_risk([alert("a", status="acknowledged")]) == {"gallium": 5.0}


def test_only_the_latest_revision_of_an_alert_counts() -> None:
    first = alert("a", revision=1)
    resolved = alert("a", revision=2, status="resolved")
    assert supply_risk([first, resolved]) == {}
    assert supply_risk([resolved, first]) == {}  # order of arrival does not matter
    assert latest_revisions([resolved, first]) == {"a": resolved}


def test_an_alert_without_direction_counts_as_a_tightening() -> None:
    assert supply_risk([alert("a", direction=None)]) == {"gallium": 5.0}


def test_a_loosening_alone_scores_nothing() -> None:
    assert supply_risk([alert("l", direction="loosen", severity="low")]) == {}


def test_a_later_loosening_by_the_same_country_lifts_the_tightening_for_its_minerals() -> None:
    tightening = alert("a", minerals=["gallium", "germanium"])
    loosening = alert(
        "l", direction="loosen", severity="low", minerals=["gallium"], updated_at=T0 + timedelta(days=30)
    )
    assert supply_risk([tightening, loosening]) == {"germanium": 5.0}


def test_a_loosening_by_another_country_lifts_nothing() -> None:
    loosening = alert("l", direction="loosen", imposing_country="US", updated_at=T0 + timedelta(days=1))
    assert supply_risk([alert("a"), loosening]) == {"gallium": 5.0}


def test_a_tightening_after_the_loosening_counts_again() -> None:
    loosening = alert("l", direction="loosen", updated_at=T0 + timedelta(days=1))
    again = alert("b", measure="export_ban", updated_at=T0 + timedelta(days=2))
    assert supply_risk([alert("a"), loosening, again]) == {"gallium": points("gallium", "export_ban", "CN")}


def test_a_resolved_loosening_lifts_nothing() -> None:
    loosening = alert("l", direction="loosen", status="resolved", updated_at=T0 + timedelta(days=1))
    assert supply_risk([alert("a"), loosening]) == {"gallium": 5.0}


def test_a_loosening_without_an_imposing_country_lifts_nothing() -> None:
    tightening = alert("a", imposing_country=None, measure="export_ban")
    loosening = alert("l", direction="loosen", imposing_country=None, updated_at=T0 + timedelta(days=1))
    assert set(supply_risk([tightening, loosening])) == {"gallium"}


def test_open_alert_counts_cover_every_severity() -> None:
    counts = open_alert_counts(
        [
            alert("a", severity="critical"),
            alert("b", severity="high"),
            alert("c", severity="high", status="resolved"),
            alert("b", severity="medium", revision=2),
        ]
    )
    assert counts == {"low": 0, "medium": 1, "high": 0, "critical": 1}
    assert list(counts) == list(SEVERITIES)


# -- the tracker and its gauges ---------------------------------------------------------------------


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def test_the_tracker_sets_the_risk_and_open_alert_gauges(metrics: Metrics) -> None:
    tracker = RiskTracker(metrics)
    tracker.observe(alert("a", minerals=["gallium", "germanium"]))
    assert gauge(metrics, "monitor_rules_supply_risk_score", mineral="gallium") == 5.0
    assert gauge(metrics, "monitor_rules_supply_risk_score", mineral="germanium") == 5.0
    assert gauge(metrics, "monitor_rules_open_alerts", severity="critical") == 1.0
    assert gauge(metrics, "monitor_rules_open_alerts", severity="low") == 0.0


def test_a_resolved_mineral_goes_back_to_zero_and_keeps_its_series(metrics: Metrics) -> None:
    tracker = RiskTracker(metrics)
    tracker.observe(alert("a"))
    tracker.observe(alert("a", revision=2, status="resolved"))
    assert gauge(metrics, "monitor_rules_supply_risk_score", mineral="gallium") == 0.0
    assert gauge(metrics, "monitor_rules_open_alerts", severity="critical") == 0.0


def test_an_older_revision_arriving_late_is_ignored(metrics: Metrics) -> None:
    tracker = RiskTracker(metrics)
    tracker.observe(alert("a", revision=2, status="resolved"))
    tracker.observe(alert("a", revision=1))
    assert tracker.scores() == {}
    assert gauge(metrics, "monitor_rules_open_alerts", severity="critical") == 0.0


def test_a_loosening_seen_by_the_tracker_lifts_the_score(metrics: Metrics) -> None:
    tracker = RiskTracker(metrics)
    tracker.observe(alert("a"))
    tracker.observe(alert("l", direction="loosen", severity="low", updated_at=T0 + timedelta(days=3)))
    assert gauge(metrics, "monitor_rules_supply_risk_score", mineral="gallium") == 0.0
    # The loosening is itself an open alert until someone resolves it.
    assert gauge(metrics, "monitor_rules_open_alerts", severity="low") == 1.0


def test_the_tracker_can_leave_the_open_alerts_gauge_to_the_store(metrics: Metrics) -> None:
    metrics.open_alerts.labels(severity="critical").set(7)  # what the dispatcher read from the store
    tracker = RiskTracker(metrics, count_open_alerts=False)
    tracker.observe(alert("a"))
    assert gauge(metrics, "monitor_rules_open_alerts", severity="critical") == 7.0
    assert gauge(metrics, "monitor_rules_supply_risk_score", mineral="gallium") == 5.0


def test_reset_replaces_the_state(metrics: Metrics) -> None:
    tracker = RiskTracker(metrics)
    tracker.observe(alert("a"))
    tracker.reset([alert("b", minerals=["cobalt"], measure="export_ban", imposing_country="CD")])
    assert tracker.scores() == {"cobalt": points("cobalt", "export_ban", "CD")}
    assert gauge(metrics, "monitor_rules_supply_risk_score", mineral="gallium") == 0.0


def test_forget_drops_an_alert(metrics: Metrics) -> None:
    tracker = RiskTracker(metrics)
    tracker.observe(alert("a"))
    tracker.forget("a")
    tracker.forget("unknown")
    assert len(tracker) == 0
    assert gauge(metrics, "monitor_rules_supply_risk_score", mineral="gallium") == 0.0


def test_memory_is_bounded_and_resolved_alerts_go_first(metrics: Metrics) -> None:
    tracker = RiskTracker(metrics, max_alerts=2)
    tracker.observe(alert("old", updated_at=T0))
    tracker.observe(alert("done", status="resolved", updated_at=T0 + timedelta(days=5)))
    tracker.observe(
        alert("new", minerals=["cobalt"], imposing_country="CD", updated_at=T0 + timedelta(days=1))
    )
    assert len(tracker) == 2
    assert set(tracker.scores()) == {"gallium", "cobalt"}


async def test_the_tracker_is_an_alert_sink(metrics: Metrics) -> None:
    tracker = RiskTracker(metrics)
    await tracker(alert("a"))
    assert tracker.scores() == {"gallium": 5.0}
