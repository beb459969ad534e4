"""The store's runners: one transaction and one hand-off per operation, on the SQLite store's own
thread; failures reach the caller as the driver raised them (mapped to StoreError where the store
maps them); priorities; a clean close."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, event, exc, text

from monitor.delivery.matching import AlertQuery
from monitor.delivery.testing import make_alert
from monitor.errors import StoreError
from monitor.store import SqlAlertStore
from monitor.store.runner import Priority, ThreadRunner

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[ThreadRunner]:
    engine = create_engine(f"sqlite:///{tmp_path / 'runner.sqlite'}", pool_size=1, max_overflow=0)
    r = ThreadRunner(engine, name="test-store")
    await r.run(lambda conn: conn.execute(text("CREATE TABLE t (v INTEGER)")), write=True)
    try:
        yield r
    finally:
        await r.close()


def _values(conn: Connection) -> list[int]:
    return [row.v for row in conn.execute(text("SELECT v FROM t ORDER BY v"))]


async def test_operations_run_on_one_thread_that_is_not_the_loop(runner: ThreadRunner) -> None:
    idents = {await runner.run(lambda _: threading.get_ident(), write=False) for _ in range(5)}
    assert len(idents) == 1
    assert idents != {threading.get_ident()}


async def test_one_transaction_per_operation_committed_only_for_writes(runner: ThreadRunner) -> None:
    begun: list[int] = []
    event.listen(runner.sync_engine, "begin", lambda _conn: begun.append(1))

    def insert_two(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        conn.execute(text("INSERT INTO t VALUES (2)"))

    await runner.run(insert_two, write=True)
    assert len(begun) == 1  # two statements, one transaction
    await runner.run(lambda conn: conn.execute(text("INSERT INTO t VALUES (3)")), write=False)
    assert await runner.run(_values, write=False) == [1, 2]  # a read is rolled back


async def test_a_failure_reaches_the_caller_and_rolls_back(runner: ThreadRunner) -> None:
    def insert_then_fail(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t VALUES (7)"))
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        await runner.run(insert_then_fail, write=True)
    with pytest.raises(exc.OperationalError):  # the driver's error, wrapped by SQLAlchemy as usual
        await runner.run(lambda conn: conn.execute(text("SELECT nope FROM t")), write=False)
    assert await runner.run(_values, write=False) == []  # nothing of the failed write; still usable


async def test_alert_batches_go_before_queued_background_work(runner: ThreadRunner) -> None:
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def block(_: Connection) -> None:
        started.set()
        release.wait(10)

    def note(name: str) -> Any:
        return lambda _conn: order.append(name)

    busy = asyncio.create_task(runner.run(block, write=False))
    await asyncio.to_thread(started.wait, 10)
    queued = [
        asyncio.create_task(runner.run(note("events"), write=True, priority=Priority.BACKGROUND)),
        asyncio.create_task(runner.run(note("api"), write=False)),
        asyncio.create_task(runner.run(note("alerts"), write=True, priority=Priority.ALERTS)),
        asyncio.create_task(runner.run(note("deliveries"), write=True, priority=Priority.BACKGROUND)),
    ]
    await asyncio.sleep(0.05)  # all four queued behind the busy thread
    release.set()
    await asyncio.gather(busy, *queued)
    assert order == ["alerts", "api", "events", "deliveries"]  # by priority, then in order


async def test_a_caller_cancelled_before_its_turn_runs_nothing(runner: ThreadRunner) -> None:
    started, release = threading.Event(), threading.Event()

    def block(_: Connection) -> None:
        started.set()
        release.wait(10)

    busy = asyncio.create_task(runner.run(block, write=False))
    await asyncio.to_thread(started.wait, 10)
    waiting = asyncio.create_task(
        runner.run(lambda c: c.execute(text("INSERT INTO t VALUES (9)")), write=True)
    )
    await asyncio.sleep(0.05)
    waiting.cancel()
    await asyncio.sleep(0)
    release.set()
    await busy
    assert await runner.run(_values, write=False) == []


async def test_close_finishes_queued_work_stops_the_thread_and_a_later_call_reopens(
    runner: ThreadRunner,
) -> None:
    writes = [
        asyncio.create_task(
            runner.run(lambda c, v=v: c.execute(text(f"INSERT INTO t VALUES ({v})")), write=True)
        )
        for v in range(3)
    ]
    await asyncio.sleep(0)  # queued
    await runner.close()
    await asyncio.gather(*writes)
    assert not runner.running
    assert not [t for t in threading.enumerate() if t.name == "test-store"]
    assert runner.sync_engine.pool.checkedout() == 0
    assert await runner.run(_values, write=False) == [0, 1, 2]  # a new thread, the same file
    assert runner.running


async def test_sqlite_store_runs_every_operation_off_the_loop(tmp_path: Path) -> None:
    store = SqlAlertStore(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite'}")
    await store.start()
    try:
        begun: list[int] = []
        event.listen(store.sync_engine, "begin", lambda _conn: begun.append(threading.get_ident()))
        await store.upsert_alerts([make_alert(id="a"), make_alert(id="b")], now=NOW)
        assert len(begun) == 1
        assert begun[0] != threading.get_ident()
        assert [a.alert.id for a in (await store.list_alerts(AlertQuery(), limit=10)).items] == ["b", "a"]
    finally:
        await store.close()
    assert not [t for t in threading.enumerate() if t.name == "alert-store"]


async def test_sqlite_lock_timeout_is_a_transient_store_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = SqlAlertStore(f"sqlite+aiosqlite:///{path}")
    await store.start()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await store.run_sync(lambda conn: conn.exec_driver_sql("PRAGMA busy_timeout=100"))
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreError) as caught:
            await store.upsert_alerts([make_alert(id="locked")], now=NOW)
        assert caught.value.transient
        assert isinstance(caught.value.__cause__, exc.OperationalError)
        other.execute("ROLLBACK")
        await store.upsert_alerts([make_alert(id="locked")], now=NOW)  # the retry stores it
        assert await store.get_alert("locked") is not None
    finally:
        other.close()
        await store.close()
