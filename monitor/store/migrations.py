"""Versioned schema migrations, applied at start-up by :func:`migrate_in`.

A small scheme in the spirit of Alembic, without its script directory: :data:`MIGRATIONS` is an
ordered list of ``(version, name, function)``; the ``schema_version`` table records those applied.
All pending migrations run in one transaction (both SQLite and PostgreSQL have transactional DDL),
under an advisory lock on PostgreSQL so that several workers starting together migrate once.

Adding a change: append ``Migration(N, "what", fn)`` where ``fn`` uses plain DDL (``ALTER TABLE`` ...)
on the sync connection, update :mod:`monitor.store.models` to match, and freeze the previous table
definitions into the older migration if they were shared. ``tests/unit/store`` checks the migrated
schema against the models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, MetaData, insert, inspect, select, text

from monitor.store import models


@dataclass(frozen=True)
class Migration:
    """One step of the schema's history."""

    version: int
    name: str
    apply: Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    metadata = MetaData()
    tables = models.define_tables(metadata)
    for name, table in tables.items():
        if name not in ("schema_version", "tagged_events"):  # tagged_events came with version 2
            table.create(conn)


def _v2_tagged_events(conn: Connection) -> None:
    models.define_tagged_events(MetaData()).create(conn)


MIGRATIONS: list[Migration] = [
    Migration(
        1, "initial: alerts, evidence, events, subscriptions, deliveries, attempts, api keys", _v1_initial
    ),
    Migration(2, "tagged events: every extraction, alerted or not", _v2_tagged_events),
]

#: The schema version this code expects.
LATEST = MIGRATIONS[-1].version


def migrate_in(conn: Connection) -> list[int]:
    """Bring the schema up to :data:`LATEST` on ``conn``, in its transaction (committed by the
    caller, e.g. ``SqlAlertStore.start``); return the versions applied (empty when up to date)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.migrate'))"))
    if not inspect(conn).has_table("schema_version"):
        models.schema_version.create(conn)
    current = conn.execute(select(models.schema_version.c.version)).scalars().all()
    done = max(current, default=0)
    if done > LATEST:
        from monitor.errors import ConfigError

        raise ConfigError(
            f"store: the database schema is at version {done}, newer than this code's {LATEST}"
            "; upgrade the service"
        )
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= done:
            continue
        migration.apply(conn)
        conn.execute(
            insert(models.schema_version).values(
                version=migration.version, name=migration.name, applied_at=datetime.now(UTC)
            )
        )
        applied.append(migration.version)
    return applied


def version_in(conn: Connection) -> int:
    """The schema version of the database (0 when never migrated), read on ``conn``."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    return max(conn.execute(select(models.schema_version.c.version)).scalars().all(), default=0)
