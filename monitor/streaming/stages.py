"""What each stage does with one message, without Faust: decode, call the pure core, count.

The Faust agents in :mod:`monitor.streaming.app` are loops around these methods, so the logic of a
stage is tested without a broker and the agents stay a few lines each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.errors import DecodeError
from monitor.extract import Extractor
from monitor.observability.metrics import Metrics
from monitor.records import Alert, DeadLetter, Document, TaggedEvent
from monitor.rules import StateCache, evaluate
from monitor.streaming.ruleholder import RuleHolder


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def decode_document(payload: bytes | str | None) -> Document:
    """Decode a :class:`Document` message; raise :class:`DecodeError` naming what is wrong."""
    return _decode(Document, payload)


def decode_event(payload: bytes | str | None) -> TaggedEvent:
    """Decode a :class:`TaggedEvent` message."""
    return _decode(TaggedEvent, payload)


def decode_alert(payload: bytes | str | None) -> Alert:
    """Decode an :class:`Alert` message."""
    return _decode(Alert, payload)


def _decode(record: Any, payload: bytes | str | None) -> Any:
    if payload is None:
        raise DecodeError(f"empty {record.__name__} message")
    try:
        value = record.loads(payload, serializer="json")
    except Exception as err:  # faust/json raise many types for bad bytes
        raise DecodeError(f"not a valid {record.__name__} message: {err}") from err
    if not isinstance(value, record):
        raise DecodeError(f"not a {record.__name__} message")
    return value


@dataclass(frozen=True)
class Tagged:
    """The extract stage's output for one document: the event and the rule routing keys."""

    event: TaggedEvent
    routing_keys: list[str]


#: Rule states kept decoded between events (one per routing key; there are a few hundred at most).
_DECODED_STATES_MAX = 10_000


class Stages:
    """The per-message work of ingest, extract, evaluate and notify."""

    def __init__(
        self,
        extractor: Extractor,
        rules: RuleHolder,
        metrics: Metrics,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.extractor = extractor
        self.rules = rules
        self.metrics = metrics
        self.clock = clock
        # Decoding the table value for every event cost as much as the rules: keep states decoded
        # (reused only while the table holds the very value the cache handed over).
        self.states = StateCache(_DECODED_STATES_MAX)

    def tag(self, document: Document) -> Tagged:
        """Extract tags from a document and compute the routing keys of the rules that may use it."""
        started = time.perf_counter()
        extraction = self.extractor.extract(document.text, document.title)
        self.metrics.extract_duration.observe(time.perf_counter() - started)
        counts: dict[str, int] = {}
        for span in extraction.spans:
            counts[span.label] = counts.get(span.label, 0) + 1
        for kind, count in counts.items():
            self.metrics.extract_tags.labels(kind=kind).inc(count)
        if extraction.truncated:
            self.metrics.extract_truncated.inc()
        self.metrics.events.labels(measure=extraction.measure, direction=extraction.direction or "none").inc()
        # The event carries the analysed (bounded) text, not the raw one: rules match on what was read.
        limit = self.extractor.max_chars
        event = TaggedEvent.from_document(document, extraction, text=document.text[:limit])
        return Tagged(event=event, routing_keys=self.rules.current.routing_keys(event))

    def evaluate(
        self, event: TaggedEvent, key: str, state: dict[str, Any] | None
    ) -> tuple[dict[str, Any], list[Alert]]:
        """Run the rules for one routing key; return the new state (as stored) and the alerts to emit."""
        # ``now`` is processing time (it expires state); the rules take the event's own time from it.
        now = self.clock()
        new_state, alerts = evaluate(self.rules.current, self.states.get(key, state), event, key, now)
        for alert in alerts:
            if alert.revision == 1:
                for mineral in alert.minerals or ["none"]:
                    self.metrics.alerts.labels(
                        severity=alert.severity, measure=alert.measure, mineral=mineral
                    ).inc()
            else:
                self.metrics.alert_updates.labels(severity=alert.severity).inc()
            self.metrics.end_to_end_latency.observe(max(0.0, (now - event.fetched).total_seconds()))
        return self.states.put(key, new_state), alerts

    def dead_letter(
        self, stage: str, topic: str, key: str | None, payload: bytes | None, err: Exception
    ) -> DeadLetter:
        """Count a failure and build the dead letter that keeps the message and the reason."""
        reason = type(err).__name__
        self.metrics.stage_errors.labels(stage=stage, reason=reason).inc()
        self.metrics.dead_letters.labels(stage=stage).inc()
        self.metrics.messages.labels(stage=stage, outcome="error").inc()
        text = (
            payload.decode("utf-8", "replace")
            if isinstance(payload, bytes | bytearray)
            else str(payload or "")
        )
        return DeadLetter(
            stage=stage,
            reason=reason,
            error=str(err)[:2000],
            topic=topic,
            key=key,
            payload=text[:100_000],
            at=self.clock(),
        )
