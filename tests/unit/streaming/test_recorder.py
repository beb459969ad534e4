"""The event recorder writes what is queued in batches, keeps events through a store outage and never
turns a steady stream into back-to-back tiny writes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from sqlalchemy import exc

from monitor.observability.metrics import Metrics
from monitor.records import TaggedEvent
from monitor.rules.testing import tagged_event
from monitor.streaming.recorder import EventRecorder

AT = datetime(2025, 6, 1, tzinfo=UTC)


def event(document_id: str) -> TaggedEvent:
    return tagged_event(document_id, at=AT)


def _events(n: int, start: int = 0) -> list[TaggedEvent]:
    return [event(f"d{i}") for i in range(start, start + n)]


async def test_flush_writes_the_queue_in_batches_in_order() -> None:
    written: list[list[str]] = []

    async def write(events: Sequence[TaggedEvent]) -> int:
        written.append([e.document_id for e in events])
        return len(events)

    recorder = EventRecorder(write, Metrics(CollectorRegistry()), batch=2)
    for e in _events(5):
        recorder.add(e)
    await recorder.flush()
    assert written == [["d0", "d1"], ["d2", "d3"], ["d4"]]
    await recorder.flush()
    assert len(written) == 3  # nothing queued, nothing written


async def test_events_added_during_a_write_wait_for_the_next_flush() -> None:
    written: list[list[str]] = []
    recorder: EventRecorder

    async def write(events: Sequence[TaggedEvent]) -> int:
        written.append([e.document_id for e in events])
        recorder.add(event(f"late{len(written)}"))  # the stream goes on meanwhile
        await asyncio.sleep(0)
        return len(events)

    recorder = EventRecorder(write, Metrics(CollectorRegistry()))
    for e in _events(3):
        recorder.add(e)
    await recorder.flush()
    assert written == [["d0", "d1", "d2"]]
    await recorder.flush()
    assert written[1] == ["late1"]


async def test_a_store_outage_keeps_the_events_and_a_refused_batch_is_dropped_and_counted() -> None:
    metrics = Metrics(CollectorRegistry())
    outcomes: list[Exception | None] = [
        exc.OperationalError("INSERT", {}, Exception("database is locked")),
        exc.IntegrityError("INSERT", {}, Exception("bad row")),
        None,
    ]
    written: list[list[str]] = []

    async def write(events: Sequence[TaggedEvent]) -> int:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        written.append([e.document_id for e in events])
        return len(events)

    recorder = EventRecorder(write, metrics, batch=2)
    for e in _events(4):
        recorder.add(e)
    await recorder.flush()  # transient: kept, nothing written
    assert written == []
    await recorder.flush()  # d0, d1 refused (dropped); d2, d3 written
    assert written == [["d2", "d3"]]
    errors = metrics.stage_errors.labels(stage="record", reason="IntegrityError")._value.get()
    assert errors == 1


async def test_a_buffer_overflowing_during_a_write_removes_only_what_was_written() -> None:
    # The buffer holds 4; a write of the first 3 is in flight while 3 more arrive, pushing d0-d2
    # (the chunk being written) out of the front. The write succeeds: the 4 events still queued
    # (d3 and the three late ones) must all stay for the next flush.
    written: list[list[str]] = []
    recorder: EventRecorder

    async def write(events: Sequence[TaggedEvent]) -> int:
        written.append([e.document_id for e in events])
        if len(written) == 1:
            for e in _events(3, start=10):
                recorder.add(e)
        return len(events)

    recorder = EventRecorder(write, Metrics(CollectorRegistry()), batch=3, max_buffer=4)
    for e in _events(4):
        recorder.add(e)
    await recorder.flush()
    assert written[0] == ["d0", "d1", "d2"]
    await recorder.flush()
    flat = [d for chunk in written for d in chunk]
    assert flat.count("d3") == 1 and {"d10", "d11", "d12"} <= set(flat)
