"""Reconciling two revisions of one alert (pure): nothing a revision cites is dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.delivery.testing import make_alert
from monitor.records import Alert
from monitor.rules.merge import reconcile

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _alert(revision: int, docs: list[str], **fields: object) -> Alert:
    values: dict[str, object] = {
        "id": "a",
        "fingerprint": "fp",
        "revision": revision,
        "document_ids": docs,
        "sources": [f"src-{d}" for d in docs],
        "urls": [],
        "raised_at": T0,
        "updated_at": T0 + timedelta(minutes=revision),
        "first_evidence_at": T0,
        "title": "China tightens export ban: gallium",
    }
    values.update(fields)
    return make_alert(**values)


def test_a_newer_revision_holding_every_stored_document_is_stored_as_is() -> None:
    incoming = _alert(2, ["d1", "d2"])
    assert reconcile(_alert(1, ["d1"]), incoming) is incoming


def test_a_redelivery_or_an_older_revision_changes_nothing() -> None:
    stored = _alert(2, ["d1", "d2"])
    assert reconcile(stored, _alert(2, ["d1", "d2"])) is None
    assert reconcile(stored, _alert(1, ["d1"])) is None


def test_a_revision_seen_before_with_other_evidence_is_merged_not_dropped() -> None:
    # A worker resumed from a rule state without revision 2 and emitted its own revision 2.
    stored = _alert(2, ["d1", "d2"], minerals=["gallium"], severity="high")
    incoming = _alert(
        2,
        ["d1", "d3"],
        minerals=["gallium", "germanium"],
        countries=["CN", "US"],
        severity="critical",
        severity_reason="germanium: ...",
        target_country="US",
        first_evidence_at=T0 - timedelta(hours=1),
    )
    merged = reconcile(stored, incoming)
    assert merged is not None
    assert merged.revision == 3
    assert merged.document_ids == ["d1", "d2", "d3"]
    assert merged.sources == ["src-d1", "src-d2", "src-d3"]
    assert merged.minerals == ["gallium", "germanium"]
    assert merged.countries == ["CN", "US"]
    assert merged.severity == "critical" and merged.labels["severity"] == "critical"
    assert merged.severity_reason == "germanium: ..."
    assert merged.target_country == "US"
    assert merged.first_evidence_at == T0 - timedelta(hours=1)
    assert merged.title == "China tightens export ban: gallium, germanium"
    assert "3 reports from 3 sources" in merged.summary


def test_a_newer_revision_missing_a_stored_document_keeps_it() -> None:
    merged = reconcile(_alert(3, ["d1", "d2", "d9"]), _alert(4, ["d1", "d2", "d3"]))
    assert merged is not None
    assert merged.revision == 5
    assert merged.document_ids == ["d1", "d2", "d3", "d9"]


docs = st.lists(st.sampled_from(["d1", "d2", "d3", "d4"]), min_size=1, max_size=4, unique=True)


@given(st.integers(1, 4), docs, st.integers(1, 4), docs)
def test_nothing_cited_is_ever_dropped_and_a_change_always_moves_the_revision_up(
    r1: int, d1: list[str], r2: int, d2: list[str]
) -> None:
    stored, incoming = _alert(r1, d1), _alert(r2, d2)
    kept = reconcile(stored, incoming) or stored
    assert set(d1) | set(d2) <= set(kept.document_ids)
    if kept is not stored:
        assert kept.revision > stored.revision
    # Applying it again is a no-op: the result is stable.
    assert reconcile(kept, incoming) is None
