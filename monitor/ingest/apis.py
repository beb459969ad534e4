"""JSON API connectors: the Federal Register documents API, and any API described by a field mapping.

The parsers (:func:`parse_federal_register`, :func:`parse_json_items`) are pure; the ``poll_*``
functions fetch pages (following the next-page link up to ``max_pages``) and raise
:class:`FetchError` when a fetch fails or an answer is not the JSON expected.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from monitor.ingest.fetch import Fetcher, FetchError, Response
from monitor.ingest.harvest import Harvest
from monitor.ingest.jsonpath import MISSING, get_path
from monitor.ingest.normalise import RawItem, normalise, parse_datetime
from monitor.ingest.sources import FederalRegisterSource, JsonApiSource
from monitor.records import Document

__all__ = [
    "federal_register_url",
    "parse_federal_register",
    "parse_json_items",
    "poll_federal_register",
    "poll_json_api",
]

JSON_ACCEPT = "application/json"
#: Fields asked of the Federal Register: what a document needs, and no more.
FEDERAL_REGISTER_FIELDS = (
    "document_number",
    "title",
    "abstract",
    "action",
    "html_url",
    "publication_date",
    "type",
    "effective_on",
    "agencies",
)


def federal_register_url(source: FederalRegisterSource) -> str:
    """The first-page URL of a Federal Register search: newest first, the source's conditions."""
    query: list[tuple[str, str]] = [("order", "newest"), ("per_page", str(source.per_page))]
    if source.term:
        query.append(("conditions[term]", source.term))
    query += [("conditions[agencies][]", agency) for agency in source.agencies]
    query += [("conditions[type][]", kind) for kind in source.document_types]
    query += [("fields[]", name) for name in FEDERAL_REGISTER_FIELDS]
    separator = "&" if urlsplit(source.url).query else "?"
    return f"{source.url}{separator}{urlencode(query)}"


def _decode_json(response: Response) -> Any:
    try:
        return json.loads(response.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FetchError("parse", f"invalid JSON from {response.url}: {err}") from err


def _text(value: Any) -> str:
    if value is None or value is MISSING:
        return ""
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value if v is not None)
    return value if isinstance(value, str) else str(value)


def parse_federal_register(
    data: Any, source: FederalRegisterSource, fetched: datetime
) -> tuple[list[Document], int]:
    """Documents of one Federal Register results page, and the number of results rejected."""
    if not isinstance(data, dict):
        raise FetchError("parse", "Federal Register answer is not a JSON object")
    results = data.get("results") or []
    if not isinstance(results, list):
        raise FetchError("parse", "Federal Register 'results' is not a list")
    documents: list[Document] = []
    rejected = 0
    for result in results:
        if not isinstance(result, dict):
            rejected += 1
            continue
        extra: dict[str, str] = {}
        if isinstance(result.get("type"), str):
            extra["document_type"] = result["type"]
        if isinstance(result.get("effective_on"), str):
            extra["effective_on"] = result["effective_on"]
        if isinstance(result.get("document_number"), str):
            extra["document_number"] = result["document_number"]
        text = "\n\n".join(t for t in (_text(result.get("action")), _text(result.get("abstract"))) if t)
        item = RawItem(
            guid=_text(result.get("document_number")) or None,
            title=_text(result.get("title")),
            text=text,
            url=_text(result.get("html_url")) or None,
            published=parse_datetime(result.get("publication_date")),
            language="en",
            extra_tags=extra,
        )
        document = normalise(item, source=source.id, fetched=fetched, tags=dict(source.tags))
        if document is None:
            rejected += 1
        else:
            documents.append(document)
    return documents, rejected


def parse_json_items(
    data: Any, source: JsonApiSource, *, url: str, fetched: datetime
) -> tuple[list[Document], int]:
    """Documents of one JSON API page mapped by the source's ``items_path`` and ``fields``."""
    items = get_path(data, source.items_path)
    if not isinstance(items, list):
        raise FetchError("parse", f"items_path {source.items_path!r} is not a list in the answer")
    fields = source.fields
    documents: list[Document] = []
    rejected = 0
    for entry in items:
        guid = get_path(entry, fields.id)
        language = get_path(entry, fields.language)
        item = RawItem(
            guid=_text(guid) or None,
            title=_text(get_path(entry, fields.title)),
            text=_text(get_path(entry, fields.text)),
            url=_text(get_path(entry, fields.url)) or None,
            published=parse_datetime(get_path(entry, fields.published)),
            language=language if isinstance(language, str) else None,
        )
        document = normalise(
            item,
            source=source.id,
            fetched=fetched,
            base_url=url,
            tags=dict(source.tags),
            language=source.language,
        )
        if document is None:
            rejected += 1
        else:
            documents.append(document)
    return documents, rejected


async def poll_federal_register(
    source: FederalRegisterSource,
    fetcher: Fetcher,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    now: datetime | None = None,
) -> Harvest:
    """Fetch the newest documents of a Federal Register search, following ``next_page_url``."""
    fetched = now or datetime.now(UTC)

    def page(data: Any, response: Response) -> tuple[list[Document], int, Any]:
        found, bad = parse_federal_register(data, source, fetched)
        return found, bad, data.get("next_page_url") if isinstance(data, dict) else None

    return await _paginate(
        fetcher, federal_register_url(source), source.headers, source.max_pages, etag, last_modified, page
    )


async def poll_json_api(
    source: JsonApiSource,
    fetcher: Fetcher,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    now: datetime | None = None,
) -> Harvest:
    """Fetch a JSON API's items (following ``next_path`` up to ``max_pages``) and map them to documents."""
    url = source.url
    if source.params:
        url = f"{source.url}{'&' if urlsplit(source.url).query else '?'}{urlencode(source.params)}"
    fetched = now or datetime.now(UTC)

    def page(data: Any, response: Response) -> tuple[list[Document], int, Any]:
        found, bad = parse_json_items(data, source, url=response.url, fetched=fetched)
        return found, bad, get_path(data, source.next_path) if source.next_path else None

    return await _paginate(fetcher, url, source.headers, source.max_pages, etag, last_modified, page)


PageParser = Callable[[Any, Response], tuple[list[Document], int, Any]]


async def _paginate(
    fetcher: Fetcher,
    url: str,
    headers: dict[str, str],
    max_pages: int,
    etag: str | None,
    last_modified: str | None,
    parse_page: PageParser,
) -> Harvest:
    """Fetch up to ``max_pages`` JSON pages from ``url``; ``parse_page`` returns each page's documents,
    its rejected count and the next page's URL. Conditional GET applies to the first page only."""
    documents: list[Document] = []
    rejected = 0
    first: Response | None = None
    next_page: str | None = url
    for number in range(max_pages):
        assert next_page is not None
        response = await fetcher.get(
            next_page,
            headers=headers,
            etag=etag if number == 0 else None,
            last_modified=last_modified if number == 0 else None,
            accept=JSON_ACCEPT,
        )
        if number == 0:
            first = response
            if response.not_modified:
                return Harvest(
                    not_modified=True, floor_s=response.max_age, etag=etag, last_modified=last_modified
                )
        data = _decode_json(response)
        found, bad, next_url = parse_page(data, response)
        documents += found
        rejected += bad
        if not isinstance(next_url, str) or not next_url:
            break
        next_page = urljoin(response.url, next_url)
    assert first is not None
    return Harvest(
        documents=documents,
        rejected=rejected,
        floor_s=first.max_age,
        etag=first.etag,
        last_modified=first.last_modified,
    )
