"""Group commit: items that arrive while one batch is being written form the next batch.

The notify stage writes each alert to the database. One transaction per alert capped the pipeline
at the database's round-trip rate; a fixed-size or timed batch would add latency when the stream is
quiet. Group commit does neither: one writer task takes everything pending, writes it, and meanwhile
new items queue up, so a batch is as large as the load makes it (one item when quiet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Hand items to ``write`` in batches of at most ``max_batch``, from one writer task.

    ``linger_s`` delays each batch after its first item arrives, trading latency for fewer writes
    (for background work whose latency no one sees).

    ``add`` waits while ``max_pending`` items are queued (backpressure on the caller). ``write`` owns
    the items once called: it must deal with its own failures (an exception is logged and the batch
    is left as it is). ``close`` cancels the writer; items not yet written are dropped from memory,
    which is safe when they are acknowledged only by ``write`` (their messages are read again).
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        max_batch: int = 500,
        max_pending: int = 2_000,
        linger_s: float = 0.0,
        name: str = "group-commit",
    ) -> None:
        if max_batch < 1 or max_pending < max_batch:
            raise ValueError("need 1 <= max_batch <= max_pending")
        if linger_s < 0:
            raise ValueError("linger_s must not be negative")
        self.linger_s = linger_s
        self._write = write
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._name = name
        self._pending: list[T] = []
        self._wakeup = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._writer: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()  # set while nothing is queued or being written
        self._idle.set()
        #: Sizes of the batches written so far (count, sum), for metrics and tests.
        self.batches = 0
        self.items = 0

    @property
    def pending(self) -> int:
        """Items queued and not yet handed to ``write``."""
        return len(self._pending)

    async def add(self, item: T) -> None:
        """Queue ``item`` for the next batch (waits while the queue is full)."""
        while len(self._pending) >= self.max_pending:
            self._space.clear()
            await self._space.wait()
        self._pending.append(item)
        self._idle.clear()
        self._wakeup.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run(), name=self._name)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                if self.linger_s:  # work no one waits for: let more gather, for fewer, larger writes
                    await asyncio.sleep(self.linger_s)
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                self._space.set()
                self.batches += 1
                self.items += len(batch)
                try:
                    await self._write(batch)
                except asyncio.CancelledError:
                    raise
                except Exception:  # write owns its failures; never let the writer die silently
                    log.exception("%s: writing a batch of %d failed", self._name, len(batch))
            self._idle.set()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything added so far is written; False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop the writer (a batch being written is cancelled; see the class docstring)."""
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        self._pending.clear()
        self._space.set()
        self._idle.set()
