"""The records' JSON codec: orjson where it can, Python's json where orjson refuses untrusted input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from faust.serializers import codecs

from monitor.records import DeadLetter, Document
from monitor.records.codec import LenientJson

FETCHED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_the_lenient_codec_is_faust_json_codec() -> None:
    assert isinstance(codecs.get_codec("json"), LenientJson)


def test_a_document_with_a_lone_surrogate_round_trips() -> None:
    # A JSON escape such as "\ud800" decodes to a lone surrogate, which orjson refuses to encode.
    document = Document(id="a", title="t\udfff", text="x\ud800y", source="s", fetched=FETCHED)
    assert Document.loads(document.dumps(), serializer="json") == document


def test_a_dead_letter_quoting_a_lone_surrogate_can_be_written() -> None:
    letter = DeadLetter(
        stage="extract", reason="decode", error="bad value 'x\ud800'", topic="t", key="k\ud800"
    )
    assert DeadLetter.loads(letter.dumps(), serializer="json") == letter


@pytest.mark.parametrize(
    "payload",
    [b'{"a":"x\\ud800y"}', b'{"a":1e400}', b'{"a":NaN}', b'\xef\xbb\xbf{"a":1}', b'{"a":[1,2,{"b":null}]}'],
)
def test_decoding_accepts_what_python_json_accepts(payload: bytes) -> None:
    decoded = LenientJson().loads(payload)
    expected = json.loads(payload)
    assert json.dumps(decoded) == json.dumps(expected)  # NaN != NaN: compare the text


@pytest.mark.parametrize("payload", [b"{", b"\xff\xfe", b""])
def test_invalid_json_still_raises_value_error(payload: bytes) -> None:
    with pytest.raises(ValueError):
        LenientJson().loads(payload)


def test_ordinary_records_encode_as_plain_json() -> None:
    document = Document(id="a", title="t", text="é", source="s", fetched=FETCHED, tags={"k": "v"})
    data = json.loads(document.dumps())
    assert data["text"] == "é" and data["tags"] == {"k": "v"}
    assert datetime.fromisoformat(data["fetched"].replace("Z", "+00:00")) == FETCHED
