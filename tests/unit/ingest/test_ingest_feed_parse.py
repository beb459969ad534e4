"""The feed parser on real-world-shaped files: RSS 0.91/1.0/2.0, Atom, bad encodings, broken XML."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.ingest.feed import FeedParse, parse_feed
from monitor.ingest.sources import FeedSource

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
Parse = Callable[..., FeedParse]


@pytest.fixture
def parse(feeds: Path, make_feed_source: Callable[..., FeedSource]) -> Parse:
    """Parse a file of tests/data/feeds as if fetched from ``url``."""

    def run(name: str, url: str = "https://feeds.example.org/feed.xml", **source: object) -> FeedParse:
        return parse_feed((feeds / name).read_bytes(), make_feed_source(**source), url=url, fetched=NOW)

    return run


def test_rss20(parse: Parse) -> None:
    result = parse("rss20.xml", tags={"authority": "MOFCOM"})
    assert not result.malformed and result.version == "rss20" and result.ttl_s == 1800
    first, second, third = result.documents
    assert first.title == "Export licence requirement for gallium items"
    assert first.url == "https://notices.example.org/n/101?id=101"
    assert first.published == datetime(2023, 7, 3, 0, 0, tzinfo=UTC)
    assert first.language == "en-us" and first.tags == {"authority": "MOFCOM"} and first.source == "test-feed"
    assert second.text == "Natural flake graphite and spherical graphite require an export licence."
    assert third.published == datetime(2024, 8, 15, 0, 0, tzinfo=UTC)
    assert len({d.id for d in result.documents}) == 3


def test_atom_with_xml_base_and_escaped_html(parse: Parse) -> None:
    result = parse("atom.xml")
    assert result.version == "atom10" and not result.malformed
    crma, projects = result.documents
    assert crma.title == "Critical Raw Materials Act \u2013 entry into force"
    assert crma.text == "Benchmarks for extraction, processing & recycling."
    assert crma.url == "https://press.example.eu/en/news/crma"
    assert crma.published == datetime(2024, 5, 23, 7, 0, tzinfo=UTC)
    assert projects.text == "47 projects covering lithium, nickel and cobalt."
    assert crma.language == "en"


def test_rss10_rdf(parse: Parse) -> None:
    result = parse("rss10.rdf")
    assert result.version == "rss10"
    assert [d.url for d in result.documents] == [
        "https://wire.example.com/story/cobalt",
        "https://wire.example.com/story/nickel",
    ]
    assert result.documents[0].published == datetime(2025, 2, 22, 18, 0, tzinfo=UTC)


def test_rss091(parse: Parse) -> None:
    result = parse("rss091.xml")
    assert result.version.startswith("rss09")
    (doc,) = result.documents
    assert doc.title == "Tungsten quota announced" and doc.published is None


def test_mislabelled_encoding_is_ingested_and_flagged(parse: Parse) -> None:
    result = parse("bad-encoding.xml")
    assert result.malformed
    (doc,) = result.documents
    assert "Café ministry" in doc.title and "Président" in doc.text


def test_missing_and_absurd_dates(parse: Parse) -> None:
    result = parse("missing-dates.xml")
    dates = {d.title: d.published for d in result.documents}
    assert dates["No date at all"] is None
    assert dates["Epoch date"] is None
    assert dates["Far future date"] is None
    assert dates["Garbage date"] is None
    assert dates["Good date"] == datetime(2025, 2, 4, 0, 0, tzinfo=UTC)


def test_html_entities_are_decoded(parse: Parse) -> None:
    first, second = parse("entities.xml").documents
    assert first.title == "Rare earths: Ministry\u2019s new list & licences"
    assert first.text == "Samarium & gadolinium items — café 5 < 6\nSecond\nline"
    assert second.title == "Dysprosium & terbium licences"
    assert second.text == "Dysprosium\nTerbium é"


def test_relative_links_resolve_against_the_feed(parse: Parse) -> None:
    docs = parse("relative-links.xml", url="https://rel.example.org/news/feed.xml").documents
    assert [d.url for d in docs] == [
        "https://rel.example.org/notices/1.html",
        "https://rel.example.org/news/notices/2.html",
        None,
        None,
    ]
    assert len({d.id for d in docs}) == 4


def test_local_file_feed_resolves_links_against_its_site_link(parse: Parse, feeds: Path) -> None:
    docs = parse("relative-links.xml", url=(feeds / "relative-links.xml").as_uri()).documents
    assert docs[0].url == "https://rel.example.org/notices/1.html"


def test_malformed_feed_yields_what_parses(parse: Parse) -> None:
    result = parse("malformed.xml")
    assert result.malformed and result.reason
    assert result.documents[0].title == "First item survives"


def test_not_a_feed_has_no_version(parse: Parse) -> None:
    result = parse("not-a-feed.html")
    assert result.documents == [] and result.version == ""


def test_ids_are_stable_across_parses(parse: Parse) -> None:
    first = [d.id for d in parse("rss20.xml").documents]
    again = [d.id for d in parse("rss20.xml").documents]
    assert first == again


def test_empty_body_never_raises(make_feed_source: Callable[..., FeedSource]) -> None:
    result = parse_feed(b"", make_feed_source(), url="https://ex.org/f", fetched=NOW)
    assert result.documents == []
