"""Where the store's operations run: each is one synchronous function over a SQLAlchemy
:class:`~sqlalchemy.Connection`, run in one transaction, handed off once.

The operation bodies are written once (plain ``conn.execute(...)``) and run by one of two runners:

- :class:`ThreadRunner` (SQLite): the standard library's ``sqlite3`` on a dedicated thread that owns
  the connection. An operation is one hand-off to the thread and one back, whatever its statements.
  Through aiosqlite every cursor, execute, fetch and close was a hand-off of its own (about 35 for an
  alert batch), each waiting for the busy event loop to resume the caller: a batch held the one
  connection for 50-100 ms, mostly waiting for the loop, and every other store operation queued
  behind it. Operations wait in a priority queue, so a batch of alerts (someone waits for it) goes
  before queued background work (event records, delivery bookkeeping, gauges).
- :class:`AsyncRunner` (PostgreSQL): ``AsyncConnection.run_sync`` on the async engine (asyncpg),
  a connection from its pool per operation; the statements inside still await the network.

Cancelling the caller of :meth:`ThreadRunner.run` does not stop an operation the thread has started:
it finishes (commits or rolls back) and its result is dropped. Every write of the store is
idempotent or leaves nothing half done, so a caller that retries is safe.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

T = TypeVar("T")
#: One store operation: everything it reads and writes, on one connection, in one transaction.
Operation = Callable[[Connection], T]


class Priority(IntEnum):
    """Which queued operation the store's thread takes first (lower first; FIFO within one)."""

    ALERTS = 0  # the notify stage's alert batches: the end-to-end latency waits for them
    DEFAULT = 1  # the API, the CLI, delivery steps a send waits for
    BACKGROUND = 2  # no one waits: tagged-event records, delivery bookkeeping, gauges, polls


class Runner(Protocol):
    """Runs store operations (see the module docstring)."""

    #: The engine whose events (``begin``, ``before_cursor_execute`` ...) see the operations' statements.
    sync_engine: Engine

    async def run(self, op: Operation[T], *, write: bool, priority: Priority = Priority.DEFAULT) -> T:
        """Run ``op`` in a transaction, committed when ``write`` and it returns, rolled back otherwise."""
        ...

    async def close(self) -> None:
        """Release the connections (a later :meth:`run` opens them again)."""
        ...


class AsyncRunner:
    """Operations on an async engine, through ``AsyncConnection.run_sync`` (in a greenlet on the loop)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sync_engine = engine.sync_engine

    async def run(self, op: Operation[T], *, write: bool, priority: Priority = Priority.DEFAULT) -> T:
        if write:
            async with self.engine.begin() as conn:
                return await conn.run_sync(op)
        async with self.engine.connect() as conn:
            return await conn.run_sync(op)

    async def close(self) -> None:
        await self.engine.dispose()


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    op: Operation[Any] | None = field(compare=False)  # None: stop the thread
    write: bool = field(compare=False, default=False)
    future: asyncio.Future[Any] | None = field(compare=False, default=None)
    loop: asyncio.AbstractEventLoop | None = field(compare=False, default=None)
    context: contextvars.Context | None = field(compare=False, default=None)  # the caller's, as to_thread


#: After every queued operation: the thread stops once they are done.
_STOP_PRIORITY = 99


class ThreadRunner:
    """Operations on a sync engine, one at a time, on one dedicated thread (started on first use).

    The thread holds the engine's connection (a pool of one) for its whole life and closes it when
    stopped, so the connection is only ever used on the thread that opened it.
    """

    def __init__(self, engine: Engine, *, name: str = "alert-store") -> None:
        self.sync_engine = engine
        self.name = name
        self._queue: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # starts and stops of the thread

    async def run(self, op: Operation[T], *, write: bool, priority: Priority = Priority.DEFAULT) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._start()
            job = _Job(int(priority), next(self._seq), op, write, future, loop, contextvars.copy_context())
            self._queue.put(job)
        return await future

    async def close(self) -> None:
        """Let the queued operations finish, then stop the thread and close the connection."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            loop = asyncio.get_running_loop()
            done: asyncio.Future[None] = loop.create_future()
            self._queue.put(_Job(_STOP_PRIORITY, next(self._seq), None, future=done, loop=loop))
        await done
        await asyncio.to_thread(thread.join)

    @property
    def running(self) -> bool:
        """True while the thread is started (between the first operation and :meth:`close`)."""
        return self._thread is not None

    def _start(self) -> None:
        if self._thread is None:
            self._queue = queue.PriorityQueue()  # a new thread, a new queue: nothing left from the last
            self._thread = threading.Thread(
                target=self._work, args=(self._queue,), name=self.name, daemon=True
            )
            self._thread.start()

    def _work(self, jobs: queue.PriorityQueue[_Job]) -> None:
        while True:
            job = jobs.get()
            if job.op is None:
                break
            assert job.future is not None and job.loop is not None and job.context is not None
            if job.future.cancelled():  # the caller gave up before it started: nothing done
                continue
            try:
                result = job.context.run(self._execute, job.op, job.write)
            except BaseException as err:  # the caller gets every failure, as the driver raised it
                _reply(job.loop, job.future, error=err)
            else:
                _reply(job.loop, job.future, result=result)
        try:
            self.sync_engine.dispose()
        finally:
            if job.loop is not None and job.future is not None:
                _reply(job.loop, job.future, result=None)

    def _execute(self, op: Operation[T], write: bool) -> T:
        if write:
            with self.sync_engine.begin() as conn:
                return op(conn)
        with self.sync_engine.connect() as conn:
            return op(conn)


def _reply(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    *,
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    def settle() -> None:
        if future.done():  # cancelled meanwhile: the result is dropped
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the caller's loop is closed: no one is waiting any more
        log.debug("store operation finished after its event loop closed")
