"""Fixtures of the delivery integration tests: both store back ends, real receivers, the running API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.api.testing import Harness, start_harness
from monitor.delivery.testing import Receiver
from monitor.store import SqlAlertStore
from monitor.store.testing import postgres_available, temporary_store


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlAlertStore]:
    """A migrated store: an SQLite file, or a unique schema of the shared PostgreSQL (dropped after)."""
    if request.param == "postgresql" and not await postgres_available():
        pytest.skip("PostgreSQL is not reachable (MONITOR_TEST_POSTGRES_URL or 127.0.0.1:5432)")
    async with temporary_store(request.param, tmp_path) as s:
        yield s


async def _receiver() -> Receiver:
    r = Receiver()
    await r.up()
    return r


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on 127.0.0.1."""
    r = await _receiver()
    yield r
    await r.down()


@pytest.fixture
async def receiver2() -> AsyncIterator[Receiver]:
    """A second, independent receiver."""
    r = await _receiver()
    yield r
    await r.down()


HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def harness_factory(store: SqlAlertStore) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    """``await harness_factory(**settings_overrides)``: a running dispatcher + API, stopped after the test."""
    started: list[Harness] = []

    async def build(**overrides: Any) -> Harness:
        h = await start_harness(store, **overrides)
        started.append(h)
        return h

    yield build
    for h in reversed(started):
        await h.close()


@pytest.fixture
async def harness(harness_factory: Callable[..., Awaitable[Harness]]) -> Harness:
    """A running dispatcher + API with the default test settings."""
    return await harness_factory()


@pytest.fixture
async def twin(store: SqlAlertStore, tmp_path: Path) -> AsyncIterator[SqlAlertStore]:
    """A second, empty store on the same back end as ``store`` (to compare two ways of handling)."""
    async with temporary_store(store.dialect, tmp_path / "twin") as s:
        yield s
