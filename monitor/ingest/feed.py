"""The feed connector: RSS 0.9x, 1.0 (RDF), 2.0 and Atom, parsed by feedparser.

:func:`parse_feed` is pure (bytes in, documents out) and never raises on malformed input: a
feed that parses only partly (feedparser's ``bozo``) yields what it could and is flagged
``malformed``. :func:`poll_feed` adds the conditional GET.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.ingest.fetch import Fetcher, FetchError
from monitor.ingest.harvest import Harvest
from monitor.ingest.normalise import RawItem, normalise
from monitor.ingest.sources import FeedSource
from monitor.records import Document

__all__ = ["FeedParse", "parse_feed", "poll_feed"]

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.8, "
    "text/xml;q=0.8, */*;q=0.1"
)
#: Items taken from one feed document; huge archives are cut, not parsed into memory without end.
MAX_ITEMS = 1_000


@dataclass(frozen=True)
class FeedParse:
    """The result of parsing one feed document."""

    documents: list[Document] = field(default_factory=list)
    rejected: int = 0
    malformed: bool = False
    reason: str | None = None
    ttl_s: float | None = None
    version: str = ""


def _struct_to_datetime(value: Any) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _entry_date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict.get maps missing keys to others with a DeprecationWarning.
        value = _struct_to_datetime(dict.get(entry, key)) if isinstance(entry, dict) else None
        if value is not None:
            return value
    return None


def _entry_text(entry: Any) -> str:
    contents = entry.get("content") or []
    for content in contents:
        value = content.get("value") if isinstance(content, dict) else None
        if value:
            return str(value)
    return str(entry.get("summary") or entry.get("description") or "")


def _entry_language(entry: Any) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if isinstance(detail, dict) and detail.get("language"):
            return str(detail["language"])
    return None


def _ttl_seconds(feed: Any) -> float | None:
    ttl = feed.get("ttl")
    try:
        minutes = float(ttl) if ttl is not None else None
    except (TypeError, ValueError):
        return None
    return minutes * 60.0 if minutes and minutes > 0 else None


def _is_malformed(parsed: Any) -> tuple[bool, str | None]:
    if not parsed.get("bozo"):
        return False, None
    error = parsed.get("bozo_exception")
    # A server mislabelling a good feed (text/html, text/plain) is not a malformed feed.
    if isinstance(error, feedparser.NonXMLContentType):
        return False, None
    return True, type(error).__name__ if error is not None else "bozo"


def parse_feed(
    body: bytes,
    source: FeedSource,
    *,
    url: str,
    fetched: datetime,
    content_type: str | None = None,
) -> FeedParse:
    """Parse a feed document into normalised documents; never raises on malformed input.

    ``url`` is where the feed was fetched (after redirects): relative links resolve against it
    (or the feed's ``xml:base``).
    """
    web = url.startswith(("http://", "https://"))
    headers = {"content-type": content_type or "application/xml"}
    if web:
        headers["content-location"] = url
    try:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False)
    except Exception as err:  # feedparser has no documented error set; never crash a poll
        return FeedParse(malformed=True, reason=f"{type(err).__name__}")
    malformed, reason = _is_malformed(parsed)
    feed = parsed.get("feed") or {}
    # feedparser resolves relative links against xml:base and the feed URL; a local file has no
    # web address, so its links resolve against the site link the feed declares.
    base = url if web else (str(feed.get("link") or "") or None)
    language = feed.get("language") or source.language
    documents: list[Document] = []
    rejected = 0
    for entry in (parsed.get("entries") or [])[:MAX_ITEMS]:
        try:
            item = RawItem(
                guid=entry.get("id") or None,
                title=str(entry.get("title") or ""),
                text=_entry_text(entry),
                url=entry.get("link") or None,
                published=_entry_date(entry),
                language=_entry_language(entry),
            )
            document = normalise(
                item,
                source=source.id,
                fetched=fetched,
                base_url=base,
                tags=dict(source.tags),
                language=language if isinstance(language, str) else None,
            )
        except (TypeError, ValueError, AttributeError):
            document = None
        if document is None:
            rejected += 1
        else:
            documents.append(document)
    return FeedParse(
        documents=documents,
        rejected=rejected,
        malformed=malformed,
        reason=reason,
        ttl_s=_ttl_seconds(feed),
        version=str(parsed.get("version") or ""),
    )


async def poll_feed(
    source: FeedSource,
    fetcher: Fetcher,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    now: datetime | None = None,
) -> Harvest:
    """Fetch and parse one feed, conditionally. Raises :class:`FetchError` when the fetch fails."""
    response = await fetcher.get(
        source.url, headers=source.headers, etag=etag, last_modified=last_modified, accept=FEED_ACCEPT
    )
    if response.not_modified:
        return Harvest(
            not_modified=True,
            floor_s=response.max_age,
            etag=response.etag or etag,
            last_modified=response.last_modified or last_modified,
        )
    fetched = now or datetime.now(UTC)
    result = parse_feed(
        response.body, source, url=response.url, fetched=fetched, content_type=response.content_type
    )
    if not result.documents and not result.version:
        raise FetchError("parse", f"not a feed ({result.reason or 'no items'})")
    floors = [f for f in (response.max_age, result.ttl_s) if f]
    return Harvest(
        documents=result.documents,
        malformed=result.malformed,
        rejected=result.rejected,
        floor_s=max(floors) if floors else None,
        etag=response.etag,
        last_modified=response.last_modified,
    )
