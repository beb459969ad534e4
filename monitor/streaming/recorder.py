"""Keep every tagged event in the store, off the hot path: buffered, written in batches.

The extract stage hands each event to :meth:`EventRecorder.add` (no I/O); a background task writes the
buffer every ``interval_s``. A store outage keeps the buffer (bounded: the oldest events are dropped
past ``max_buffer`` and counted), so the stream never waits for this record, which exists for analysts
(``GET /api/v1/events``): the alerts themselves travel on their topic with at-least-once guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from monitor.observability.metrics import Metrics
from monitor.records import TaggedEvent
from monitor.store.sql import is_transient

log = logging.getLogger(__name__)

Writer = Callable[[Sequence[TaggedEvent]], Awaitable[int]]


class EventRecorder:
    """Buffers tagged events and writes them in batches with ``write``."""

    def __init__(
        self,
        write: Writer,
        metrics: Metrics,
        *,
        interval_s: float = 1.0,
        batch: int = 500,
        max_buffer: int = 50_000,
    ) -> None:
        self._write = write
        self._metrics = metrics
        self._interval_s = interval_s
        self._batch = batch
        self._buffer: deque[TaggedEvent] = deque(maxlen=max_buffer)
        self._evicted = 0  # events dropped from the front of a full buffer, ever
        self._task: asyncio.Task[None] | None = None

    def add(self, event: TaggedEvent) -> None:
        """Queue an event (never blocks; past the bound the oldest queued event is dropped)."""
        if len(self._buffer) == self._buffer.maxlen:
            self._metrics.stage_errors.labels(stage="record", reason="buffer_full").inc()
            self._evicted += 1
        self._buffer.append(event)

    async def flush(self) -> None:
        """Write what is queued now; on failure the events stay queued for the next try.

        Events queued during the write wait for the next flush: looping until the buffer is empty
        wrote a handful of events per transaction back to back under a steady stream, keeping the
        store busy for nothing.
        """
        left = len(self._buffer)
        while left > 0 and self._buffer:
            chunk = [self._buffer[i] for i in range(min(self._batch, left, len(self._buffer)))]
            left -= len(chunk)
            evicted = self._evicted
            try:
                await self._write(chunk)
            except Exception as err:  # one place for this stage: count, keep or drop, never raise
                self._metrics.stage_errors.labels(stage="record", reason=type(err).__name__).inc()
                if is_transient(err):  # the store is down or busy: keep the events, try later
                    log.warning("recording %d tagged events failed, will retry: %s", len(chunk), err)
                    return
                # The batch itself is refused: drop it rather than block every later event.
                log.error("recording %d tagged events refused, dropped: %s", len(chunk), err)
            # Events added during the write may have pushed some of the chunk out of a full buffer
            # already (from the front, in order): remove only what is still there.
            for _ in range(max(0, len(chunk) - (self._evicted - evicted))):
                self._buffer.popleft()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()

    def start(self) -> None:
        """Start the background writer."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-recorder")

    async def stop(self) -> None:
        """Stop the writer after a last flush."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)
