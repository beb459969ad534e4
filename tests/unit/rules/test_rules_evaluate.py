"""evaluate(): routing, merging evidence, suppression, rule types, purity and bounded state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.records import TaggedEvent
from monitor.rules import RuleSet, RuleState, evaluate, fingerprint
from monitor.rules.evaluate import evaluate_all
from monitor.rules.testing import tagged_event

T0 = datetime(2025, 10, 9, 8, 0, tzinfo=UTC)


def make_event(
    document_id: str = "doc-1",
    minerals: list[str] | None = None,
    measure: str = "export_licence",
    direction: str | None = "tighten",
    imposing: str | None = "CN",
    target: str | None = None,
    hours: float = 0.0,
    source: str = "reuters",
    **extra: Any,
) -> TaggedEvent:
    """A tagged event published ``hours`` after T0."""
    at = extra.pop("published", T0 + timedelta(hours=hours))
    return tagged_event(
        document_id,
        at=at,
        minerals=["gallium"] if minerals is None else minerals,
        measure=measure,
        direction=direction,
        imposing_country=imposing,
        target_country=target,
        source=source,
        url=extra.pop("url", f"https://news.example/{document_id}"),
        **extra,
    )


def run(ruleset, events, states=None):
    """Evaluate events in order at their own time; return the final version of each alert."""
    states = {} if states is None else states
    emitted = evaluate_all(ruleset, states, [(e, e.published) for e in events])
    latest = {}
    for _, alert in emitted:
        latest[alert.id] = alert
    return list(latest.values()), emitted


def test_default_pack_has_one_routing_key_per_event(default_pack):
    keys = default_pack.routing_keys(make_event())
    assert keys == ["imposing_country=CN|measure=export_licence|direction=tighten"]


def test_optional_rules_add_at_most_one_key(default_pack):
    everything = default_pack.with_enabled([rule.id for rule in default_pack.rules])
    assert everything.routing_keys(make_event()) == [
        "imposing_country=CN|measure=export_licence|direction=tighten",
        "imposing_country=CN",
    ]


def test_no_routing_key_for_events_no_rule_wants(default_pack):
    assert default_pack.routing_keys(make_event(minerals=[])) == []
    assert default_pack.routing_keys(make_event(measure="partnership")) == []
    assert default_pack.routing_keys(make_event(minerals=["gold"])) == []


def test_events_that_merge_share_a_routing_key(default_pack):
    a = make_event("a", minerals=["gallium"], source="mofcom")
    b = make_event("b", minerals=["gallium", "germanium"], hours=3, source="bbc", target="US")
    assert default_pack.routing_keys(a) == default_pack.routing_keys(b)


def test_missing_imposing_country_routes_to_a_dash_key(default_pack):
    assert default_pack.routing_keys(make_event(imposing=None)) == [
        "imposing_country=-|measure=export_licence|direction=tighten"
    ]


def test_evaluate_only_runs_rules_routed_to_the_key(default_pack):
    event = make_event()
    _, alerts = evaluate(default_pack, RuleState(), event, "imposing_country=US|measure=x|direction=y", T0)
    assert alerts == []


def test_new_alert_fills_every_field(default_pack):
    event = make_event("a", minerals=["gallium", "germanium"], target="US", effective_date="2025-12-01")
    [key] = default_pack.routing_keys(event)
    state, [alert] = evaluate(default_pack, RuleState(), event, key, T0 + timedelta(minutes=5))
    assert alert.rule == "supply-measure"
    assert alert.severity == "critical"
    assert alert.revision == 1 and alert.status == "firing"
    assert alert.fingerprint == fingerprint(
        "supply-measure",
        {"imposing_country": "CN", "measure": "export_licence", "direction": "tighten"},
        ["gallium", "germanium"],
    )
    assert alert.id == alert.fingerprint[:16]
    assert alert.minerals == ["gallium", "germanium"]
    assert alert.countries == ["CN", "US"]
    assert alert.imposing_country == "CN" and alert.target_country == "US"
    assert alert.effective_date == "2025-12-01"
    assert alert.document_ids == ["a"] and alert.sources == ["reuters"]
    assert alert.urls == ["https://news.example/a"]
    assert alert.first_evidence_at == T0
    assert alert.raised_at == alert.updated_at == T0 + timedelta(minutes=5)
    assert alert.labels["team"] == "supply-risk" and alert.labels["rule"] == "supply-measure"
    assert alert.labels["imposing_country"] == "CN"
    assert alert.title == "China tightens export licensing: gallium, germanium"
    assert "target: United States" in alert.summary and "1 report from 1 source" in alert.summary
    assert "CN 98.9% of world gallium refining 3" in alert.severity_reason
    assert len(state.alerts) == 1


def test_reports_of_one_measure_merge_and_re_emit(default_pack):
    events = [
        make_event("a", minerals=["gallium"], source="mofcom", hours=2),
        make_event("b", minerals=["gallium", "germanium"], source="bbc", hours=5, url=None),
        make_event("c", minerals=["germanium"], source="reuters", hours=1, published=T0 - timedelta(hours=1)),
    ]
    final, emitted = run(default_pack, events)
    assert len(final) == 1
    assert [a.revision for _, a in emitted] == [1, 2, 3]
    assert len({a.id for _, a in emitted}) == 1
    alert = final[0]
    assert alert.document_ids == ["a", "b", "c"]
    assert alert.sources == ["mofcom", "bbc", "reuters"]
    assert alert.urls == ["https://news.example/a", "https://news.example/c"]
    assert alert.minerals == ["gallium", "germanium"]
    assert alert.first_evidence_at == T0 - timedelta(hours=1)  # earliest evidence, even when it came last


def test_a_redelivered_document_changes_no_state_and_re_emits_its_alert_unchanged(default_pack):
    # Regression: a worker stopped between its state change and the alert's emission lost the alert,
    # since the re-delivered document then "changed nothing". It now re-emits the same revision.
    event = make_event("a")
    [key] = default_pack.routing_keys(event)
    state, first = evaluate(default_pack, RuleState(), event, key, T0)
    again, second = evaluate(default_pack, state, event, key, T0 + timedelta(hours=1))
    assert len(first) == 1
    assert [(a.id, a.revision, a.document_ids) for a in second] == [(first[0].id, 1, ["a"])]
    assert second[0] == first[0]
    assert again.alerts[0].alert["document_ids"] == ["a"]
    assert again.to_dict() == state.to_dict() or again.alerts[0].alert == state.alerts[0].alert


def test_loosening_and_tightening_do_not_merge(default_pack):
    final, _ = run(default_pack, [make_event("t"), make_event("l", direction="loosen", hours=1)])
    assert sorted((a.direction, a.severity) for a in final) == [("loosen", "low"), ("tighten", "critical")]


def test_disjoint_minerals_do_not_merge(default_pack):
    final, _ = run(default_pack, [make_event("a", ["gallium"]), make_event("b", ["graphite"], hours=1)])
    assert len(final) == 2


def test_severity_rises_with_stronger_evidence(default_pack):
    final, _ = run(
        default_pack,
        [
            make_event("a", ["lead", "gallium"], imposing="AU"),
            make_event("b", ["gallium"], imposing="AU", hours=1),
        ],
    )
    assert len(final) == 1 and final[0].severity == "low"
    # A third report naming a mineral where AU is a big producer raises the alert's severity.
    final, _ = run(
        default_pack,
        [
            make_event("a", ["gallium"], imposing="AU", measure="export_ban"),
            make_event("b", ["gallium", "lithium"], imposing="AU", measure="export_ban", hours=1),
        ],
    )
    assert final[0].severity == "critical"  # lithium: 2 + 2 (AU 37.3 %) + 1
    assert final[0].severity_reason.startswith("lithium:")


def test_same_fingerprint_after_suppression_gets_a_sequence(default_pack):
    first = make_event("a", ["cobalt"], imposing="CD", measure="export_ban")
    later = make_event("b", ["cobalt"], imposing="CD", measure="export_ban", hours=24 * 31)
    final, _ = run(default_pack, [first, later])
    assert final[0].fingerprint == final[1].fingerprint
    assert final[1].id == final[0].id + "-2"


def test_sequence_survives_pruning_of_the_alert(default_pack):
    states: dict[str, RuleState] = {}
    first = make_event("a", ["cobalt"], imposing="CD", measure="export_ban")
    later = make_event("b", ["cobalt"], imposing="CD", measure="export_ban", hours=24 * 100)
    run(default_pack, [first], states)
    [state] = states.values()
    assert state.alerts
    final, _ = run(default_pack, [later], states)
    [state] = states.values()
    assert [e.alert["id"] for e in state.alerts] == [final[0].id]
    assert final[0].id.endswith("-2")


def test_evaluate_does_not_modify_the_given_state(default_pack):
    event = make_event("a")
    [key] = default_pack.routing_keys(event)
    state, _ = evaluate(default_pack, RuleState(), event, key, T0)
    before = json.dumps(state.to_dict(), sort_keys=True)
    evaluate(default_pack, state, make_event("b", hours=1), key, T0 + timedelta(hours=1))
    assert json.dumps(state.to_dict(), sort_keys=True) == before


def test_state_is_bounded_by_the_horizon(default_pack):
    states: dict[str, RuleState] = {}
    events = [make_event(f"d{i}", ["gallium"], hours=24 * 40 * i) for i in range(10)]
    run(default_pack, events, states)
    [state] = states.values()
    assert len(state.alerts) <= 2
    assert len(state.sequences) <= 10


def test_future_publication_is_clamped_to_now(default_pack):
    event = make_event("a", published=T0 + timedelta(days=3))
    [key] = default_pack.routing_keys(event)
    _, [alert] = evaluate(default_pack, RuleState(), event, key, T0)
    assert alert.first_evidence_at == T0


def _ruleset(**rule):
    rule.setdefault("id", "r")
    rule.setdefault("when", {"critical": True})
    return RuleSet.from_rules([rule])


def test_threshold_counts_distinct_sources_in_a_window():
    ruleset = _ruleset(
        type="threshold",
        group_by=["imposing_country", "minerals"],
        threshold={"count": 2, "distinct": "sources", "window": "2d"},
    )
    events = [
        make_event("a", source="s1"),
        make_event("b", source="s1", hours=1),  # same source: still one
        make_event("c", source="s2", hours=72),  # window passed: a and b dropped
        make_event("d", source="s3", hours=80),  # s2 + s3 within 2 days
        make_event("e", source="s4", hours=81),  # joins the alert
    ]
    final, emitted = run(ruleset, events)
    assert [a.revision for _, a in emitted] == [1, 2]
    assert final[0].document_ids == ["c", "d", "e"]
    assert "threshold 2 sources" in final[0].severity_reason


def test_threshold_per_mineral_windows():
    ruleset = _ruleset(type="threshold", group_by=["imposing_country", "minerals"], threshold={"count": 2})
    final, _ = run(ruleset, [make_event("a", ["gallium"]), make_event("b", ["graphite", "gallium"], hours=1)])
    assert len(final) == 1 and final[0].minerals == ["gallium"]


def test_first_seen_fires_on_new_combinations_only():
    ruleset = _ruleset(
        type="first_seen",
        first_seen={"combination": ["imposing_country", "mineral"], "lookback": "90d"},
        suppress_for="1d",
    )
    events = [
        make_event("a", ["gallium"]),
        make_event("b", ["gallium"], hours=48),  # seen 2 days ago: quiet
        make_event("c", ["gallium", "graphite"], hours=50),  # graphite is new
        make_event("d", ["gallium"], hours=48 + 24 * 91),  # not seen for 91 days: new again
    ]
    final, _ = run(ruleset, events)
    assert [(a.document_ids, a.minerals) for a in final] == [
        (["a"], ["gallium"]),
        (["c"], ["graphite"]),
        (["d"], ["gallium"]),
    ]


def test_escalation_and_de_escalation():
    ruleset = RuleSet.from_rules(
        [
            {"id": "up", "type": "escalation", "when": {"critical": True}, "route_by": ["imposing_country"]},
            {
                "id": "down",
                "type": "de_escalation",
                "when": {"critical": True},
                "severity": "low",
                "route_by": ["imposing_country"],
            },
        ]
    )
    events = [
        make_event("tax", ["tungsten"], measure="export_tax"),
        make_event("licence", ["tungsten"], measure="export_licence", hours=10),
        make_event("licence2", ["tungsten"], measure="export_tax", hours=11),  # lower: no escalation
        make_event("loosen", ["tungsten"], measure="export_licence", direction="loosen", hours=20),
        make_event(
            "loosen2", ["tungsten"], measure="export_tax", direction="loosen", hours=30
        ),  # nothing active
        make_event("sanction", ["tungsten"], measure="sanction", hours=40),  # not on the ladder
    ]
    final, _ = run(ruleset, events)
    assert [(a.rule, a.document_ids) for a in final] == [("up", ["licence"]), ("down", ["loosen"])]
    assert "tungsten: export_tax -> export_licence" in final[0].severity_reason


def test_text_conditions_and_tags():
    ruleset = _ruleset(
        when={
            "text": {"keywords": ["dual-use"]},
            "tags": {"authority": "MOFCOM"},
            "exclude_text": {"regex": "rumou?r"},
        },
    )
    assert ruleset.routing_keys(make_event(text="dual-use items", tags={"authority": "MOFCOM"}))
    assert not ruleset.routing_keys(make_event(text="dual-use items", tags={"authority": "GAC"}))
    assert not ruleset.routing_keys(make_event(text="dual-useful", tags={"authority": "MOFCOM"}))
    assert not ruleset.routing_keys(make_event(text="dual-use rumour", tags={"authority": "MOFCOM"}))


def test_country_and_direction_conditions():
    ruleset = _ruleset(when={"countries": ["US"], "directions": ["none"]})
    assert ruleset.routing_keys(make_event(target="US", direction=None))
    assert not ruleset.routing_keys(make_event(target="US", direction="tighten"))
    assert not ruleset.routing_keys(make_event(direction=None))


def test_fixed_severity_and_custom_policy():
    fixed = _ruleset(severity="high")
    final, _ = run(fixed, [make_event()])
    assert final[0].severity == "high" and final[0].severity_reason == "fixed by rule r: high"
    custom = _ruleset(severity_policy={"levels": {"critical": 7}})
    final, _ = run(custom, [make_event()])
    assert final[0].severity == "high"


def test_evidence_is_capped():
    ruleset = _ruleset(max_evidence=2)
    final, emitted = run(ruleset, [make_event(f"d{i}", hours=i) for i in range(4)])
    assert final[0].document_ids == ["d0", "d1"] and len(emitted) == 2


def test_an_alert_on_a_measure_without_direction_reports_none(default_pack):
    # The extractor gives no direction for investigations and price controls: the alert does not
    # invent one (it still groups and scores as the rules read it: like a tightening).
    alerts, _ = run(
        default_pack,
        [
            make_event("p", minerals=["nickel"], measure="price_control", direction=None, imposing="ID"),
            make_event("i", minerals=["titanium"], measure="investigation", direction=None, imposing="US"),
        ],
    )
    by_measure = {a.measure: a for a in alerts}
    assert by_measure["price_control"].direction is None
    assert by_measure["price_control"].title == "Indonesia sets price controls: nickel"
    assert by_measure["investigation"].direction is None
    assert by_measure["investigation"].title == "United States opens investigation: titanium"
    assert default_pack.routing_keys(make_event(measure="price_control", direction=None)) == [
        "imposing_country=CN|measure=price_control|direction=tighten"
    ]


def test_a_restriction_reported_unchanged_is_still_in_force(default_pack):
    alerts, _ = run(default_pack, [make_event("u", measure="export_ban", direction=None)])
    assert [a.direction for a in alerts] == ["tighten"]
