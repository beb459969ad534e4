"""Property tests of ingestion: the feed parser and the normaliser never crash, whatever the bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.ingest.cluster import ClusterIndex
from monitor.ingest.feed import parse_feed
from monitor.ingest.normalise import canonical_url, document_id, strip_html
from monitor.ingest.sources import FeedSource

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
SAMPLES = [p.read_bytes() for p in sorted(FEEDS.glob("*")) if p.suffix in (".xml", ".rdf", ".html")]
SOURCE = FeedSource.model_validate({"id": "prop", "kind": "feed", "url": "https://ex.org/feed.xml"})
NOW = datetime(2025, 6, 1, tzinfo=UTC)


@st.composite
def mutated_feed(draw: st.DrawFn) -> bytes:
    """A real feed file with bytes flipped, inserted, deleted or the document cut short."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(
                st.binary(max_size=16) | st.sampled_from([b"<", b"&", b"]]>", b"<![CDATA[", b"\x00"])
            )
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 32))]
        else:
            del data[at:]
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_feed())
def test_feed_parser_never_crashes_on_mutated_feeds(body: bytes) -> None:
    result = parse_feed(body, SOURCE, url="https://ex.org/feed.xml", fetched=NOW)
    for doc in result.documents:
        assert doc.id.startswith("prop:") and doc.text
        assert doc.url is None or doc.url.startswith(("http://", "https://"))
        assert doc.published is None or doc.published.tzinfo is not None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2_000))
def test_feed_parser_never_crashes_on_random_bytes(body: bytes) -> None:
    parse_feed(body, SOURCE, url="https://ex.org/feed.xml", fetched=NOW)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_strip_html_never_crashes_and_is_idempotent_on_plain_text(value: str) -> None:
    text = strip_html(value)
    assert "\x00" not in text
    plain = strip_html(text.replace("<", " ").replace("&", " "))
    assert strip_html(plain) == plain


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.one_of(st.none(), st.just("https://ex.org/a/b"), st.text(max_size=50)))
@example("0 #", "https://ex.org/a/b")  # regression: a raw space kept in the path was not a fixed point
def test_canonical_url_never_crashes_and_is_a_fixed_point(value: str, base: str | None) -> None:
    url = canonical_url(value, base)
    if url is not None:
        assert url.startswith(("http://", "https://"))
        assert canonical_url(url) == url


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=50))
def test_ids_and_clusters_are_deterministic(text: str, guid: str) -> None:
    assert document_id("s", guid=guid, url=None, title="", text=text) == document_id(
        "s", guid=guid, url=None, title="", text=text
    )
    index = ClusterIndex()
    first = index.assign("k", text)
    assert index.assign("k", text) == first and ClusterIndex().assign("k", text) == first
