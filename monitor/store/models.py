"""The tables of the current schema (SQLAlchemy Core). Migrations create them; queries use them.

A test checks that the migrated database has exactly these tables and columns, so that a change
here without a migration (or the reverse) fails.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

#: An integer primary key that autoincrements on both back ends (SQLite needs INTEGER for rowid).
BigId = BigInteger().with_variant(Integer, "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every back end (SQLite keeps naive text; we add the zone back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - defensive, SQLAlchemy parses SQLite text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def define_tables(metadata: MetaData) -> dict[str, Table]:
    """Define every table of schema version 1 on ``metadata``."""
    tables = {}
    tables["schema_version"] = Table(
        "schema_version",
        metadata,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("name", String(200), nullable=False),
        Column("applied_at", UtcDateTime, nullable=False),
    )
    tables["alerts"] = Table(
        "alerts",
        metadata,
        Column("id", String(200), primary_key=True),
        Column("fingerprint", String(200), nullable=False),
        Column("rule", String(200), nullable=False),
        Column("severity", String(20), nullable=False),
        Column("severity_rank", Integer, nullable=False),
        Column("measure", String(50), nullable=False),
        Column("direction", String(20)),
        Column("status", String(20), nullable=False),
        Column("revision", Integer, nullable=False),
        Column("raised_at", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        Column("stored_at", UtcDateTime, nullable=False),
        Column("acknowledged_at", UtcDateTime),
        Column("resolved_at", UtcDateTime),
        Column("seq", BigInteger, nullable=False),
        Column("data", Text, nullable=False),
        Index("ix_alerts_seq", "seq"),
        Index("ix_alerts_stored_at", "stored_at"),
        Index("ix_alerts_status_severity", "status", "severity_rank"),
    )
    tables["alert_tags"] = Table(
        "alert_tags",
        metadata,
        Column("alert_id", String(200), primary_key=True),
        Column("kind", String(20), primary_key=True),  # mineral, country
        Column("value", String(200), primary_key=True),
        Index("ix_alert_tags_kind_value", "kind", "value"),
    )
    tables["alert_evidence"] = Table(
        "alert_evidence",
        metadata,
        Column("alert_id", String(200), primary_key=True),
        Column("kind", String(20), primary_key=True),  # document, source, url
        Column("value", String(2048), primary_key=True),
        Column("position", Integer, nullable=False),
    )
    tables["alert_events"] = Table(
        "alert_events",
        metadata,
        Column("seq", BigId, primary_key=True, autoincrement=True),
        Column("alert_id", String(200), nullable=False),
        Column("revision", Integer, nullable=False),
        Column("status", String(20), nullable=False),
        Column("at", UtcDateTime, nullable=False),
        Column("data", Text, nullable=False),
        sqlite_autoincrement=True,
    )
    tables["subscriptions"] = Table(
        "subscriptions",
        metadata,
        Column("id", String(64), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("channel_type", String(20), nullable=False),
        Column("mode", String(20), nullable=False),
        Column("spec", Text, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        Column("disabled_reason", Text),
        Column("disabled_at", UtcDateTime),
        Column("next_digest_at", UtcDateTime),
        Column("last_digest_at", UtcDateTime),
    )
    tables["deliveries"] = Table(
        "deliveries",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("subscription_id", String(64), nullable=False),
        Column("channel_type", String(20), nullable=False),
        Column("message_id", String(100), nullable=False),
        Column("kind", String(20), nullable=False),
        Column("alert_id", String(200)),
        Column("revision", Integer),
        Column("body", LargeBinary, nullable=False),
        Column("status", String(20), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("period_start", UtcDateTime, nullable=False),
        Column("next_attempt_at", UtcDateTime),
        Column("lease_owner", String(100)),
        Column("lease_until", UtcDateTime),
        Column("first_attempt_at", UtcDateTime),
        Column("last_attempt_at", UtcDateTime),
        Column("last_status", Integer),
        Column("last_error", Text),
        Column("delivered_at", UtcDateTime),
        Column("dead_at", UtcDateTime),
        Column("dead_reason", Text),
        UniqueConstraint("subscription_id", "message_id", name="uq_deliveries_subscription_message"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_alert", "alert_id"),
        sqlite_autoincrement=True,
    )
    tables["delivery_attempts"] = Table(
        "delivery_attempts",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("delivery_id", BigInteger, nullable=False),
        Column("attempt", Integer, nullable=False),
        Column("at", UtcDateTime, nullable=False),
        Column("outcome", String(20), nullable=False),
        Column("duration_s", Float, nullable=False),
        Column("status_code", Integer),
        Column("error", Text),
        Index("ix_delivery_attempts_delivery", "delivery_id"),
    )
    tables["api_keys"] = Table(
        "api_keys",
        metadata,
        Column("id", String(64), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("key_hash", String(128), nullable=False, unique=True),
        Column("scopes", String(200), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("revoked_at", UtcDateTime),
        Index("ix_api_keys_name", "name"),
    )
    tables["tagged_events"] = define_tagged_events(metadata)
    return tables


def define_tagged_events(metadata: MetaData) -> Table:
    """Every tagged event (schema version 2): what the extractor found in each document, alerted or
    not, so that analysts can see partnerships, stockpiles and plain news too. ``minerals`` and
    ``countries`` are stored as ``,a,b,`` so that one ``LIKE '%,a,%'`` filters them on both back ends."""
    return Table(
        "tagged_events",
        metadata,
        Column("seq", BigId, primary_key=True, autoincrement=True),
        Column("document_id", String(512), nullable=False),
        Column("source", String(200), nullable=False),
        Column("title", Text, nullable=False),
        Column("url", Text),
        Column("published", UtcDateTime),
        Column("fetched", UtcDateTime, nullable=False),
        Column("recorded_at", UtcDateTime, nullable=False),
        Column("measure", String(50), nullable=False),
        Column("direction", String(20)),
        Column("imposing_country", String(8)),
        Column("target_country", String(8)),
        Column("minerals", Text, nullable=False),
        Column("countries", Text, nullable=False),
        Column("data", Text, nullable=False),
        UniqueConstraint("document_id", name="uq_tagged_events_document_id"),
        Index("ix_tagged_events_measure", "measure"),
        Index("ix_tagged_events_recorded_at", "recorded_at"),
        sqlite_autoincrement=True,
    )


metadata = MetaData()
_tables = define_tables(metadata)
schema_version = _tables["schema_version"]
alerts = _tables["alerts"]
alert_tags = _tables["alert_tags"]
alert_evidence = _tables["alert_evidence"]
alert_events = _tables["alert_events"]
subscriptions = _tables["subscriptions"]
deliveries = _tables["deliveries"]
delivery_attempts = _tables["delivery_attempts"]
api_keys = _tables["api_keys"]
tagged_events = _tables["tagged_events"]
