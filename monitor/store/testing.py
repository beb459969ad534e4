"""Test support: a throw-away store on SQLite or on a unique schema of a shared PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from monitor.store.sql import SqlAlertStore

#: The PostgreSQL of our machines (trust auth); override with MONITOR_TEST_POSTGRES_URL.
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The PostgreSQL URL tests use."""
    return os.environ.get("MONITOR_TEST_POSTGRES_URL", POSTGRES_URL)


async def postgres_available(url: str | None = None) -> bool:
    """True when the test PostgreSQL answers within 3 s."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url or postgres_url())
    try:
        conn = await asyncio.wait_for(
            asyncpg.connect(
                host=parsed.host,
                port=parsed.port or 5432,
                user=parsed.username,
                password=parsed.password,
                database=parsed.database,
            ),
            3,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@asynccontextmanager
async def temporary_store(kind: str, directory: Path) -> AsyncIterator[SqlAlertStore]:
    """A migrated store (``kind`` ``sqlite`` or ``postgresql``), dropped afterwards.

    PostgreSQL gets a unique schema per call, so parallel test runs sharing the database do not meet.
    """
    if kind == "sqlite":
        store = SqlAlertStore(f"sqlite+aiosqlite:///{directory}/db/monitor.sqlite")
    elif kind == "postgresql":
        store = SqlAlertStore(postgres_url(), schema=f"t_monitor_{uuid.uuid4().hex[:12]}")
    else:
        raise ValueError(f"unknown store kind {kind!r}")
    await store.start()
    try:
        yield store
    finally:
        await store.drop_schema()
        await store.close()
