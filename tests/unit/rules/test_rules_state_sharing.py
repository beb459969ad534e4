"""Structural sharing in rule state: evaluate stays pure, copies are independent, JSON forms are exact."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import DecodeError
from monitor.records import TaggedEvent
from monitor.rules import RuleSet, RuleState, StateCache, evaluate
from monitor.rules.state import AlertEntry, LadderEntry, WindowEntry
from monitor.rules.testing import tagged_event

T0 = datetime(2025, 10, 9, 8, 0, tzinfo=UTC)


def _event(index: int, hours: float, **fields) -> TaggedEvent:
    fields.setdefault("minerals", ["gallium"])
    fields.setdefault("measure", "export_licence")
    fields.setdefault("direction", "tighten")
    fields.setdefault("imposing_country", "CN")
    return tagged_event(
        f"doc-{index}",
        at=T0 + timedelta(hours=hours),
        source=f"source-{index % 3}",
        url=f"https://news.example/{index}",
        **fields,
    )


def _stream() -> list[TaggedEvent]:
    """Many reports joining the same alerts, escalations and loosenings, then a long gap (pruning)."""
    events = [_event(i, i) for i in range(40)]  # one licence alert gathering 40 reports
    events += [_event(100 + i, 40 + i, minerals=["gallium", "germanium"]) for i in range(5)]
    events += [_event(200, 50, measure="export_ban"), _event(201, 51, direction="loosen")]
    events += [_event(300 + i, 60 + i, measure="export_quota", minerals=["graphite"]) for i in range(5)]
    events.append(events[3])  # a re-delivery: re-emitted as is
    events += [_event(400 + i, 24 * 120 + i, minerals=["gallium"]) for i in range(3)]  # after expiry
    events.append(events[0])  # a very late re-delivery: its alert is closed
    return events


def _everything(pack: RuleSet) -> RuleSet:
    return pack.with_enabled([rule.id for rule in pack.rules])


def _json(state: RuleState) -> str:
    return json.dumps(state.to_dict(), sort_keys=True)


def _fresh_json(state: RuleState) -> str:
    """The JSON form computed from scratch (a new state over the same containers has no memo)."""
    fresh = RuleState(
        alerts=state.alerts,
        sequences=state.sequences,
        windows=state.windows,
        seen=state.seen,
        ladder=state.ladder,
        retired=state.retired,
    )
    return json.dumps(fresh.to_dict(), sort_keys=True)


def test_evaluate_never_mutates_any_earlier_state(default_pack):
    pack = _everything(default_pack)
    states: dict[str, RuleState] = {}
    history: list[tuple[RuleState, str]] = []
    for event in _stream():
        now = event.published + timedelta(minutes=1)
        for key in pack.routing_keys(event):
            state = states.get(key, RuleState())
            before = _json(state)
            new_state, _ = evaluate(pack, state, event, key, now)
            assert _json(state) == before  # the state given is untouched...
            history.append((state, before))
            states[key] = new_state
    assert any(len(e.alert["document_ids"]) >= 40 for s in states.values() for e in s.alerts)
    assert any(s.windows for s in states.values()) and any(s.ladder for s in states.values())
    assert any(s.retired for s in states.values())
    for state, snapshot in history:  # ...and so is every earlier state, though they share entries
        assert _json(state) == snapshot


def test_roundtrip_through_json_gives_the_same_results(default_pack):
    pack = _everything(default_pack)
    objects: dict[str, RuleState] = {}
    stored: dict[str, dict] = {}
    for event in _stream():
        for key in pack.routing_keys(event):
            a, alerts_a = evaluate(pack, objects.get(key, RuleState()), event, key, event.published)
            text = json.dumps(stored[key]) if key in stored else None
            b, alerts_b = evaluate(
                pack, RuleState.from_dict(json.loads(text) if text else None), event, key, event.published
            )
            assert [x.dumps() for x in alerts_a] == [x.dumps() for x in alerts_b]
            objects[key], stored[key] = a, b.to_dict()
            assert _json(a) == json.dumps(stored[key], sort_keys=True) == _fresh_json(a)


def test_copy_shares_no_container_evaluate_changes(default_pack):
    pack = _everything(default_pack)
    states: dict[str, RuleState] = {}
    for event in _stream()[:50]:
        for key in pack.routing_keys(event):
            states[key], _ = evaluate(pack, states.get(key, RuleState()), event, key, event.published)
    for state in states.values():
        copied = state.copy()
        assert copied.to_dict() == state.to_dict()
        assert copied.alerts is not state.alerts
        for name in ("sequences", "retired", "windows", "seen", "ladder"):
            assert getattr(copied, name) is not getattr(state, name)
        for name in ("windows", "seen", "ladder"):
            for rule, inner in getattr(state, name).items():
                assert getattr(copied, name)[rule] is not inner
        for rule, groups in state.windows.items():
            for group, entries in groups.items():
                assert copied.windows[rule][group] is not entries


def test_entries_are_frozen():
    at = T0
    entry = AlertEntry("r", "fp", 1, {}, [], at, at, at, {"document_ids": []})
    for item, name in (
        (entry, "touched"),
        (WindowEntry(at, "d", "s", "c"), "at"),
        (LadderEntry("m", 1, at), "at"),
    ):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(item, name, at)


def test_emitted_alerts_share_nothing_with_state(default_pack):
    events = [_event(i, i) for i in range(3)]
    [key] = default_pack.routing_keys(events[0])
    state = RuleState()
    emitted = []
    for event in [*events, events[1]]:  # open, join, join, re-delivery
        state, alerts = evaluate(default_pack, state, event, key, event.published)
        emitted.extend(alerts)
    before = _json(state)
    for alert in emitted:
        alert.document_ids.append("tampered")
        alert.labels["tampered"] = "yes"
        alert.minerals.append("tampered")
    assert _json(state) == before


def test_to_dict_follows_changes_made_in_place():
    state = RuleState(
        windows={"r": {"g": [WindowEntry(T0, "a", "s", "a")]}},
        seen={"r": {"c": T0}},
        ladder={"r": {"CN|gallium": LadderEntry("export_licence", 2, T0)}},
        sequences={"fp": (2, T0)},
        retired={"r|a": T0},
    )
    first = state.to_dict()
    copied = state.copy()
    later = T0 + timedelta(hours=1)
    copied.windows["r"]["g"].append(WindowEntry(later, "b", "s", "b"))
    copied.seen["r"]["d"] = later
    copied.ladder["r"]["CN|gallium"] = LadderEntry("export_ban", 3, later)
    copied.sequences["fp"] = (3, later)
    copied.retired["r|b"] = later
    assert state.to_dict() == first  # interleaved writes of a state and its copy (they share a memo)
    assert json.dumps(copied.to_dict(), sort_keys=True) == _fresh_json(copied)
    assert copied.to_dict() != first
    assert state.to_dict() == first
    del copied.seen["r"]["d"]
    assert json.dumps(copied.to_dict(), sort_keys=True) == _fresh_json(copied)


def test_state_cache_decodes_only_values_it_did_not_write(default_pack):
    events = [_event(i, i) for i in range(3)]
    [key] = default_pack.routing_keys(events[0])
    cache = StateCache(max_keys=2)
    table: dict[str, dict] = {}
    for event in events:
        state = cache.get(key, table.get(key))
        new_state, _ = evaluate(default_pack, state, event, key, event.published)
        table[key] = cache.put(key, new_state)
    assert (cache.hits, cache.misses) == (2, 1)  # the first read decoded the absent value
    assert cache.get(key, table[key]) is new_state
    copy = json.loads(json.dumps(table[key]))  # e.g. recovered from the changelog
    decoded = cache.get(key, copy)
    assert decoded is not new_state and decoded.to_dict() == new_state.to_dict()
    assert cache.get("other", None).alerts == []
    assert cache.get("third", None).alerts == [] and len(cache) == 2  # least recently used dropped
    cache.discard()
    assert len(cache) == 0
    with pytest.raises(DecodeError):
        cache.get(key, {"version": 99})
