"""Normalisation: text, URLs, ids, dates and the backfill output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.ingest.normalise import (
    RawItem,
    canonical_url,
    document_id,
    document_output,
    normalise,
    parse_datetime,
    strip_html,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>A &amp; B</p><p>Second</p>", "A & B\nSecond"),
        ("caf&eacute; &mdash; d&#233;j&#xE0;", "café — déjà"),
        ("&lt;p&gt;double &amp;amp; escaped&lt;/p&gt;", "double & escaped"),
        ("<div>keep<script>alert(1)</script><style>p{}</style> this</div>", "keep this"),
        ("  lots \t of\u00a0  space  ", "lots of space"),
        ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
        ("a < b and c > d", "a < b and c > d"),
        ("<b>unclosed <i>tags", "unclosed tags"),
        ("", ""),
        (None, ""),
    ],
)
def test_strip_html(html: str | None, text: str) -> None:
    assert strip_html(html) == text


@pytest.mark.parametrize(
    ("url", "base", "canonical"),
    [
        ("https://Ex.ORG:443/a?utm_source=x&utm_medium=y&id=3", None, "https://ex.org/a?id=3"),
        ("http://ex.org:80/a?fbclid=1&gclid=2&b=2&a=1#frag", None, "http://ex.org/a?a=1&b=2"),
        (
            "/notices/1.html?mc_cid=9",
            "https://rel.example.org/news/",
            "https://rel.example.org/notices/1.html",
        ),
        ("notices/2.html", "https://rel.example.org/news/", "https://rel.example.org/news/notices/2.html"),
        ("https://ex.org", None, "https://ex.org/"),
        ("https://ex.org:8443/x", None, "https://ex.org:8443/x"),
        ("javascript:alert(1)", None, None),
        ("mailto:a@example.org", None, None),
        ("not a url", None, None),
        ("http://[::1", None, None),
        ("", None, None),
    ],
)
def test_canonical_url(url: str, base: str | None, canonical: str | None) -> None:
    assert canonical_url(url, base) == canonical


def test_id_prefers_guid_then_url_then_content() -> None:
    by_guid = document_id("s", guid="g-1", url="https://a.example/1", title="t", text="x")
    assert by_guid == document_id("s", guid="g-1", url="https://b.example/2", title="u", text="y")
    by_url = document_id("s", guid=None, url="https://a.example/1", title="t", text="x")
    assert by_url == document_id("s", guid="", url="https://a.example/1", title="other", text="other")
    by_content = document_id("s", guid=None, url=None, title="Title", text="Some  text")
    assert by_content == document_id("s", guid=None, url=None, title="title", text="some text")
    assert len({by_guid, by_url, by_content}) == 3
    assert by_guid.startswith("s:") and document_id("t", guid="g-1", url=None, title="", text="") != by_guid


def test_permalink_guid_with_tracking_parameter_keeps_the_id() -> None:
    a = document_id("s", guid="https://ex.org/n/1?utm_source=rss", url=None, title="", text="")
    b = document_id("s", guid="https://ex.org/n/1?utm_source=mail&fbclid=z", url=None, title="", text="")
    assert a == b


def test_normalise_builds_a_document() -> None:
    item = RawItem(
        guid="n-1",
        title="<b>Gallium</b> &amp; germanium",
        text="<p>Licence required.</p>",
        url="/n/1?utm_source=rss",
        published=datetime(2023, 7, 3, 8, 0, tzinfo=UTC),
        language="EN_us",
    )
    doc = normalise(
        item, source="src", fetched=NOW, base_url="https://ex.org/feed.xml", tags={"country": "CN"}
    )
    assert doc is not None
    assert (doc.title, doc.text, doc.url) == (
        "Gallium & germanium",
        "Licence required.",
        "https://ex.org/n/1",
    )
    assert doc.published == datetime(2023, 7, 3, 8, 0, tzinfo=UTC) and doc.fetched == NOW
    assert doc.language == "en-us" and doc.tags == {"country": "CN"} and doc.source == "src"


def test_normalise_uses_title_as_text_and_drops_empty_items() -> None:
    doc = normalise(RawItem(title="Only a title"), source="s", fetched=NOW)
    assert doc is not None and doc.text == "Only a title"
    assert normalise(RawItem(title=" ", text="<p> </p>"), source="s", fetched=NOW) is None


@pytest.mark.parametrize(
    "published",
    [datetime(1970, 1, 1, tzinfo=UTC), NOW + timedelta(days=365), None],
)
def test_absurd_or_missing_dates_become_none(published: datetime | None) -> None:
    doc = normalise(RawItem(title="t", published=published), source="s", fetched=NOW)
    assert doc is not None and doc.published is None


def test_naive_dates_are_taken_as_utc() -> None:
    doc = normalise(RawItem(title="t", published=datetime(2024, 1, 2, 3, 4)), source="s", fetched=NOW)
    assert doc is not None and doc.published == datetime(2024, 1, 2, 3, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-10T09:30:00Z", datetime(2025, 1, 10, 9, 30, tzinfo=UTC)),
        ("2025-01-10T09:30:00+01:00", datetime(2025, 1, 10, 8, 30, tzinfo=UTC)),
        ("2024-12-05", datetime(2024, 12, 5, tzinfo=UTC)),
        ("Tue, 04 Feb 2025 08:00:00 +0800", datetime(2025, 2, 4, 0, 0, tzinfo=UTC)),
        (1735689600, datetime(2025, 1, 1, tzinfo=UTC)),
        (1735689600000, datetime(2025, 1, 1, tzinfo=UTC)),
        ("last week", None),
        ("", None),
        (None, None),
        (True, None),
        ([2025], None),
        (1e30, None),
    ],
)
def test_parse_datetime(value: object, expected: datetime | None) -> None:
    assert parse_datetime(value) == expected


def test_document_output_has_the_backfill_fields() -> None:
    doc = normalise(
        RawItem(
            guid="g", title="T", text="x", url="https://ex.org/a", published=datetime(2024, 1, 1, tzinfo=UTC)
        ),
        source="s",
        fetched=NOW,
    )
    assert doc is not None
    out = document_output(doc)
    assert list(out) == ["id", "title", "text", "url", "published", "source", "cluster_id"]
    assert out["published"] == "2024-01-01T00:00:00+00:00" and out["cluster_id"] is None
