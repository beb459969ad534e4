"""The document payload users send us (push endpoint, replay and backfill files), validated.

Every field is untrusted: :func:`parse_payload` and :func:`read_jsonl` turn raw input into
:class:`monitor.records.Document` records or raise :class:`monitor.errors.InputError` naming the
field (and the file and line) that is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.errors import DecodeError, InputError
from monitor.records import Document

#: Dates before this are taken as garbage (an epoch default, a typo), not as history.
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
#: A little clock skew is tolerated for publication dates in the future.
FUTURE_TOLERANCE = timedelta(days=2)


class DocumentPayload(BaseModel):
    """One document as a user sends it.

    ``id``, ``title``, ``text``, optional ``url``, ``published``, ``source``, ``language``, ``tags``.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=512)
    title: str = Field("", max_length=4_000)
    text: str = Field(max_length=5_000_000)
    url: str | None = Field(None, max_length=4_000)
    published: datetime | None = None
    source: str | None = Field(None, min_length=1, max_length=200)
    language: str | None = Field(None, max_length=16)
    tags: dict[str, str] = Field(default_factory=dict, max_length=32)

    @field_validator("id", "url", "source", "language")
    @classmethod
    def _no_control_characters(cls, value: str | None) -> str | None:
        # Identifiers end up in URLs, SQL text columns (PostgreSQL refuses NUL) and metric labels.
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("title", "text")
    @classmethod
    def _without_nul(cls, value: str) -> str:
        # NUL carries no meaning in prose and no SQL text column stores it: drop it, keep the rest.
        return value.replace("\x00", "")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value or None

    @field_validator("text")
    @classmethod
    def _some_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


def plausible_published(value: datetime | None, now: datetime) -> datetime | None:
    """Return ``value`` as aware UTC, or None when it is missing or absurd (before 1990, or in the future)."""
    if value is None:
        return None
    try:
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00 has no UTC form
        return None
    if aware < EARLIEST_PLAUSIBLE or aware > now + FUTURE_TOLERANCE:
        return None
    return aware


def to_document(payload: DocumentPayload, default_source: str, now: datetime | None = None) -> Document:
    """Build the :class:`Document` record for a validated payload."""
    fetched = now or datetime.now(UTC)
    return Document(
        id=payload.id,
        title=payload.title,
        text=payload.text,
        source=payload.source or default_source,
        fetched=fetched,
        url=payload.url,
        published=plausible_published(payload.published, fetched),
        language=payload.language,
        tags=dict(payload.tags),
    )


def describe_validation_error(err: ValidationError) -> str:
    """One line naming each invalid field: ``text: must not be empty; url: must be an http(s) URL``."""
    parts = []
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(document)"
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse_payload(data: Any, default_source: str, now: datetime | None = None) -> Document:
    """Validate one decoded JSON value as a document; raise :class:`InputError` naming the bad field."""
    if not isinstance(data, dict):
        raise InputError(f"a document must be a JSON object, got {type(data).__name__}")
    try:
        payload = DocumentPayload.model_validate(data)
    except ValidationError as err:
        raise InputError(describe_validation_error(err)) from err
    return to_document(payload, default_source, now)


def json_limit_reason(err: ValueError | RecursionError) -> str:
    """Why ``json.loads`` refused a document that is syntactically JSON: one of Python's limits."""
    if isinstance(err, RecursionError):
        return "nested too deeply"
    return f"a number is too large ({err})"


@dataclass(frozen=True)
class LineError:
    """A line of a JSON Lines file that could not be turned into a document."""

    path: str
    line: int
    reason: str
    #: A bounded category for metrics: ``encoding``, ``json``, ``schema`` or ``duplicate``.
    category: str = "schema"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def read_jsonl(path: Path, default_source: str = "replay") -> Iterator[Document | LineError]:
    """Yield a :class:`Document` per valid line of ``path`` and a :class:`LineError` per invalid one.

    Blank lines are skipped. Invalid UTF-8 is reported for its line, never raised, so that the valid
    lines of a damaged file are still processed. Raises :class:`DecodeError` only when the file
    cannot be opened at all.
    """
    try:
        handle = path.open("rb")
    except OSError as err:
        raise DecodeError(f"{path}: cannot open: {err.strerror or err}") from err
    seen: set[str] = set()
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                yield LineError(str(path), number, f"invalid UTF-8 at byte {err.start}", "encoding")
                continue
            except json.JSONDecodeError as err:
                yield LineError(str(path), number, f"invalid JSON: {err.msg} (column {err.colno})", "json")
                continue
            except (ValueError, RecursionError) as err:  # an integer over 4300 digits, nesting too deep
                yield LineError(str(path), number, f"invalid JSON: {json_limit_reason(err)}", "json")
                continue
            try:
                document = parse_payload(data, default_source)
            except InputError as err:
                yield LineError(str(path), number, str(err))
                continue
            if document.id in seen:
                yield LineError(
                    str(path), number, f"id: duplicate id {document.id!r} in this file", "duplicate"
                )
                continue
            seen.add(document.id)
            yield document


@dataclass(frozen=True)
class FieldError:
    """One invalid field of one document of a batch: ``index`` in the batch, dotted ``field``, ``reason``."""

    index: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as the push endpoint answers it."""
        return {"index": self.index, "field": self.field, "reason": self.reason}


def field_errors(err: ValidationError, index: int = 0) -> list[FieldError]:
    """The :class:`FieldError` list of a payload validation error."""
    out = []
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(document)"
        out.append(FieldError(index, where, str(item["msg"]).removeprefix("Value error, ")))
    return out


def validate_batch(
    items: list[Any], default_source: str, now: datetime | None = None
) -> tuple[list[Document], list[FieldError]]:
    """Validate every item of a batch; return the documents and, for the invalid ones, their field errors.

    Duplicate ids within the batch are reported on the later item's ``id`` field.
    """
    documents: list[Document] = []
    errors: list[FieldError] = []
    ids: set[str] = set()
    for index, data in enumerate(items):
        if not isinstance(data, dict):
            reason = f"must be a JSON object, got {type(data).__name__}"
            errors.append(FieldError(index, "(document)", reason))
            continue
        try:
            payload = DocumentPayload.model_validate(data)
        except ValidationError as err:
            errors += field_errors(err, index)
            continue
        if payload.id in ids:
            errors.append(FieldError(index, "id", f"duplicate id {payload.id!r} in this batch"))
            continue
        ids.add(payload.id)
        documents.append(to_document(payload, default_source, now))
    return documents, errors
