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


@asynccontextmanager
async def temporary_database(url: str | None = None) -> AsyncIterator[str]:
    """A fresh PostgreSQL database (``t_monitor_<hex>``) for a test that runs whole workers; its URL.

    Dropped afterwards (``WITH (FORCE)``, so leftover connections of killed workers do not block it).
    """
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url or postgres_url())
    name = f"t_monitor_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def set_database_available(url: str, available: bool) -> None:
    """Make a database refuse (and drop) connections, or accept them again: a database outage."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database="postgres" if parsed.database != "postgres" else "template1",
    )
    try:
        flag = "true" if available else "false"
        await admin.execute(f'ALTER DATABASE "{parsed.database}" WITH ALLOW_CONNECTIONS {flag}')
        if not available:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", parsed.database
            )
    finally:
        await admin.close()
