"""RuleState: JSON form, decoding errors, pruning."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import DecodeError
from monitor.rules import RuleState
from monitor.rules.state import LadderEntry, WindowEntry

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_empty_state_from_none_and_empty_dict():
    assert RuleState.from_dict(None).to_dict() == RuleState().to_dict()
    assert RuleState.from_dict({}).alerts == []


@pytest.mark.parametrize(
    "data",
    [
        {"version": 99},
        {"alerts": [{"rule": "x"}]},
        {"sequences": {"fp": "nope"}},
        {"seen": {"r": {"c": "later"}}},
    ],
)
def test_bad_state_is_a_decode_error(data):
    with pytest.raises(DecodeError, match="rule state"):
        RuleState.from_dict(data)


def test_prune_drops_old_entries_and_keeps_sequences():
    state = RuleState(
        windows={
            "r": {"g": [WindowEntry(T0, "a", "s", "a"), WindowEntry(T0 + timedelta(days=9), "b", "s", "b")]}
        },
        seen={"r": {"old": T0, "new": T0 + timedelta(days=9)}},
        ladder={"r": {"CN|gallium": LadderEntry("export_licence", 2, T0)}},
        sequences={"fp-old": (3, T0 - timedelta(days=500)), "fp": (2, T0)},
    )
    state.prune(T0 + timedelta(days=10), {"r": timedelta(days=5)}, timedelta(days=30))
    assert [w.document_id for w in state.windows["r"]["g"]] == ["b"]
    assert list(state.seen["r"]) == ["new"]
    assert state.ladder == {}
    assert state.sequences == {"fp": (2, T0)}
    assert json.loads(json.dumps(state.to_dict())) == state.to_dict()
