"""Bad-input fuzzing: every untrusted input of the service, mutated, never crashes it.

Each test states its property in its docstring. The inputs are the five kinds the service takes
from outside plus the text the extractor reads:

- documents (push/replay payloads) through :func:`parse_payload` and :func:`read_jsonl`;
- the push endpoint ``POST /api/v1/ingest`` over real HTTP;
- RSS/Atom feeds through :func:`parse_feed` and :func:`normalise`;
- rule files through :func:`parse_rules`, :meth:`RuleSet.load` and :meth:`RuleHolder.reload`;
- subscription payloads through ``POST /api/v1/subscriptions`` of the real API on SQLite;
- arbitrary text through :meth:`Extractor.extract`.

The number of examples comes from the hypothesis profile (``tests/property/conftest.py``): ``ci``
by default (100 per test, 25 for the HTTP and rule-loading ones; the file runs in about 10 s), and
``HYPOTHESIS_PROFILE=fuzz pytest tests/property/test_fuzz_inputs.py`` for the long run (20,000 and
5,000; no per-test timeout). ``bench/fuzz.py`` is the standalone 100,000-input run. The
``test_regression_*`` tests pin the crashes this fuzzing found.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import tempfile
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from monitor.api.app import ApiDeps, create_app
from monitor.api.deps import DeliveryApiDeps
from monitor.api.keys import create_key
from monitor.api.routes import delivery_routes
from monitor.delivery.feed import AlertFeed
from monitor.delivery.testing import fast_settings
from monitor.errors import ConfigError, InputError
from monitor.extract import Extractor, analysed_text
from monitor.extract.text import clean
from monitor.ingest.feed import MAX_ITEMS, parse_feed
from monitor.ingest.normalise import RawItem, normalise
from monitor.ingest.payload import LineError, parse_payload, read_jsonl
from monitor.ingest.push import INGEST_PATH, install_ingest_routes
from monitor.ingest.sources import FeedSource
from monitor.observability.metrics import Metrics
from monitor.records import Document, Extraction
from monitor.rules import RuleSet
from monitor.rules.ruleset import parse_rules
from monitor.store.sql import SqlAlertStore
from monitor.streaming.ruleholder import RuleHolder

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
FEED_DIRS = (ROOT / "tests" / "data" / "feeds", ROOT / "monitor" / "data" / "feeds")
FEED_SEEDS = [
    p.read_bytes() for d in FEED_DIRS for p in sorted(d.iterdir()) if p.suffix in (".xml", ".rdf", ".atom")
]
DEFAULT_RULES_TEXT = (ROOT / "rules" / "default.yaml").read_text(encoding="utf-8")
DEFAULT_RULES: list[dict[str, Any]] = yaml.safe_load(DEFAULT_RULES_TEXT)["rules"]
SOURCE = FeedSource.model_validate({"id": "fuzz", "kind": "feed", "url": "https://ex.org/feed.xml"})
NOW = datetime(2025, 6, 1, tzinfo=UTC)
TOKEN = "fuzz-token"
PUSH_MAX_BYTES = 64 * 1024
#: The long ``fuzz`` profile runs far past pytest-timeout's 300 s per test: lift the limit there.
pytestmark = [pytest.mark.timeout(0)] if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else []
#: How many examples the slower (HTTP, rule-loading) tests run: a quarter of the profile's count.
FEW = max(10, (settings.default.max_examples if settings.default is not None else 100) // 4)
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")

# -- shared strategies --------------------------------------------------------------------------------

#: Characters that break naive code: NUL and other controls, a lone surrogate, BOM, RTL override, U+FFFD.
NASTY_CHARS = ["\x00", "\x01", "\x1b", "\x7f", "\r", "\t", "\ud800", "\udfff", "\ufeff", "\u202e", "\ufffd"]
nasty_text = st.text(alphabet=st.sampled_from(NASTY_CHARS) | st.characters(), max_size=40)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | nasty_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | nasty_text, children, max_size=4)
    ),
    max_leaves=12,
)

#: Lengths just over each field's limit (``DocumentPayload``), to hit every max_length check.
OVER_LIMIT = {"id": 513, "title": 4_001, "url": 4_001, "source": 201, "language": 17, "text": 5_000_001}
DOC_FIELDS = ["id", "title", "text", "url", "published", "source", "language", "tags"]
WEIRD_DATES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "1970-01-01T00:00:00Z",
    "2025-02-30T00:00:00Z",
    "2025-06-01",
    "not a date",
    "",
    -1,
    1e20,
    253402300800,
    "2025-06-01T10:00:00+25:00",
]


def valid_document(n: int) -> dict[str, Any]:
    """A valid document whose id no mutation produces by chance."""
    return {
        "id": f"valid-{n}-{uuid.uuid4().hex[:6]}",
        "title": "China adds gallium to export licence list",
        "text": "MOFCOM said exports of gallium and germanium need a licence from 1 August.",
        "url": "https://ex.org/news/1?utm_source=x",
        "published": "2025-05-30T08:00:00Z",
        "source": "partner",
        "language": "en",
        "tags": {"region": "asia"},
    }


@st.composite
def mutated_document(draw: st.DrawFn, *, huge: bool = True) -> dict[str, Any]:
    """A valid document with fields deleted, given wrong types, nasty strings, oversize or unknown keys."""
    doc = valid_document(0)
    doc["id"] = "m-" + doc["id"]
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(DOC_FIELDS))
        op = draw(st.sampled_from(["delete", "wrong_type", "nasty", "huge", "unknown", "date", "blank"]))
        if op == "delete":
            doc.pop(key, None)
        elif op == "wrong_type":
            doc[key] = draw(json_values)
        elif op == "nasty":
            doc[key] = draw(nasty_text)
        elif op == "huge" and huge and key in OVER_LIMIT:
            doc[key] = "x" * OVER_LIMIT[key] if key != "url" else "https://ex.org/" + "x" * OVER_LIMIT[key]
        elif op == "unknown":
            doc[draw(st.text(max_size=10))] = draw(json_values)
        elif op == "date":
            doc["published"] = draw(st.sampled_from(WEIRD_DATES))
        elif op == "blank":
            doc[key] = draw(st.sampled_from(["", "   ", "\n\t"]))
    return doc


def assert_valid_document(doc: Document) -> None:
    """What every accepted document satisfies, whatever the input."""
    assert isinstance(doc, Document)
    assert doc.id and len(doc.id) <= 512 and doc.id.strip(" \t\r\n")
    assert doc.text.strip()
    assert doc.url is None or doc.url.lower().startswith(("http://", "https://"))
    assert doc.published is None or doc.published.tzinfo is not None
    assert doc.fetched.tzinfo is not None


@contextlib.contextmanager
def temporary_file(data: bytes, suffix: str = ".jsonl") -> Iterator[Path]:
    """A fresh file holding ``data`` in a private temporary directory, removed afterwards.

    (Hypothesis runs many examples per test, so the function-scoped ``tmp_path`` does not fit.)
    """
    with tempfile.TemporaryDirectory(prefix="fuzz-inputs-") as directory:
        path = Path(directory) / f"input{suffix}"
        path.write_bytes(data)
        yield path


# -- documents: parse_payload and read_jsonl -----------------------------------------------------------


@given(json_values | mutated_document(huge=False))
def test_parse_payload_accepts_a_valid_document_or_raises_input_error(data: Any) -> None:
    """Any decoded JSON value gives a valid :class:`Document` or an :class:`InputError`, nothing else."""
    try:
        document = parse_payload(data, "push", NOW)
    except InputError as err:
        assert str(err)
    else:
        assert_valid_document(document)


@dataclass(frozen=True)
class Line:
    """One line of a fuzzed JSON Lines file and whether it must come out as a document."""

    raw: bytes
    must_be_valid: bool = False


def _json_line(value: Any) -> bytes:
    # ensure_ascii escapes lone surrogates and control characters, so the line has no raw newline.
    return json.dumps(value, ensure_ascii=True).encode("ascii")


@st.composite
def jsonl_line(draw: st.DrawFn, n: int) -> Line:
    """A valid document, a mutated one, raw junk, invalid UTF-8, a JSON bomb or a blank line."""
    kind = draw(
        st.sampled_from(["valid", "mutated", "value", "junk", "utf8", "surrogate", "deep", "bigint", "blank"])
    )
    if kind == "valid":
        return Line(_json_line(valid_document(n)), must_be_valid=True)
    if kind == "mutated":
        return Line(_json_line(draw(mutated_document())))
    if kind == "value":
        return Line(_json_line(draw(json_values)))
    if kind == "junk":
        return Line(draw(st.binary(min_size=1, max_size=60)).replace(b"\n", b" "))
    if kind == "utf8":
        good = _json_line(valid_document(n))
        at = draw(st.integers(1, len(good) - 1))
        return Line(
            good[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88"])) + good[at:]
        )
    if kind == "surrogate":
        return Line(b'{"id": "s\\ud800", "text": "lone \\udfff surrogate"}')
    if kind == "deep":
        depth = draw(st.sampled_from([10, 5_000, 100_000]))
        return Line(b"[" * depth + b"]" * depth)
    if kind == "bigint":
        return Line(
            b'{"id": "big", "text": "x", "title": ' + b"9" * draw(st.sampled_from([10, 5_000])) + b"}"
        )
    return Line(draw(st.sampled_from([b"", b"   ", b"\t\r"])))


@given(st.data())
def test_read_jsonl_reports_each_bad_line_with_its_number_and_yields_the_good_ones(
    data: st.DataObject,
) -> None:
    """Every non-blank line yields exactly one item, in order: a Document or a LineError naming path:line.

    Valid lines always come out as documents, however damaged their neighbours are.
    """
    count = data.draw(st.integers(1, 12))
    lines = [data.draw(jsonl_line(n)) for n in range(count)]
    with temporary_file(b"\n".join(line.raw for line in lines)) as path:
        items = list(read_jsonl(path))
    expected = [(n, line) for n, line in enumerate(lines, start=1) if line.raw.strip()]
    assert len(items) == len(expected)
    for item, (number, line) in zip(items, expected, strict=True):
        if isinstance(item, LineError):
            assert item.line == number and item.path == str(path) and item.reason
            assert str(item).startswith(f"{path}:{number}: ")
            assert not line.must_be_valid, item
        else:
            assert_valid_document(item)


# -- an event loop for the HTTP tests (hypothesis cannot drive async tests itself) ---------------------


class Loop:
    """A private event loop: ``run(coro)`` runs a coroutine on it to completion."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this loop and return its result."""
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        """Close the loop."""
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


def rejected_total(metrics: Metrics, kind: str) -> float:
    """``sum(monitor_input_rejected_total{kind=...})`` over every reason."""
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "monitor_input_rejected_total" and sample.labels.get("kind") == kind:
                total += sample.value
    return total


# -- the push endpoint over HTTP ------------------------------------------------------------------------


@dataclass
class PushTarget:
    """``POST /api/v1/ingest`` served on 127.0.0.1, with the batches it published and its metrics."""

    loop: Loop
    client: TestClient[Any, Any]
    metrics: Metrics
    batches: list[list[Document]]

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        """POST ``body``; return the status and the decoded JSON answer (None when not JSON)."""

        async def go() -> tuple[int, Any]:
            response = await self.client.post(INGEST_PATH, data=body, headers=headers)
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, None

        return self.loop.run(go())


@pytest.fixture(scope="module")
def push_target() -> Iterator[PushTarget]:
    """The push route alone in an aiohttp app, as ``install_ingest_routes`` installs it in the service."""
    loop = Loop()
    metrics = Metrics(CollectorRegistry())
    batches: list[list[Document]] = []

    async def publish(documents: list[Document]) -> None:
        batches.append(documents)

    async def start() -> TestClient[Any, Any]:
        app = web.Application()
        install_ingest_routes(
            app, publish=publish, token=SecretStr(TOKEN), metrics=metrics, max_bytes=PUSH_MAX_BYTES
        )
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        return client

    client = loop.run(start())
    yield PushTarget(loop, client, metrics, batches)
    loop.run(client.close())
    loop.close()


@st.composite
def push_body(draw: st.DrawFn) -> bytes:
    """A push body: a document, a batch, ``{"documents": ...}``, junk, bad UTF-8, a bomb or oversize."""
    kind = draw(
        st.sampled_from(
            ["one", "batch", "wrapped", "value", "junk", "utf8", "deep", "bigint", "huge", "empty", "many"]
        )
    )
    docs = st.one_of(mutated_document(huge=False), st.builds(valid_document, st.integers(0, 10**6)))
    if kind == "one":
        return _json_line(draw(docs))
    if kind == "batch":
        return _json_line(draw(st.lists(docs | json_values, max_size=5)))
    if kind == "wrapped":
        return _json_line({"documents": draw(st.lists(docs, max_size=4) | json_values)})
    if kind == "value":
        return _json_line(draw(json_values))
    if kind == "junk":
        return draw(st.binary(max_size=200))
    if kind == "utf8":
        return _json_line(valid_document(1))[:-5] + b"\xff\xfe" + b'"}'
    if kind == "deep":
        depth = draw(st.sampled_from([100, 30_000]))
        return b"[" * depth + b"]" * depth
    if kind == "bigint":
        return b'{"id": "a", "text": "b", "title": ' + b"7" * 5_000 + b"}"
    if kind == "huge":
        return _json_line({**valid_document(2), "text": "x" * (PUSH_MAX_BYTES + 1)})
    if kind == "empty":
        return draw(st.sampled_from([b"", b"[]", b'{"documents": []}', b"null"]))
    return _json_line([{"id": f"d{i}", "text": "t"} for i in range(1_001)])


@settings(max_examples=FEW)
@given(push_body())
def test_push_answers_202_or_a_400_413_naming_a_field_and_counts_each_rejection(
    push_target: PushTarget, body: bytes
) -> None:
    """Any body gives 202 with the ids, or 400/413 with a JSON error whose details name a field; never 500.

    ``monitor_input_rejected_total{kind="push"}`` goes up by exactly one per rejected request and not
    at all for an accepted one.
    """
    before = rejected_total(push_target.metrics, "push")
    published = len(push_target.batches)
    status, answer = push_target.post(
        body, {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    )
    after = rejected_total(push_target.metrics, "push")
    assert status in (202, 400, 413), (status, answer)
    assert isinstance(answer, dict)
    if status == 202:
        assert after == before
        assert len(push_target.batches) == published + 1
        assert answer["ids"] == [d.id for d in push_target.batches[-1]]
        for document in push_target.batches[-1]:
            assert_valid_document(document)
    else:
        assert after == before + 1
        assert len(push_target.batches) == published
        assert isinstance(answer["error"], str) and answer["error"]
        assert answer["details"], answer
        for detail in answer["details"]:
            assert isinstance(detail["field"], str) and detail["field"], detail
            assert isinstance(detail["reason"], str) and detail["reason"], detail


#: What a client can put in a header value: printable Latin-1 (aiohttp refuses control characters).
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30
)


@settings(max_examples=FEW)
@given(
    st.sampled_from(
        [None, "", "Bearer", "Bearer ", "Bearer wrong", f"Basic {TOKEN}", TOKEN, f"Bearer  {TOKEN}x"]
    )
    | header_text
    | header_text.map(lambda s: "Bearer " + s)
)
def test_push_without_the_token_is_401_and_counted(push_target: PushTarget, header: str | None) -> None:
    """A missing or wrong ``Authorization`` header is a 401 counted once, whatever the header holds."""
    assume(header is None or header.strip() != f"Bearer {TOKEN}")
    before = rejected_total(push_target.metrics, "push")
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Authorization"] = header
    status, answer = push_target.post(_json_line(valid_document(3)), headers)
    assert status == 401 and answer == {"error": "unauthorized"}
    assert rejected_total(push_target.metrics, "push") == before + 1


# -- feeds ----------------------------------------------------------------------------------------------

#: A DOCTYPE whose entities expand to 5**3 = 125 copies: a small "billion laughs", within limits.
ENTITY_BOMB = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE rss [\n<!ENTITY a "gallium export ban ">\n'
    b'<!ENTITY b "&a;&a;&a;&a;&a;">\n<!ENTITY c "&b;&b;&b;&b;&b;">\n<!ENTITY d "&c;&c;&c;&c;&c;">\n]>\n'
)
ENCODINGS = ["utf-16", "utf-16-le", "latin-1", "cp1252", "shift_jis", "koi8-r", "utf-32"]


def _reencode(data: bytes, encoding: str, declared: str | None) -> bytes:
    text = data.decode("utf-8", "replace")
    if declared is not None:
        text = re.sub(r'encoding="[^"]*"', f'encoding="{declared}"', text, count=1)
    return text.encode(encoding, "replace")


@st.composite
def mutated_feed(draw: st.DrawFn) -> bytes:
    """A real feed with bytes flipped, inserted or deleted, cut short, spliced with another feed,
    given a (small) entity bomb, or re-encoded with a wrong or missing encoding declaration."""
    data = bytearray(draw(st.sampled_from(FEED_SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        op = draw(
            st.sampled_from(["flip", "insert", "delete", "truncate", "splice", "bomb", "encode", "bom"])
        )
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(
                st.binary(max_size=16)
                | st.sampled_from(
                    [b"<", b"&", b"]]>", b"<![CDATA[", b"\x00", b"&#0;", b"&#xD800;", b"&bogus;", b"<item>"]
                )
            )
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            other = draw(st.sampled_from(FEED_SEEDS))
            data = data[:at] + other[draw(st.integers(0, len(other) - 1)) :]
        elif op == "bomb":
            body = bytes(data).split(b"?>", 1)[-1]
            body = re.sub(rb"<title>", b"<title>&d;", body, count=draw(st.integers(0, 3)))
            data = bytearray(ENTITY_BOMB + body)
        elif op == "encode":
            declared = draw(st.none() | st.sampled_from(["utf-8", "iso-8859-1", "utf-16", "x-bogus", ""]))
            data = bytearray(_reencode(bytes(data), draw(st.sampled_from(ENCODINGS)), declared))
        else:
            data[0:0] = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]))
    return bytes(data)


def assert_feed_documents(body: bytes, url: str) -> None:
    """Parse ``body`` and check every produced document (see the feed tests' docstrings)."""
    result = parse_feed(body, SOURCE, url=url, fetched=NOW)
    assert result.rejected >= 0 and len(result.documents) + result.rejected <= MAX_ITEMS
    for doc in result.documents:
        assert_valid_document(doc)
        assert doc.id.startswith("fuzz:") and len(doc.id) > len("fuzz:")
        assert doc.source == "fuzz" and len(doc.title) <= 4_000 and "\x00" not in doc.text
        assert doc.language is None or _LANGUAGE.fullmatch(doc.language)
        assert doc.published is None or doc.published <= NOW.replace(year=NOW.year + 1)


@given(mutated_feed(), st.sampled_from(["https://ex.org/feed.xml", "file:///tmp/feed.xml"]))
def test_mutated_feeds_never_crash_and_produce_only_valid_documents(body: bytes, url: str) -> None:
    """Any mutation of a real feed parses without an exception; each document has a non-empty
    ``fuzz:`` id, text, an http(s) URL or none, an aware date or none, a well-formed language or none."""
    assert_feed_documents(body, url)


raw_field = (
    st.none() | st.text(max_size=80) | nasty_text | st.sampled_from(["<p>", "&amp;lt;b&amp;gt;", "<!--"])
)


@given(
    st.builds(
        RawItem,
        guid=raw_field,
        title=raw_field,
        text=raw_field,
        url=raw_field
        | st.sampled_from(["http://[::1", "https://h:99999/", "//ex.org/a", "HTTP://EX.ORG:80/"]),
        published=st.none() | st.datetimes(timezones=st.none() | st.timezones()),
        language=raw_field,
    ),
    st.none() | st.sampled_from(["https://ex.org/a/", "file:///x", "::"]),
)
def test_normalise_returns_a_valid_document_or_none(item: RawItem, base: str | None) -> None:
    """Any raw item normalises to None (no title and no text) or to a valid document with a stable id."""
    document = normalise(item, source="fuzz", fetched=NOW, base_url=base)
    if document is not None:
        assert_valid_document(document)
        assert document.id.startswith("fuzz:")
        assert normalise(item, source="fuzz", fetched=NOW, base_url=base) == document


# -- rule files -----------------------------------------------------------------------------------------

RULE_KEYS = ["id", "type", "when", "severity", "group_by", "route_by", "suppress_for", "labels",
             "enabled", "threshold", "first_seen", "escalation", "max_evidence", "severity_policy",
             "description"]  # fmt: skip
BAD_VALUES: list[Any] = [
    None, "", "x" * 300, 10**30, -1, 0, 1.5, float("inf"), [], {}, [1, 2], {"a": 1}, "30x", "999999999999d",
    "-5d", True, "2024-13-45", {"regex": "("}, ["minerals", "minerals"], "source",
]  # fmt: skip
WHEN_MUTATIONS: list[dict[str, Any]] = [
    {"text": {"regex": "(unclosed"}},
    {"text": {"regex": "a{99999999999}"}},
    {"text": {"regex": "(?P<x>a)(?P<x>b)"}},
    {"text": {"regex": "(?i)gallium", "keywords": ["cobalt"]}},
    {"text": {"regex": "(" * 500 + ")" * 500}},
    {"text": {}},
    {"exclude_text": {"keywords": [], "regex": ""}},
    {"measures": ["not_a_measure"]},
    {"directions": ["sideways"]},
    {"critical_lists": ["usgs_1900"]},
    {"tags": {"k": 5}},
    {"minerals": "gallium"},
    {"countries": [None]},
]


@st.composite
def mutated_rule_pack(draw: st.DrawFn) -> str:
    """The default pack with keys deleted, wrong types, unknown fields, bad regexes, huge numbers,
    anchors/aliases, or its text damaged."""
    rules = [dict(rule) for rule in DEFAULT_RULES]
    rules = draw(st.lists(st.sampled_from(rules), min_size=1, max_size=3, unique_by=lambda r: r["id"]))
    rules = [dict(rule) for rule in rules]
    top: dict[Any, Any] = {"rules": rules}
    for _ in range(draw(st.integers(1, 3))):
        rule = draw(st.sampled_from(rules))
        op = draw(st.sampled_from(["delete", "wrong", "unknown", "when", "huge", "top", "dup"]))
        key = draw(st.sampled_from(RULE_KEYS))
        if op == "delete":
            rule.pop(key, None)
        elif op == "wrong":
            rule[key] = draw(st.sampled_from(BAD_VALUES) | json_values)
        elif op == "unknown":
            rule[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
        elif op == "when":
            when = rule.get("when")
            rule["when"] = {
                **(when if isinstance(when, dict) else {}),
                **draw(st.sampled_from(WHEN_MUTATIONS)),
            }
        elif op == "huge":
            rule[draw(st.sampled_from(["max_evidence", "suppress_for"]))] = draw(
                st.sampled_from([10**20, 10**400, 1e308, "1e308d", "99999999999999999d"])
            )
        elif op == "top":
            top[draw(st.sampled_from([1, None, "rulez", True]))] = draw(json_values)
        else:
            rules.append(dict(rule))
    text = yaml.safe_dump(top, allow_unicode=True, sort_keys=False)
    damage = draw(
        st.sampled_from(["none", "none", "alias", "bomb", "recursive", "bytes", "tab", "date", "deep"])
    )
    if damage == "alias":
        text = text.replace(
            "rules:\n", "rules:\n- &shared {id: shared-a, when: {measures: [export_ban]}}\n", 1
        )
        text += "- {id: shared-b, when: *shared}\n"
    elif damage == "bomb":
        levels = "".join(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]\n" for i in range(1, 8))
        text = "x0: &x0 [a, a, a, a, a, a, a, a, a]\n" + levels + text
    elif damage == "recursive":
        text = text.replace("rules:\n", "rules:\n- &me {id: me, labels: {self: *me}}\n", 1)
    elif damage == "bytes":
        data = bytearray(text.encode("utf-8"))
        for _ in range(draw(st.integers(1, 5))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(32, 126))
        text = data.decode("utf-8", "replace")
    elif damage == "tab":
        text = text.replace("  ", "\t", 1)
    elif damage == "date":
        text += "when: 2024-13-45\n"
    elif damage == "deep":
        text = "rules: " + "[" * 600 + "]" * 600
    return text


def assert_config_error_names(err: ConfigError, origin: str) -> None:
    """A rule-file error starts with the file's name."""
    assert str(err).startswith(f"{origin}: "), str(err)


@given(mutated_rule_pack())
def test_parse_rules_returns_rules_or_a_config_error_naming_the_file(text: str) -> None:
    """Any mutated rule pack gives validated rules or a :class:`ConfigError` whose message names the file."""
    try:
        rules = parse_rules(text, "packs/fuzz.yaml")
    except ConfigError as err:
        assert_config_error_names(err, "packs/fuzz.yaml")
    else:
        assert all(rule.source == "packs/fuzz.yaml" for rule in rules)


@given(mutated_rule_pack(), st.sampled_from(["utf-8", "utf-16", "latin-1", "flip"]))
@settings(max_examples=FEW)
def test_ruleset_load_raises_only_config_error_naming_the_file(text: str, encoding: str) -> None:
    """Written to disk in any encoding (or with invalid UTF-8), a rule file loads or raises a
    :class:`ConfigError` naming its path; never another error."""
    data = b"\xff\xfe" + text.encode("utf-8") if encoding == "flip" else text.encode(encoding, "replace")
    with temporary_file(data, ".yaml") as path:
        try:
            ruleset = RuleSet.load([path])
        except ConfigError as err:
            assert_config_error_names(err, str(path))
        else:
            assert ruleset.rules


@pytest.fixture(scope="module")
def rule_holder(tmp_path_factory: pytest.TempPathFactory) -> tuple[RuleHolder, Path]:
    """A :class:`RuleHolder` over one file holding the default pack."""
    path = tmp_path_factory.mktemp("fuzz-rules") / "pack.yaml"
    path.write_text(DEFAULT_RULES_TEXT, encoding="utf-8")
    return RuleHolder([path], Metrics(CollectorRegistry())), path


@settings(max_examples=FEW)
@given(mutated_rule_pack())
def test_rule_reload_keeps_the_old_rules_and_counts_each_rejected_file(
    rule_holder: tuple[RuleHolder, Path], text: str
) -> None:
    """A reload of a mutated file swaps in the new rules, or keeps the old set untouched and counts
    ``monitor_input_rejected_total{kind="rule_file"}`` once."""
    holder, path = rule_holder
    old = holder.current
    before = rejected_total(holder.metrics, "rule_file")
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    changed, message = holder.reload(force=True)
    after = rejected_total(holder.metrics, "rule_file")
    if changed:
        assert after == before and holder.current is not old
    else:
        assert after == before + 1, message
        assert holder.current is old and message.startswith("rejected, previous rules kept: ")
        assert str(path) in message


# -- subscription API -----------------------------------------------------------------------------------


async def fuzz_resolve(host: str, port: int) -> list[str]:
    """A resolver that fails like the system one (IDNA errors, unknown names) but never asks DNS.

    ``*.internal`` names resolve to a private address, so the SSRF refusal is exercised too.
    """
    host.encode("idna")  # what socket.getaddrinfo does first: raises UnicodeError for "a..b"
    if "\x00" in host or " " in host:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return ["10.1.2.3"] if host.endswith(".internal") else ["93.184.216.34"]


@dataclass
class ApiTarget:
    """The real API (create_app + delivery routes) over an SQLite store, with an admin key."""

    loop: Loop
    http: aiohttp.ClientSession
    base_url: str
    key: str
    metrics: Metrics

    def post(self, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
        """POST ``body`` with the admin key; return the status and the decoded JSON answer."""

        async def go() -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {self.key}", "Content-Type": content_type}
            async with self.http.post(f"{self.base_url}{path}", data=body, headers=headers) as response:
                text = await response.text()
                try:
                    return response.status, json.loads(text)
                except ValueError:
                    return response.status, text

        return self.loop.run(go())


@pytest.fixture(scope="module")
def api_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiTarget]:
    """The API served on 127.0.0.1 over a migrated SQLite store (as ``monitor.api.testing`` builds it)."""
    loop = Loop()
    directory = tmp_path_factory.mktemp("fuzz-api")
    metrics = Metrics(CollectorRegistry())
    store = SqlAlertStore(f"sqlite+aiosqlite:///{directory}/monitor.sqlite")
    closers: list[Callable[[], Coroutine[Any, Any, None]]] = []

    async def start() -> ApiTarget:
        await store.start()
        closers.append(store.close)
        deps = DeliveryApiDeps(
            store=store, feed=AlertFeed(), metrics=metrics, settings=fast_settings(), resolve=fuzz_resolve
        )

        async def ready() -> tuple[bool, list[str]]:
            return True, []

        app = create_app(ApiDeps(metrics=metrics, readiness=ready, route_installers=[delivery_routes(deps)]))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        closers.append(server.close)
        http = aiohttp.ClientSession()
        closers.append(http.close)
        key, _ = await create_key(store, "fuzz-admin", ["admin"])
        return ApiTarget(loop, http, str(server.make_url("")).rstrip("/"), key, metrics)

    target = loop.run(start())
    yield target

    async def stop() -> None:
        for close in reversed(closers):
            await close()

    loop.run(stop())
    loop.close()


def valid_subscription() -> dict[str, Any]:
    """A valid subscription body: webhook channel, weekly digest."""
    return {
        "name": "battery team",
        "filters": {"minerals": ["lithium", "cobalt"], "countries": ["CN"], "min_severity": "high"},
        "channel": {"type": "webhook", "url": "https://hooks.example.org/minerals"},
        "delivery": {"mode": "digest", "frequency": "weekly", "at": "08:30", "timezone": "Europe/Paris"},
    }


SUB_PATHS = [("name",), ("filters",), ("filters", "minerals"), ("filters", "countries"),
             ("filters", "measures"), ("filters", "min_severity"), ("filters", "directions"), ("channel",),
             ("channel", "type"), ("channel", "url"), ("channel", "secret"), ("delivery",),
             ("delivery", "mode"), ("delivery", "frequency"), ("delivery", "at"), ("delivery", "timezone"),
             ("delivery", "weekday"), ("enabled",)]  # fmt: skip
WEIRD_URLS = [
    "http://hooks.example.org:99999/x", "https://h:-1/", "http://[::1", "http://[::1]/", "https://a..b.com/",
    "https://" + "a" * 64 + ".com/", "https://\ud800.com/", "ftp://ex.org/", "https://user:pw@ex.org/",
    "https://hook.internal/x", "http://169.254.169.254/latest", "https://ex.org/" + "x" * 3000, "https://",
    "https://exa mple.org/", "https://ex\x00.org/", "javascript:alert(1)", "HTTPS://EX.ORG/", "https://ex.org:0/",
]  # fmt: skip
WEIRD_ZONES = ["America", "America/", "", "/etc/passwd", "a" * 5_000, "\x00", "Europe/../Europe/Paris", ".",
               "zone.tab", "posixrules", "UTC", "Etc/GMT+14", "\ud800"]  # fmt: skip
WEIRD_SECRETS = [None, "", "whsec_", "whsec_" + "A" * 22, "whsec_" + "A" * 22 + "===", "x" * 10_000, 5]


@st.composite
def mutated_subscription(draw: st.DrawFn) -> bytes:
    """A subscription body with fields deleted, wrong types, unknown fields, weird URLs, zones, secrets,
    nasty strings, or not a JSON object at all."""
    kind = draw(st.sampled_from(["mutated"] * 6 + ["value", "junk", "deep", "bigint"]))
    if kind == "value":
        return _json_line(draw(json_values))
    if kind == "junk":
        return draw(st.binary(max_size=100))
    if kind == "deep":
        return b'{"name": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    if kind == "bigint":
        return b'{"name": "n", "delivery": {"weekday": ' + b"1" * 5_000 + b"}}"
    body = valid_subscription()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(SUB_PATHS))
        parent: Any = body
        for part in path[:-1]:
            parent = parent.setdefault(part, {}) if isinstance(parent, dict) else {}
        if not isinstance(parent, dict):
            continue
        leaf = path[-1]
        op = draw(st.sampled_from(["delete", "wrong", "nasty", "unknown", "special"]))
        if op == "delete":
            parent.pop(leaf, None)
        elif op == "wrong":
            parent[leaf] = draw(json_values)
        elif op == "nasty":
            parent[leaf] = draw(nasty_text | st.just("x" * 10_000))
        elif op == "unknown":
            parent[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
        elif leaf == "url":
            parent[leaf] = draw(st.sampled_from(WEIRD_URLS))
        elif leaf == "timezone":
            parent[leaf] = draw(st.sampled_from(WEIRD_ZONES))
        elif leaf == "secret":
            parent[leaf] = draw(st.sampled_from(WEIRD_SECRETS))
        elif leaf == "type":
            parent[leaf] = draw(st.sampled_from(["webhook", "slack", "teams", "alertmanager", "email", ""]))
        elif leaf == "at":
            parent[leaf] = draw(st.sampled_from(["25:00", "08:00+02:00", "8", "", "23:59:59.999999"]))
        elif leaf == "weekday":
            parent[leaf] = draw(st.sampled_from([-1, 7, 10**30, "mon", 3.5]))
        else:
            parent[leaf] = draw(st.sampled_from([[], [""], ["ZZZ"], ["cn", " us "], "all", None]))
    return _json_line(body)


def check_subscription_answer(target: ApiTarget, body: bytes) -> tuple[int, Any]:
    """POST ``body`` and check the answer and the counter; return them."""
    before = rejected_total(target.metrics, "api")
    status, answer = target.post("/api/v1/subscriptions", body)
    after = rejected_total(target.metrics, "api")
    assert status in (201, 400), (status, answer)
    assert isinstance(answer, dict), answer
    if status == 201:
        assert answer["id"].startswith("sub_") and after == before
    else:
        error = answer["error"]
        assert error["code"] in ("invalid", "invalid_json", "unsafe_url"), error
        assert isinstance(error["field"], str) and error["field"], error
        assert error["message"], error
        assert after == before + 1
    return status, answer


@settings(max_examples=FEW)
@given(mutated_subscription())
def test_subscription_api_answers_201_or_400_naming_a_field(api_target: ApiTarget, body: bytes) -> None:
    """Any POST body gives 201 or a 400 ``{"error": {code, message, field}}``, never a 500; each 400 is
    counted once in ``monitor_input_rejected_total{kind="api"}``."""
    check_subscription_answer(api_target, body)


# -- the extractor --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    """One extractor for the module (building it loads spaCy)."""
    return Extractor()


junk_text = st.binary(max_size=400).map(lambda b: b.decode("utf-8", "surrogateescape"))
long_token = st.builds(
    lambda ch, n, pad: pad + ch * n + pad,
    st.sampled_from(["x", "9", "-", ".", "\u00e9", "\ud800", "\x00", "gallium"]),
    st.integers(1_000, 60_000),
    st.sampled_from(["", " ", "China banned gallium exports. "]),
)
news_words = st.lists(
    st.sampled_from(["China", "gallium", "export", "ban", "lifted", "U.S.-China", "licence", "1", "December",
                     "2025", ".", "the", "of", "DRC", "cobalt", "\n\n", "tariff", "25%", "on", "from"]),
    max_size=60,
).map(" ".join)  # fmt: skip
any_text = st.text(max_size=600) | junk_text | long_token | news_words | nasty_text


@given(any_text, st.one_of(st.just(""), st.text(max_size=80), junk_text, news_words))
def test_extractor_returns_an_extraction_with_spans_in_bounds(
    extractor: Extractor, text: str, title: str
) -> None:
    """Any text gives an :class:`Extraction`, never an exception; every span lies within the analysed
    text and (when nothing was cut) carries exactly the characters it points at."""
    result = extractor.extract(text, title)
    assert isinstance(result, Extraction)
    full = clean(analysed_text(title, text))
    for span in result.spans:
        assert 0 <= span.start <= span.end <= len(full), span
        if not result.truncated:
            assert span.text == full[span.start : span.end], span


# -- regressions: the crashes this fuzzing found --------------------------------------------------------


@pytest.mark.parametrize("published", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_regression_published_at_the_calendar_edge_is_no_overflow(published: str) -> None:
    """Shifting such a date to UTC overflowed (OverflowError out of parse_payload, a 500 on push)."""
    document = parse_payload({"id": "a", "text": "gallium", "published": published}, "push", NOW)
    assert document.published is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [(b'{"id": "a", "text": "b", "n": ' + b"1" * 5_000 + b"}", "number is too large"),
     (b"[" * 100_000 + b"]" * 100_000, "nested too deeply")],
)  # fmt: skip
def test_regression_jsonl_line_over_python_json_limits_is_a_line_error(line: bytes, reason: str) -> None:
    """A 5,000-digit integer (ValueError) or deep nesting (RecursionError) escaped read_jsonl."""
    with temporary_file(line + b"\n" + _json_line(valid_document(1))) as path:
        first, second = list(read_jsonl(path))
    assert isinstance(first, LineError) and first.line == 1 and reason in first.reason
    assert isinstance(second, Document)


@pytest.mark.parametrize(
    "body", [b'{"id": "a", "text": "b", "n": ' + b"1" * 5_000 + b"}", b"[" * 30_000 + b"]" * 30_000]
)
def test_regression_push_body_over_python_json_limits_is_a_400(push_target: PushTarget, body: bytes) -> None:
    """The same two bodies made the push endpoint answer 500."""
    status, answer = push_target.post(body, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 400 and answer["details"][0]["field"] == "(body)"


@pytest.mark.parametrize(
    "text",
    [
        "rules: []\nwhen: 2024-13-45\n",  # PyYAML's timestamp constructor: ValueError
        "rules: !!timestamp not-a-date\n",  # AttributeError inside PyYAML
        "1: a\nb: c\n",  # sorting mixed-type top-level keys: TypeError
        "rules:\n- {id: a, suppress_for: 100000000000000000000}\n",  # timedelta OverflowError
        "rules:\n- {id: a, suppress_for: .inf}\n",
        "rules:\n- {id: a, type: threshold, threshold: {window: 99999999999999999d}}\n",
        "rules:\n- {id: a, max_evidence: " + "9" * 5_000 + "}\n",  # int over 4300 digits: ValueError
        "rules: " + "[" * 600,  # PyYAML's composer: RecursionError
        "rules:\n- {id: a, when: {text: {regex: 'a{99999999999}'}}}\n",  # re.compile: OverflowError
        # Valid alone but not inside the "(?:...)" evaluation builds: failed at the first event, not at load.
        "rules:\n- {id: a, when: {text: {regex: '(?i)gallium'}}}\n",
        "rules:\n- &me {id: me, labels: {self: *me}}\n",  # a value containing itself
        "x0: &x0 [a, a, a, a, a, a, a, a, a]\n"
        + "".join(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]\n" for i in range(1, 9))
        + "rules:\n- {id: bomb, labels: {k: *x8}}\n",  # alias bomb: str() of 9**9 values hung the load
    ],
)
def test_regression_rule_file_crashes_are_config_errors_naming_the_file(text: str) -> None:
    """Each of these escaped parse_rules as a plain Python error (or never returned)."""
    with pytest.raises(ConfigError) as caught:
        parse_rules(text, "packs/bad.yaml")
    assert_config_error_names(caught.value, "packs/bad.yaml")


def test_regression_rule_file_not_utf8_is_a_config_error_naming_the_file() -> None:
    """A rule file in Latin-1 raised UnicodeDecodeError out of RuleSet.load (and of RuleHolder.reload)."""
    with temporary_file("rules:\n- {id: caf\u00e9}\n".encode("latin-1"), ".yaml") as path:
        with pytest.raises(ConfigError, match="not UTF-8") as caught:
            RuleSet.load([path])
        assert_config_error_names(caught.value, str(path))


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("channel", "url"), "https://hooks.example.org:99999/x", "channel.url"),  # ValueError from .port
        (("channel", "url"), "https://a..b.example.org/x", "channel.url"),  # UnicodeError from IDNA
        (("channel", "url"), "https://" + "a" * 64 + ".example.org/", "channel.url"),
        (("delivery", "timezone"), "America", "delivery.timezone"),  # IsADirectoryError from ZoneInfo
        (("delivery", "timezone"), "a" * 5_000, "delivery.timezone"),  # OSError: file name too long
    ],
)
def test_regression_subscription_inputs_that_answered_500(
    api_target: ApiTarget, path: tuple[str, str], value: str, field: str
) -> None:
    """Each of these answered 500; now a 400 naming the field, counted as a rejected input."""
    body = valid_subscription()
    body[path[0]][path[1]] = value
    status, answer = check_subscription_answer(api_target, _json_line(body))
    assert status == 400 and answer["error"]["field"] == field


@pytest.mark.parametrize(
    "body",
    [b'{"name": "n", "x": ' + b"1" * 5_000 + b"}", b'{"name": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"],
)
def test_regression_subscription_body_over_python_json_limits_is_a_400(
    api_target: ApiTarget, body: bytes
) -> None:
    """A 5,000-digit integer or deep nesting in the body answered 500."""
    status, answer = check_subscription_answer(api_target, body)
    assert status == 400 and answer["error"] == {
        "code": "invalid_json",
        "field": "(body)",
        "message": answer["error"]["message"],
    }


def test_regression_subscription_key_with_a_lone_surrogate_names_the_body(api_target: ApiTarget) -> None:
    """pydantic reports such a body without a location: the 400 named no field."""
    body = {**valid_subscription(), "x\ud800": 1}
    status, answer = check_subscription_answer(api_target, _json_line(body))
    assert status == 400 and answer["error"]["field"] == "(body)"


def test_subscription_rejections_are_counted_per_error_code(api_target: ApiTarget) -> None:
    """Refused subscription bodies were not counted anywhere; now each is, by its error code."""
    before = {
        code: api_target.metrics.registry.get_sample_value(
            "monitor_input_rejected_total", {"kind": "api", "reason": code}
        )
        or 0.0
        for code in ("invalid", "invalid_json", "unsafe_url")
    }
    bad_url = {**valid_subscription(), "channel": {"type": "slack", "url": "https://hook.internal/x"}}
    for body in (b"{", _json_line({"name": ""}), _json_line(bad_url)):
        assert check_subscription_answer(api_target, body)[0] == 400
    for code in before:
        value = api_target.metrics.registry.get_sample_value(
            "monitor_input_rejected_total", {"kind": "api", "reason": code}
        )
        assert value == before[code] + 1, code
