"""Frozen, typed records that cross Kafka topics and the HTTP API.

Every record carries ``schema_version`` so that a consumer can tell an old message from a
new one during a rolling upgrade. They are ``faust.Record`` classes (JSON on the wire,
no Faust metadata blob) so that Faust agents can use them as topic value types directly;
the pure core only reads and builds them, it never touches a broker.

Topic -> record:

- ``monitor.ingest.documents.v1``  -> :class:`Document` (key: document id)
- ``monitor.extract.events.v1``    -> :class:`TaggedEvent` (key: rules routing key)
- ``monitor.rules.alerts.v1``      -> :class:`Alert` (key: alert fingerprint)
- ``monitor.deadletters.v1``       -> :class:`DeadLetter` (key: the failed message's key)
"""

# No ``from __future__ import annotations`` here: Faust resolves field types at class creation,
# and string annotations would leave nested records as plain dicts.
from datetime import datetime
from typing import Any, Optional

import faust

from monitor.records.codec import install as _install_codec
from monitor.records.vocabulary import (
    ALERT_STATUSES,
    DIRECTIONS,
    MEASURES,
    SEVERITIES,
    UNDIRECTED_MEASURES,
    AlertStatus,
    Direction,
    Measure,
    Severity,
    severity_rank,
)

__all__ = [
    "ALERT_STATUSES",
    "DIRECTIONS",
    "MEASURES",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "UNDIRECTED_MEASURES",
    "Alert",
    "AlertStatus",
    "DeadLetter",
    "Direction",
    "Document",
    "Extraction",
    "Measure",
    "Severity",
    "Span",
    "TaggedEvent",
    "severity_rank",
]

SCHEMA_VERSION = 1

# Faust's ``json`` codec with orjson's speed and Python's leniency (see ``monitor.records.codec``).
_install_codec()

# Options shared by every record: plain JSON (no ``__faust`` blob) and ISO dates parsed back
# into aware datetimes, so other languages can read our topics.
_RECORD_OPTIONS: dict[str, Any] = {"include_metadata": False, "isodates": True, "serializer": "json"}


class Document(faust.Record, namespace="monitor.Document", **_RECORD_OPTIONS):
    """A normalised notice or news item, as ingested from a source.

    ``id`` is stable across polls and restarts (source id + GUID, canonical URL or content hash).
    ``published`` and ``fetched`` are aware UTC datetimes. ``tags`` are the source's declared tags
    (e.g. ``{"authority": "MOFCOM", "country": "CN"}``); ``cluster_id`` is shared by near-duplicate
    copies of one story carried by several sources.
    """

    id: str
    title: str
    text: str
    source: str
    fetched: datetime
    url: Optional[str] = None  # noqa: UP045 - faust evaluates annotations at runtime
    published: Optional[datetime] = None  # noqa: UP045
    language: Optional[str] = None  # noqa: UP045
    cluster_id: Optional[str] = None  # noqa: UP045
    tags: dict[str, str] = {}
    schema_version: int = SCHEMA_VERSION


class Span(faust.Record, namespace="monitor.Span", **_RECORD_OPTIONS):
    """Where a tag came from: ``text[start:end]`` of the analysed string, its kind and canonical value.

    ``label`` is one of ``mineral``, ``country``, ``measure``, ``direction``, ``date``,
    ``imposing_country``, ``target_country``; ``value`` is the canonical tag (``lithium``, ``CN``,
    ``export_ban``, ``tighten``, ``2025-12-01``).
    """

    start: int
    end: int
    text: str
    label: str
    value: str


class Extraction(faust.Record, namespace="monitor.Extraction", **_RECORD_OPTIONS):
    """What the extractor found in one document: the output contract of ``monitor extract``.

    Offsets in ``spans`` refer to the analysed string, which is ``title + "\\n\\n" + text`` when a
    title is present (see :func:`monitor.extract.analysed_text`). ``truncated`` is true when the
    text was longer than the configured limit and only its head was analysed.
    """

    minerals: list[str] = []
    countries: list[str] = []
    imposing_country: Optional[str] = None  # noqa: UP045
    target_country: Optional[str] = None  # noqa: UP045
    measure: str = "none"
    direction: Optional[str] = None  # noqa: UP045
    effective_date: Optional[str] = None  # noqa: UP045
    spans: list[Span] = []
    truncated: bool = False
    schema_version: int = SCHEMA_VERSION


class TaggedEvent(faust.Record, namespace="monitor.TaggedEvent", **_RECORD_OPTIONS):
    """A document with its extraction: the input of the rules core.

    It keeps the document's metadata (id, title, url, source, source tags, cluster) so that an
    alert can cite its evidence without a second lookup. ``text`` is the analysed text, bounded by
    the extractor's limit, so that rules can match on it.
    """

    document_id: str
    title: str
    text: str
    source: str
    fetched: datetime
    extraction: Extraction
    url: Optional[str] = None  # noqa: UP045
    published: Optional[datetime] = None  # noqa: UP045
    cluster_id: Optional[str] = None  # noqa: UP045
    tags: dict[str, str] = {}
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_document(
        cls,
        document: Document,
        extraction: Extraction,
        text: Optional[str] = None,  # noqa: UP045
    ) -> "TaggedEvent":
        """Join a document and its extraction into the event the rules read."""
        return cls(
            document_id=document.id,
            title=document.title,
            text=document.text if text is None else text,
            source=document.source,
            fetched=document.fetched,
            extraction=extraction,
            url=document.url,
            published=document.published,
            cluster_id=document.cluster_id,
            tags=dict(document.tags),
        )


class Alert(faust.Record, namespace="monitor.Alert", **_RECORD_OPTIONS):
    """An alert raised by a rule: one per real-world event, gathering evidence over time.

    ``fingerprint`` is the stable hash of the rule id and the grouping labels (as in Alertmanager);
    ``id`` is derived from it, so the same real-world event keeps one id while new evidence arrives
    (``revision`` counts the updates). ``document_ids``, ``sources`` and ``urls`` are the evidence.
    ``severity_reason`` explains how the severity was reached.
    """

    id: str
    fingerprint: str
    rule: str
    severity: str
    title: str
    measure: str
    raised_at: datetime
    updated_at: datetime
    direction: Optional[str] = None  # noqa: UP045
    minerals: list[str] = []
    countries: list[str] = []
    imposing_country: Optional[str] = None  # noqa: UP045
    target_country: Optional[str] = None  # noqa: UP045
    effective_date: Optional[str] = None  # noqa: UP045
    severity_reason: str = ""
    summary: str = ""
    labels: dict[str, str] = {}
    document_ids: list[str] = []
    sources: list[str] = []
    urls: list[str] = []
    status: str = "firing"
    revision: int = 1
    # When the first evidence document was published or fetched: the start of end-to-end latency.
    first_evidence_at: Optional[datetime] = None  # noqa: UP045
    schema_version: int = SCHEMA_VERSION


class DeadLetter(faust.Record, namespace="monitor.DeadLetter", **_RECORD_OPTIONS):
    """A message a stage could not process, kept with the reason instead of being dropped."""

    stage: str
    reason: str
    error: str
    topic: str
    key: Optional[str] = None  # noqa: UP045
    payload: str = ""
    at: Optional[datetime] = None  # noqa: UP045
    schema_version: int = SCHEMA_VERSION
