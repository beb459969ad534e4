"""The per-message work of the stages, without a broker: decode, tag, route, evaluate, dead letters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import DecodeError
from monitor.extract import Extractor
from monitor.observability.metrics import Metrics
from monitor.records import Document, TaggedEvent
from monitor.streaming.ruleholder import RuleHolder
from monitor.streaming.stages import Stages, decode_alert, decode_document, decode_event

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2025, 10, 9, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stages() -> Stages:
    metrics = Metrics()
    return Stages(Extractor(), RuleHolder([REPO / "rules"], metrics), metrics, clock=lambda: NOW)


def _doc(doc_id: str, title: str, text: str) -> Document:
    return Document(id=doc_id, title=title, text=text, source="unit", fetched=NOW, published=NOW)


def test_a_measure_is_tagged_routed_and_raises_one_alert_with_its_evidence(stages: Stages) -> None:
    doc = _doc(
        "d1",
        "China restricts graphite exports",
        "China's Ministry of Commerce said exporters of graphite must apply for export licences "
        "from December 1.",
    )
    tagged = stages.tag(doc)
    assert tagged.event.extraction.measure == "export_licence"
    assert len(tagged.routing_keys) == 1
    state, alerts = stages.evaluate(tagged.event, tagged.routing_keys[0], None)
    assert [a.document_ids for a in alerts] == [["d1"]]
    assert alerts[0].severity_reason
    # The same document again adds no evidence: its alert is re-emitted unchanged (at-least-once);
    # a second source joins the alert.
    state, again = stages.evaluate(tagged.event, tagged.routing_keys[0], state)
    assert [(a.id, a.revision, a.document_ids) for a in again] == [(alerts[0].id, 1, ["d1"])]
    copy = stages.tag(
        _doc(
            "d2",
            "Beijing tightens graphite export controls",
            "China will require export licences for graphite shipments, the commerce ministry said.",
        )
    )
    _, joined = stages.evaluate(copy.event, copy.routing_keys[0], state)
    assert [a.document_ids for a in joined] == [["d1", "d2"]]
    assert joined[0].id == alerts[0].id and joined[0].revision == 2


def test_plain_news_is_tagged_but_routed_nowhere(stages: Stages) -> None:
    tagged = stages.tag(_doc("n1", "Lithium prices rise", "Lithium carbonate prices rose 4% this week."))
    assert tagged.event.extraction.measure == "none"
    assert tagged.routing_keys == []


def test_the_event_carries_the_bounded_text_and_the_document_metadata(stages: Stages) -> None:
    long_text = "Indonesia banned nickel ore exports. " + "Filler words here. " * 20_000
    tagged = stages.tag(_doc("long", "Indonesia ban", long_text))
    assert len(tagged.event.text) == stages.extractor.max_chars
    assert tagged.event.extraction.truncated
    assert (tagged.event.document_id, tagged.event.source) == ("long", "unit")


@pytest.mark.parametrize("payload", [None, b"", b"\xff\xfe", b"[]", b'{"id": 1}', b'{"title": "no id"}'])
def test_bad_messages_are_decode_errors(payload: bytes | None) -> None:
    for decode in (decode_document, decode_event, decode_alert):
        with pytest.raises(DecodeError):
            decode(payload)


def test_records_round_trip_through_their_messages(stages: Stages) -> None:
    doc = _doc("rt", "Zimbabwe bans lithium ore exports", "Zimbabwe banned exports of raw lithium ore.")
    assert decode_document(doc.dumps()) == doc
    event = stages.tag(doc).event
    assert decode_event(event.dumps()) == event
    assert isinstance(decode_event(event.dumps()), TaggedEvent)


def test_a_dead_letter_keeps_the_message_and_the_reason(stages: Stages) -> None:
    letter = stages.dead_letter("extract", "topic", "k1", b"\xffpayload", DecodeError("bad bytes"))
    assert (letter.stage, letter.reason, letter.key, letter.topic) == (
        "extract",
        "DecodeError",
        "k1",
        "topic",
    )
    assert "payload" in letter.payload and letter.error == "bad bytes"
    sample = stages.metrics.registry.get_sample_value(
        "monitor_stream_errors_total", {"stage": "extract", "reason": "DecodeError"}
    )
    assert sample == 1


def test_a_state_kept_decoded_between_events_gives_what_decoding_the_table_value_gives() -> None:
    # Two stages fed the same events: one gets back the very dict it returned (the in-memory table,
    # so it reuses its decoded state), the other a JSON copy (a changelog recovery, decoded again).
    metrics = Metrics()

    def new_stages() -> Stages:
        return Stages(Extractor(), RuleHolder([REPO / "rules"], metrics), metrics, clock=lambda: NOW)

    cached, decoded = new_stages(), new_stages()
    texts = [
        ("China restricts graphite exports", "China will require export licences for graphite exports."),
        ("Beijing tightens graphite controls", "Beijing said graphite exporters need licences from May 1."),
        ("China adds gallium to licence list", "China will require export licences for gallium shipments."),
        ("China restricts graphite exports", "China will require export licences for graphite exports."),
    ]
    state_a: dict[str, object] | None = None
    state_b: dict[str, object] | None = None
    for index, (title, text) in enumerate(texts):
        tagged = cached.tag(_doc(f"d{index % 3}", title, text))
        key = tagged.routing_keys[0]
        state_a, alerts_a = cached.evaluate(tagged.event, key, state_a)
        state_b, alerts_b = decoded.evaluate(tagged.event, key, json.loads(json.dumps(state_b)))
        assert [a.dumps() for a in alerts_a] == [b.dumps() for b in alerts_b]
        assert json.dumps(state_a, sort_keys=True) == json.dumps(state_b, sort_keys=True)
    assert state_a is not None and len(state_a["alerts"]) == 2  # type: ignore[arg-type]  # graphite, gallium


def test_the_evaluate_stage_reuses_its_decoded_state_while_the_table_holds_its_value(stages: Stages) -> None:
    tagged = stages.tag(
        _doc("c1", "China restricts graphite", "China will require export licences for graphite.")
    )
    key = tagged.routing_keys[0]
    stages.states.discard()
    state, _ = stages.evaluate(tagged.event, key, None)
    hits = stages.states.hits
    state, _ = stages.evaluate(tagged.event, key, state)  # the very dict it returned: no decode
    assert stages.states.hits == hits + 1
    stages.evaluate(tagged.event, key, json.loads(json.dumps(state)))  # a recovered copy: decoded
    assert stages.states.hits == hits + 1
