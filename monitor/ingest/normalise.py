"""Turn what a connector found into one :class:`Document`: pure functions, no I/O.

- ``id``: ``<source>:<digest>`` of the item's GUID, else of its canonical URL, else of its content,
  so that it is stable across polls, restarts and changed tracking parameters;
- ``title`` and ``text``: HTML stripped, entities decoded, whitespace collapsed;
- ``url``: canonical (relative links resolved, tracking parameters and fragments removed);
- ``published``: aware UTC, or None when missing or absurd (see :func:`payload.plausible_published`).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from monitor.ingest.payload import plausible_published
from monitor.records import Document

__all__ = [
    "RawItem",
    "canonical_url",
    "document_id",
    "document_output",
    "normalise",
    "parse_datetime",
    "strip_html",
]

#: Query parameters that only track a click; they never change what a URL points to.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
        "ref_url",
        "spm",
        "cmpid",
        "wt.mc_id",
        "s_cid",
        "ito",
        "oly_enc_id",
        "oly_anon_id",
        "vero_id",
        "rb_clickid",
        "__s",
        "trk",
        "trkcampaign",
        "sc_campaign",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SPACE = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\s*\n\s*(?:\n\s*)+")
_MAX_TITLE = 4_000
_TAG = re.compile(r"<[A-Za-z/!?]")
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
     "section", "article", "header", "footer", "pre", "hr", "dd", "dt"}
)  # fmt: skip


class _TextExtractor(HTMLParser):
    """Collect the text of an HTML fragment; block elements become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _extract_text(value: str) -> str:
    parser = _TextExtractor()
    try:
        parser.feed(value)
        parser.close()
    except Exception:  # HTMLParser may raise on pathological input; fall back to a regex
        return html.unescape(re.sub(r"<[^>]*>", " ", value))
    return "".join(parser.parts)


def strip_html(value: str | None) -> str:
    """Plain text of an HTML (or plain) fragment: tags removed, entities decoded, whitespace collapsed.

    Paragraphs are kept as single blank-line-free line breaks. Never raises on malformed markup.
    """
    if not value:
        return ""
    text = value
    # Two passes: feeds often escape their HTML once more (``&lt;p&gt;``, ``&amp;eacute;``).
    for _ in range(2):
        if _TAG.search(text):
            text = _extract_text(text)
        elif "&" in text:
            text = html.unescape(text)
        else:
            break
    text = text.replace("\x00", "")
    lines = [_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n", "\n".join(line for line in lines if line)).strip()


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def canonical_url(value: str | None, base: str | None = None) -> str | None:
    """The canonical form of a link, or None when it is not an http(s) URL.

    Relative links are resolved against ``base``; scheme and host are lower-cased, default ports,
    fragments and tracking parameters (``utm_*``, ``fbclid``, ``gclid`` ...) removed, and the
    remaining query parameters sorted, so that two links to one page compare equal.
    """
    if not value:
        return None
    value = value.strip()
    if base:
        try:
            value = urljoin(base, value)
        except ValueError:
            return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    query.sort()
    # Characters a URL may not carry raw (spaces, quotes ...) are percent-encoded; existing escapes stay.
    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def document_id(source: str, *, guid: str | None, url: str | None, title: str, text: str) -> str:
    """Stable id: ``<source>:<digest>`` of the GUID, else the canonical URL, else the content.

    A GUID that is itself a URL is canonicalised first, so a changed tracking parameter keeps the id.
    """
    guid = (guid or "").strip()
    if guid:
        key = "guid:" + (canonical_url(guid) or guid)
    elif url:
        key = "url:" + url
    else:
        key = "content:" + re.sub(r"\s+", " ", f"{title}\n{text}").strip().lower()
    return f"{source}:{_digest(key)}"


@dataclass(frozen=True)
class RawItem:
    """One item as a connector found it, before normalisation. Every field is untrusted."""

    guid: str | None = None
    title: str | None = None
    text: str | None = None
    url: str | None = None
    published: datetime | None = None
    language: str | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)


def _language(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower().replace("_", "-")
    if not re.fullmatch(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*", value):
        return None
    return value[:16]


def normalise(
    item: RawItem,
    *,
    source: str,
    fetched: datetime,
    base_url: str | None = None,
    tags: dict[str, str] | None = None,
    language: str | None = None,
) -> Document | None:
    """Build the :class:`Document` for ``item``, or None when it has neither title nor text.

    ``base_url`` resolves relative links; ``tags`` are the source's tags; ``language`` the default
    when the item does not say.
    """
    title = strip_html(item.title)[:_MAX_TITLE]
    text = strip_html(item.text)
    if not text:
        text = title
    if not text:
        return None
    url = canonical_url(item.url, base_url)
    fetched = fetched.astimezone(UTC) if fetched.tzinfo else fetched.replace(tzinfo=UTC)
    return Document(
        id=document_id(source, guid=item.guid, url=url, title=title, text=text),
        title=title,
        text=text,
        source=source,
        fetched=fetched,
        url=url,
        published=plausible_published(item.published, fetched),
        language=_language(item.language) or _language(language),
        tags={**(tags or {}), **item.extra_tags},
    )


def document_output(document: Document) -> dict[str, Any]:
    """The backfill output of one document: id, title, text, url, published (ISO 8601), source, cluster_id."""
    return {
        "id": document.id,
        "title": document.title,
        "text": document.text,
        "url": document.url,
        "published": document.published.isoformat() if document.published else None,
        "source": document.source,
        "cluster_id": document.cluster_id,
    }


def parse_datetime(value: Any) -> datetime | None:
    """Read a timestamp from an API field: ISO 8601, RFC 2822, a date, or Unix seconds/milliseconds.

    Returns an aware datetime (UTC when the value has no zone), or None when it cannot be read.
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            seconds = float(value) / 1000.0 if abs(value) > 1e11 else float(value)
            return datetime.fromtimestamp(seconds, tz=UTC)
        if not isinstance(value, str) or not value.strip():
            return None
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError, OSError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
