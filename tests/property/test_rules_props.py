"""Properties of the rules core: stable fingerprints, idempotent re-delivery, state round-trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.records import TaggedEvent
from monitor.rules import RuleSet, RuleState, evaluate, fingerprint
from monitor.rules.testing import tagged_event

ROOT = Path(__file__).resolve().parents[2]
PACK = RuleSet.load([ROOT / "rules"])
ALL_RULES = PACK.with_enabled([rule.id for rule in PACK.rules])
T0 = datetime(2025, 1, 1, tzinfo=UTC)

MINERALS = ["gallium", "germanium", "graphite", "lithium", "holmium", "cobalt", "gold", "molybdenum"]
MEASURES = [
    "export_ban",
    "export_licence",
    "export_quota",
    "export_tax",
    "sanction",
    "import_tariff",
    "investigation",
    "partnership",
    "none",
]
COUNTRIES = ["CN", "US", "CD", "ID", None]

labels = st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=12), max_size=5)


@st.composite
def events(draw: st.DrawFn, document_id: str | None = None) -> TaggedEvent:
    return tagged_event(
        document_id or draw(st.sampled_from(["a", "b", "c", "d", "e"])),
        at=T0 + timedelta(hours=draw(st.integers(0, 24 * 120))),
        minerals=draw(st.lists(st.sampled_from(MINERALS), max_size=3)),
        measure=draw(st.sampled_from(MEASURES)),
        direction=draw(st.sampled_from(["tighten", "loosen", None])),
        imposing_country=draw(st.sampled_from(COUNTRIES)),
        target_country=draw(st.sampled_from(COUNTRIES)),
        source=draw(st.sampled_from(["s1", "s2", "s3"])),
    )


def replay(ruleset: RuleSet, stream: list[TaggedEvent]) -> dict[str, RuleState]:
    states: dict[str, RuleState] = {}
    for event in stream:
        for key in ruleset.routing_keys(event):
            states[key], _ = evaluate(ruleset, states.get(key, RuleState()), event, key, event.published)
    return states


@given(st.text(max_size=30), labels, st.lists(st.sampled_from(MINERALS), max_size=4))
def test_fingerprint_is_stable_and_order_free(rule_id, group, minerals):
    first = fingerprint(rule_id, group, minerals)
    shuffled = dict(reversed(list(group.items())))
    assert fingerprint(rule_id, shuffled, list(reversed(minerals))) == first
    assert len(first) == 64 and int(first, 16) >= 0


@given(st.text(max_size=30), labels)
def test_fingerprint_separates_rules(rule_id, group):
    assert fingerprint(rule_id, group) != fingerprint(rule_id + "x", group)


@settings(max_examples=60, deadline=None)
@given(st.lists(events(), max_size=8), events(document_id="again"), st.integers(0, 48))
def test_redelivered_event_adds_nothing(history, event, delay_hours):
    states = replay(ALL_RULES, history)
    for key in ALL_RULES.routing_keys(event):
        now = event.published
        state, first = evaluate(ALL_RULES, states.get(key, RuleState()), event, key, now)
        again, second = evaluate(ALL_RULES, state, event, key, now + timedelta(hours=delay_hours))
        # A re-delivery re-emits (only) the alerts holding the document, unchanged: no new alert,
        # no new revision, no evidence added.
        holding = {e.alert["id"]: e.alert for e in state.alerts if "again" in e.alert["document_ids"]}
        assert {a.id for a in second} <= set(holding)
        for alert in second:
            assert alert.revision == holding[alert.id]["revision"]
            assert alert.document_ids == holding[alert.id]["document_ids"]
        for entry in again.alerts:
            assert entry.alert["document_ids"].count("again") <= 1
        ids_with_doc = [e.alert["id"] for e in again.alerts if "again" in e.alert["document_ids"]]
        assert len(ids_with_doc) == len({a.id for a in first})


@settings(max_examples=60, deadline=None)
@given(st.lists(events(), max_size=10))
def test_state_round_trips_through_json(stream):
    for state in replay(ALL_RULES, stream).values():
        data = state.to_dict()
        text = json.dumps(data)
        restored = RuleState.from_dict(json.loads(text))
        assert restored.to_dict() == data
        assert json.dumps(restored.to_dict()) == text


@settings(max_examples=40, deadline=None)
@given(st.lists(events(), max_size=10))
def test_evaluating_from_restored_state_gives_the_same_alerts(stream):
    direct: list[str] = []
    restored: list[str] = []
    states_a: dict[str, RuleState] = {}
    states_b: dict[str, dict] = {}
    for event in stream:
        for key in PACK.routing_keys(event):
            states_a[key], alerts_a = evaluate(
                PACK, states_a.get(key, RuleState()), event, key, event.published
            )
            state_b, alerts_b = evaluate(
                PACK, RuleState.from_dict(states_b.get(key)), event, key, event.published
            )
            states_b[key] = json.loads(json.dumps(state_b.to_dict()))
            direct.extend(a.dumps().decode() for a in alerts_a)
            restored.extend(a.dumps().decode() for a in alerts_b)
    assert direct == restored


@settings(max_examples=40, deadline=None)
@given(st.lists(events(), min_size=1, max_size=6), st.lists(st.integers(0, 5), max_size=12))
def test_one_alert_per_document_per_rule(distinct, deliveries):
    # Documents keep their content: re-deliveries (repeated indices) are identical copies.
    docs = [event.derive(document_id=f"doc-{i}") for i, event in enumerate(distinct)]
    stream = docs + [docs[i % len(docs)] for i in deliveries]
    seen: dict[tuple[str, str], str] = {}
    states: dict[str, RuleState] = {}
    clock = min(event.published for event in stream)
    for event in stream:
        # Processing time never goes backwards, even when a late re-delivery carries an old date.
        clock = max(clock, event.published)
        for key in PACK.routing_keys(event):
            states[key], alerts = evaluate(PACK, states.get(key, RuleState()), event, key, clock)
            for alert in alerts:
                assert alert.document_ids.count(event.document_id) == 1
                for doc in alert.document_ids:
                    assert seen.setdefault((alert.rule, doc), alert.id) == alert.id
