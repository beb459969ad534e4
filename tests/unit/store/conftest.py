"""Fixtures of the store tests: the same tests on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.store import SqlAlertStore
from monitor.store.testing import postgres_available, temporary_store


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlAlertStore]:
    """A migrated store: an SQLite file, or a unique schema of the shared PostgreSQL (dropped after)."""
    if request.param == "postgresql" and not await postgres_available():
        pytest.skip("PostgreSQL is not reachable (MONITOR_TEST_POSTGRES_URL or 127.0.0.1:5432)")
    async with temporary_store(request.param, tmp_path) as s:
        yield s


@pytest.fixture
async def twin(store: SqlAlertStore, tmp_path: Path) -> AsyncIterator[SqlAlertStore]:
    """A second, empty store on the same back end as ``store`` (to compare two ways of writing)."""
    async with temporary_store(store.dialect, tmp_path / "twin") as s:
        yield s
