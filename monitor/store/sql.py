""":class:`SqlAlertStore`: the alert store on SQLAlchemy 2, SQLite or PostgreSQL.

Each operation is a synchronous function over one connection, run in one transaction by a runner
(:mod:`monitor.store.runner`): SQLite on the store's own thread, PostgreSQL through the async engine.

Ordering: every change of an alert appends a row to ``alert_events`` whose autoincrement ``seq`` is
the live stream's event id. On PostgreSQL the appending transactions are serialized by an advisory
lock, so sequence numbers become visible in order and a reader that resumes after ``seq`` never
misses a change (no gaps). SQLite serializes writers anyway (``BEGIN IMMEDIATE``).

Deliveries are leased (``lease_owner``/``lease_until``) by the worker sending them, so several
workers can share one PostgreSQL store and a crashed worker's deliveries are taken over when its
lease expires.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    Row,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from monitor.delivery.matching import AlertQuery, alert_countries
from monitor.delivery.schedule import next_digest_at
from monitor.delivery.subscription import DigestDelivery, SubscriptionSpec
from monitor.errors import StoreError
from monitor.records import Alert, TaggedEvent, severity_rank
from monitor.rules.merge import reconcile
from monitor.store import models as m
from monitor.store.base import (
    AlertEvent,
    ApiKeyRecord,
    AttemptRecord,
    DeliveryPlanner,
    DeliveryQuery,
    DeliveryRecord,
    NewDelivery,
    Page,
    StoredAlert,
    StoredBatch,
    SubscriptionRecord,
    UpsertResult,
    merge_status,
)
from monitor.store.migrations import migrate_in
from monitor.store.runner import AsyncRunner, Operation, Priority, Runner, ThreadRunner

T = TypeVar("T")


def encode_cursor(value: int | str) -> str:
    """An opaque pagination cursor."""
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The value behind a cursor; ValueError when it was not made by :func:`encode_cursor`."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as err:
        raise ValueError("invalid cursor") from err


def _int_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        return int(decode_cursor(cursor))
    except ValueError as err:
        raise ValueError("invalid cursor") from err


def _event_row(event: TaggedEvent, now: datetime) -> dict[str, Any]:
    x = event.extraction
    view = {
        "document_id": event.document_id,
        "title": event.title,
        "source": event.source,
        "url": event.url,
        "published": event.published.isoformat() if event.published else None,
        "fetched": event.fetched.isoformat(),
        "cluster_id": event.cluster_id,
        "tags": dict(event.tags),
        "minerals": list(x.minerals),
        "countries": list(x.countries),
        "imposing_country": x.imposing_country,
        "target_country": x.target_country,
        "measure": x.measure,
        "direction": x.direction,
        "effective_date": x.effective_date,
        "truncated": x.truncated,
        "spans": [
            {"start": sp.start, "end": sp.end, "text": sp.text, "label": sp.label, "value": sp.value}
            for sp in x.spans
        ],
    }
    return {
        "document_id": event.document_id[:512],
        "source": event.source[:200],
        "title": event.title,
        "url": event.url,
        "published": event.published,
        "fetched": event.fetched,
        "recorded_at": now,
        "measure": x.measure,
        "direction": x.direction,
        "imposing_country": x.imposing_country,
        "target_country": x.target_country,
        "minerals": "," + ",".join(x.minerals) + ",",
        "countries": "," + ",".join(x.countries) + ",",
        "data": json.dumps(view, ensure_ascii=False),
    }


def with_status(alert: Alert, status: str) -> Alert:
    """A copy of ``alert`` with another status."""
    data = json.loads(alert.dumps())
    data["status"] = status
    return Alert.from_data(data)


def _rank(severity: str) -> int:
    try:
        return severity_rank(severity)
    except ValueError:
        return -1


#: Ids per ``IN (...)`` list: far below SQLite's and asyncpg's bound-parameter limits.
_IN_CHUNK = 500


def _page(
    rows: Sequence[Row[Any]], limit: int, convert: Callable[[Row[Any]], T], key: Callable[[T], int | str]
) -> Page[T]:
    """A page of ``limit`` items from ``limit + 1`` rows read; the cursor is the last item's key."""
    items = [convert(r) for r in rows[:limit]]
    return Page(
        items=items, next_cursor=encode_cursor(key(items[-1])) if len(rows) > limit and items else None
    )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _tag_rows(alert: Alert) -> list[dict[str, Any]]:
    tags = {("mineral", v.lower()) for v in alert.minerals} | {("country", c) for c in alert_countries(alert)}
    return [{"alert_id": alert.id, "kind": k, "value": v} for k, v in sorted(tags)]


def _evidence_rows(alert: Alert) -> list[dict[str, Any]]:
    evidence: dict[tuple[str, str], int] = {}
    for kind, values in (("document", alert.document_ids), ("source", alert.sources), ("url", alert.urls)):
        for position, value in enumerate(values):
            # The column holds 2048 characters; the first position of a value (after the cut) counts.
            evidence.setdefault((kind, value[:2048]), position)
    return [{"alert_id": alert.id, "kind": k, "value": v, "position": p} for (k, v), p in evidence.items()]


class _Statements:
    """The hot path's statements, built once per store: building a statement (``on_conflict_do_update``
    over every column, ``in_`` with new literals) cost more than compiling it, which SQLAlchemy caches."""

    def __init__(self, dialect: str) -> None:
        insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
        ids: BindParameter[list[str]] = bindparam("ids", expanding=True)
        self.alerts_by_id = select(m.alerts).where(m.alerts.c.id.in_(ids))
        # One multi-row INSERT. PostgreSQL: SQLAlchemy orders the generated seqs as the rows given
        # (INSERT .. SELECT .. ORDER BY); SQLite cannot guarantee that in one statement, so there we
        # match the returned rows by (alert_id, revision), unique among a batch's changes. SQLite
        # fills a multi-row VALUES in order under the write lock, checked by the caller.
        self.append_events = insert(m.alert_events).returning(
            m.alert_events.c.seq,
            m.alert_events.c.alert_id,
            m.alert_events.c.revision,
            sort_by_parameter_order=dialect == "postgresql",
        )
        upsert = insert_(m.alerts)
        self.upsert_alerts = upsert.on_conflict_do_update(
            index_elements=["id"],
            set_={c.name: upsert.excluded[c.name] for c in m.alerts.c if c.name != "id"},
        )
        self.delete_tags = delete(m.alert_tags).where(m.alert_tags.c.alert_id.in_(ids))
        self.delete_evidence = delete(m.alert_evidence).where(m.alert_evidence.c.alert_id.in_(ids))
        self.insert_tags = insert(m.alert_tags)
        self.insert_evidence = insert(m.alert_evidence)
        self.subscriptions = select(m.subscriptions).order_by(m.subscriptions.c.id)
        self.enqueue = (
            insert_(m.deliveries)
            .on_conflict_do_nothing(index_elements=["subscription_id", "message_id"])
            .returning(*m.deliveries.c)
        )
        self.record_events = insert_(m.tagged_events).on_conflict_do_nothing(index_elements=["document_id"])


@dataclass(slots=True)
class _Version:
    """One alert's state during a batch upsert: as read from the table, or as a change writes it.

    A change's ``seq`` is known once its event is appended; results are built from these, so a
    batch needs no re-read of what it wrote.
    """

    id: str
    revision: int
    status: str
    data: str
    stored_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    seq: int = 0
    incoming: Alert | None = None  # set on a change: the alert whose columns, tags, evidence are written
    _parsed: StoredAlert | None = None

    @classmethod
    def of_row(cls, row: Row[Any]) -> _Version:
        """The stored state of an ``alerts`` row."""
        return cls(
            id=row.id,
            revision=row.revision,
            status=row.status,
            data=row.data,
            stored_at=row.stored_at,
            acknowledged_at=row.acknowledged_at,
            resolved_at=row.resolved_at,
            seq=row.seq,
        )

    @classmethod
    def of_change(cls, alert: Alert, before: _Version | None, now: datetime) -> _Version:
        """The state after storing ``alert`` over ``before`` (None: a new alert)."""
        status = merge_status(before.status if before is not None else None, alert.status)
        stored = with_status(alert, status) if status != alert.status else alert
        return cls(
            id=alert.id,
            revision=alert.revision,
            status=status,
            data=stored.dumps().decode(),
            stored_at=now,
            # An acknowledgement keeps its time while the alert stays acknowledged; the first
            # resolution's time is kept across later resolved revisions.
            acknowledged_at=before.acknowledged_at
            if before is not None and status == "acknowledged"
            else None,
            resolved_at=(
                (before.resolved_at if before is not None and before.resolved_at else now)
                if status == "resolved"
                else None
            ),
            incoming=alert,
        )

    def written(self) -> Alert:
        """The incoming alert of a change."""
        assert self.incoming is not None, "only a change is written"
        return self.incoming

    def row(self) -> dict[str, Any]:
        """The ``alerts`` row of a change."""
        alert = self.written()
        return {
            "id": self.id,
            "fingerprint": alert.fingerprint,
            "rule": alert.rule,
            "severity": alert.severity,
            "severity_rank": _rank(alert.severity),
            "measure": alert.measure,
            "direction": alert.direction,
            "status": self.status,
            "revision": self.revision,
            "raised_at": alert.raised_at,
            "updated_at": alert.updated_at,
            "stored_at": self.stored_at,
            "acknowledged_at": self.acknowledged_at,
            "resolved_at": self.resolved_at,
            "seq": self.seq,
            "data": self.data,
        }

    def stored(self) -> StoredAlert:
        """The state as :meth:`SqlAlertStore.get_alert` would read it back (parsed once)."""
        if self._parsed is None:
            self._parsed = StoredAlert(
                alert=Alert.from_data(json.loads(self.data)),
                seq=self.seq,
                stored_at=self.stored_at,
                acknowledged_at=self.acknowledged_at,
                resolved_at=self.resolved_at,
            )
        return self._parsed


class SqlAlertStore:
    """The :class:`~monitor.store.AlertStore` on SQLAlchemy 2: SQLite or PostgreSQL.

    Every operation is one synchronous function over a connection, run in one transaction by the
    store's runner (:mod:`monitor.store.runner`): on SQLite the standard library's ``sqlite3`` on the
    store's own thread (``sqlite+aiosqlite://`` URLs are accepted and mean the same file), on
    PostgreSQL the async engine (asyncpg) through ``run_sync``.

    ``schema`` (PostgreSQL only) puts every table in that schema, created when missing: tests use a
    unique one per run. For SQLite the parent folder of the database file is created when missing.
    """

    def __init__(self, url: str, *, schema: str | None = None, echo: bool = False) -> None:
        self.url = url
        self.schema = schema
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        self._runner: Runner
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
                # One connection per process, on the store's thread: SQLite has one writer anyway.
                kwargs.update(pool_size=1, max_overflow=0)
            kwargs["connect_args"] = {"timeout": 30}
            engine = create_engine(parsed.set(drivername="sqlite+pysqlite"), **kwargs)
            self._configure_sqlite(engine)
            self._runner = ThreadRunner(engine, name="alert-store")
        elif self.dialect == "postgresql":
            if schema:
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
            self._runner = AsyncRunner(create_async_engine(parsed, **kwargs))
        else:
            raise ValueError(f"unsupported store URL {parsed.render_as_string(hide_password=True)!r}")
        #: The engine whose events see every statement of the store (the runner's).
        self.sync_engine: Engine = self._runner.sync_engine
        self._stmt = _Statements(self.dialect)

    @staticmethod
    def _configure_sqlite(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, open transactions (BEGIN IMMEDIATE below).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    # --- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the schema (PostgreSQL) when missing and apply pending migrations."""
        if self.dialect == "postgresql" and self.schema:
            schema = self.schema

            def create_schema(conn: Connection) -> None:
                exists_ = conn.scalar(
                    text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"), {"s": schema}
                )
                if not exists_:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))

            await self._write(create_schema)
        await self._write(migrate_in)

    async def close(self) -> None:
        """Finish the queued operations and close the connections (a later call opens them again)."""
        await self._runner.close()

    async def __aenter__(self) -> SqlAlertStore:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def drop_schema(self) -> None:
        """Drop the PostgreSQL schema and everything in it (tests)."""
        if self.dialect == "postgresql" and self.schema:
            schema = self.schema

            def drop(conn: Connection) -> None:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

            await self._write(drop)

    async def ping(self) -> bool:
        """True when the database answers."""
        try:
            await self._read(lambda conn: conn.execute(text("SELECT 1")).all())
        except Exception:  # readiness reports any failure as not ready
            return False
        return True

    async def run_sync(self, op: Operation[T], *, write: bool = False) -> T:
        """Run ``op`` (a function of a :class:`~sqlalchemy.Connection`) as one store operation: in one
        transaction, committed when ``write`` and it returns, rolled back otherwise (tests, tools)."""
        return await self._runner.run(op, write=write)

    async def _read(self, op: Operation[T], *, priority: Priority = Priority.DEFAULT) -> T:
        return await self._runner.run(op, write=False, priority=priority)

    async def _write(
        self, op: Operation[T], *, events: bool = False, priority: Priority = Priority.DEFAULT
    ) -> T:
        """Run ``op`` in a write transaction; ``events``: it appends alert events (see the module
        docstring: on PostgreSQL those transactions are serialized)."""
        if events and self.dialect == "postgresql":
            return await self._runner.run(
                functools.partial(_locked_events, op), write=True, priority=priority
            )
        return await self._runner.run(op, write=True, priority=priority)

    # --- tagged events ------------------------------------------------------------------------------

    async def record_events(self, events: Sequence[TaggedEvent], *, now: datetime) -> int:
        """Keep what the extractor found in each document (idempotent per document id); return how
        many were new. The text is not kept: the document's URL and the spans' surface text are."""
        if not events:
            return 0
        stmt = self._stmt.record_events

        def op(conn: Connection) -> int:
            result = conn.execute(stmt, [_event_row(event, now) for event in events])
            return int(result.rowcount or 0) if result.rowcount and result.rowcount > 0 else 0

        return await self._write(op, priority=Priority.BACKGROUND)

    async def list_events(
        self,
        *,
        measures: Sequence[str] = (),
        minerals: Sequence[str] = (),
        countries: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Tagged events, latest recorded first, keyset-paginated; filters are any-of lists."""
        t = m.tagged_events
        stmt = select(t).order_by(t.c.seq.desc()).limit(limit + 1)
        after = _int_cursor(cursor)
        if after is not None:
            stmt = stmt.where(t.c.seq < after)
        if measures:
            stmt = stmt.where(t.c.measure.in_(list(measures)))
        if minerals:
            stmt = stmt.where(or_(*(t.c.minerals.like(f"%,{v.lower()},%") for v in minerals)))
        if countries:
            stmt = stmt.where(or_(*(t.c.countries.like(f"%,{v.upper()},%") for v in countries)))
        if since:
            stmt = stmt.where(t.c.recorded_at >= since)
        if until:
            stmt = stmt.where(t.c.recorded_at <= until)

        def op(conn: Connection) -> tuple[list[dict[str, Any]], str | None]:
            rows = conn.execute(stmt).all()
            items = [
                json.loads(row.data) | {"recorded_at": row.recorded_at.isoformat()} for row in rows[:limit]
            ]
            return items, encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None

        return await self._read(op)

    # --- alerts -------------------------------------------------------------------------------------

    @staticmethod
    def _stored(row: Row[Any]) -> StoredAlert:
        return StoredAlert(
            alert=Alert.from_data(json.loads(row.data)),
            seq=row.seq,
            stored_at=row.stored_at,
            acknowledged_at=row.acknowledged_at,
            resolved_at=row.resolved_at,
        )

    @staticmethod
    def _append_event(conn: Connection, alert: Alert, now: datetime) -> int:
        result = conn.execute(
            insert(m.alert_events).values(
                alert_id=alert.id,
                revision=alert.revision,
                status=alert.status,
                at=now,
                data=alert.dumps().decode(),
            )
        )
        seq = result.inserted_primary_key
        assert seq is not None
        return int(seq[0])

    async def upsert_alert(self, alert: Alert, *, now: datetime) -> UpsertResult:
        """Store ``alert`` unless the same or a higher revision is already stored."""
        return (await self.upsert_alerts([alert], now=now))[0]

    async def upsert_alerts(self, alerts: Sequence[Alert], *, now: datetime) -> list[UpsertResult]:
        """Store a batch of alerts in one transaction; one result per alert, in order.

        The outcome equals :meth:`upsert_alert` called for each alert in turn (an alert whose revision
        is not above the stored one, or one earlier in the batch, is ignored; statuses merge the same
        way; one stream event per change, in batch order), in a fixed number of round trips.
        Idempotent: retrying a batch that failed (or even one that was stored) stores nothing twice.
        A transient database failure raises :class:`~monitor.errors.StoreError` (``transient=True``)
        and stores nothing of the batch.
        """
        if not alerts:
            return []
        now = now.astimezone(UTC)
        with transient_as_store_error():
            return await self._write(
                lambda conn: self._upsert_in(conn, alerts, now), events=True, priority=Priority.ALERTS
            )

    def _upsert_in(self, conn: Connection, alerts: Sequence[Alert], now: datetime) -> list[UpsertResult]:
        ids = list(dict.fromkeys(a.id for a in alerts))
        # The state of each id as the batch goes: first what is stored, then each accepted revision.
        current: dict[str, _Version] = {}
        for chunk in _chunks(ids, _IN_CHUNK):
            rows = conn.execute(self._stmt.alerts_by_id, {"ids": chunk}).all()
            current.update((row.id, _Version.of_row(row)) for row in rows)
        existed = set(current)
        plan: list[tuple[_Version, bool, bool]] = []  # (state reported, changed, created)
        changes: list[_Version] = []
        for alert in alerts:
            before = current.get(alert.id)
            if before is not None:
                # Usually a newer revision holding every stored document, or a re-delivery; after a
                # rebalance two revisions can diverge, and then neither loses its evidence.
                prior = before.incoming if before.incoming is not None else before.stored().alert
                kept = reconcile(prior, alert)
                if kept is None:
                    plan.append((before, False, False))
                    continue
                alert = kept
            version = _Version.of_change(alert, before, now)
            current[alert.id] = version
            changes.append(version)
            plan.append((version, True, before is None))
        if changes:
            self._write_changes(conn, changes, existed, now)
        return [
            UpsertResult(stored=version.stored(), changed=changed, created=created)
            for version, changed, created in plan
        ]

    async def store_alerts(
        self,
        alerts: Sequence[Alert],
        *,
        now: datetime,
        planner: DeliveryPlanner,
        owner: str,
        lease_until: datetime,
    ) -> StoredBatch:
        """Upsert ``alerts`` and enqueue the deliveries ``planner`` gives for the changed ones, in one
        transaction (a transactional outbox): no alert is stored without its deliveries, so a failure
        between the two cannot leave deliveries owed. The subscriptions are read in the same
        transaction. Idempotent like :meth:`upsert_alerts`; a transient failure raises
        :class:`~monitor.errors.StoreError` (``transient=True``) and stores nothing.

        ``planner`` runs inside the transaction, on the store's thread for SQLite."""
        if not alerts:
            return StoredBatch(results=[], subscriptions=[], deliveries=[])
        now = now.astimezone(UTC)

        def op(conn: Connection) -> StoredBatch:
            results = self._upsert_in(conn, alerts, now)
            changed = [r.stored.alert for r in results if r.changed]
            if not changed:
                return StoredBatch(results=results, subscriptions=[], deliveries=[])
            rows = conn.execute(self._stmt.subscriptions).all()
            subscriptions = [self._subscription(r) for r in rows]
            wanted = planner(changed, subscriptions)
            deliveries = self._enqueue_in(conn, wanted, now, owner, lease_until)
            return StoredBatch(results=results, subscriptions=subscriptions, deliveries=deliveries)

        with transient_as_store_error():
            return await self._write(op, events=True, priority=Priority.ALERTS)

    def _write_changes(
        self, conn: Connection, changes: list[_Version], existed: set[str], now: datetime
    ) -> None:
        """Append the events of ``changes`` (in order) and write the final state of each changed id."""
        events = [
            {"alert_id": v.id, "revision": v.revision, "status": v.status, "at": now, "data": v.data}
            for v in changes
        ]
        returned = conn.execute(self._stmt.append_events, events).all()
        seqs = {(r.alert_id, r.revision): int(r.seq) for r in returned}
        previous = 0
        for v in changes:
            v.seq = seqs[(v.id, v.revision)]
            if v.seq <= previous:  # would break the live stream's order: never commit that
                raise RuntimeError("alert events were not numbered in batch order")
            previous = v.seq
        final = list({v.id: v for v in changes}.values())  # the last accepted revision of each id
        conn.execute(self._stmt.upsert_alerts, [v.row() for v in final])
        replaced = [v.id for v in final if v.id in existed]
        for chunk in _chunks(replaced, _IN_CHUNK):
            conn.execute(self._stmt.delete_tags, {"ids": chunk})
            conn.execute(self._stmt.delete_evidence, {"ids": chunk})
        tags = [row for v in final for row in _tag_rows(v.written())]
        if tags:
            conn.execute(self._stmt.insert_tags, tags)
        evidence = [row for v in final for row in _evidence_rows(v.written())]
        if evidence:
            conn.execute(self._stmt.insert_evidence, evidence)

    async def get_alert(self, alert_id: str) -> StoredAlert | None:
        """One alert, or None."""

        def op(conn: Connection) -> StoredAlert | None:
            row = conn.execute(select(m.alerts).where(m.alerts.c.id == alert_id)).first()
            return self._stored(row) if row is not None else None

        return await self._read(op)

    async def get_evidence(self, alert_id: str) -> list[dict[str, Any]]:
        """The alert's evidence rows (kind ``document``, ``source`` or ``url``, in received order)."""
        stmt = (
            select(m.alert_evidence)
            .where(m.alert_evidence.c.alert_id == alert_id)
            .order_by(m.alert_evidence.c.kind, m.alert_evidence.c.position)
        )
        return await self._read(lambda conn: [{"kind": r.kind, "value": r.value} for r in conn.execute(stmt)])

    @staticmethod
    def _tag_filter(kind: str, values: Sequence[str]) -> ColumnElement[bool]:
        return exists().where(
            and_(
                m.alert_tags.c.alert_id == m.alerts.c.id,
                m.alert_tags.c.kind == kind,
                m.alert_tags.c.value.in_(values),
            )
        )

    async def list_alerts(
        self, query: AlertQuery, *, limit: int, cursor: str | None = None
    ) -> Page[StoredAlert]:
        """Alerts matching ``query``, latest change first, keyset-paginated on the change sequence."""
        stmt = select(m.alerts).order_by(m.alerts.c.seq.desc()).limit(limit + 1)
        after = _int_cursor(cursor)
        if after is not None:
            stmt = stmt.where(m.alerts.c.seq < after)
        if query.minerals:
            stmt = stmt.where(self._tag_filter("mineral", [v.lower() for v in query.minerals]))
        if query.countries:
            stmt = stmt.where(self._tag_filter("country", [v.upper() for v in query.countries]))
        if query.measures:
            stmt = stmt.where(m.alerts.c.measure.in_(query.measures))
        if query.min_severity:
            stmt = stmt.where(m.alerts.c.severity_rank >= _rank(query.min_severity))
        if query.since:
            stmt = stmt.where(m.alerts.c.updated_at >= query.since)
        if query.until:
            stmt = stmt.where(m.alerts.c.updated_at <= query.until)
        if query.statuses:
            stmt = stmt.where(m.alerts.c.status.in_(query.statuses))

        def op(conn: Connection) -> Page[StoredAlert]:
            return _page(conn.execute(stmt).all(), limit, self._stored, lambda a: a.seq)

        return await self._read(op)

    async def set_alert_status(self, alert_id: str, status: str, *, now: datetime) -> StoredAlert | None:
        """Acknowledge or resolve an alert by hand; a stream event records the change."""

        def op(conn: Connection) -> StoredAlert | None:
            row = conn.execute(select(m.alerts).where(m.alerts.c.id == alert_id)).first()
            if row is None:
                return None
            if row.status == status:
                return self._stored(row)
            alert = with_status(Alert.from_data(json.loads(row.data)), status)
            seq = self._append_event(conn, alert, now)
            values: dict[str, Any] = {"status": status, "seq": seq, "data": alert.dumps().decode()}
            if status == "acknowledged":
                values["acknowledged_at"] = now
            if status == "resolved":
                values["resolved_at"] = now
            conn.execute(update(m.alerts).where(m.alerts.c.id == alert_id).values(**values))
            new_row = conn.execute(select(m.alerts).where(m.alerts.c.id == alert_id)).one()
            return self._stored(new_row)

        return await self._write(op, events=True)

    async def alert_events_after(self, seq: int, *, limit: int) -> list[AlertEvent]:
        """Alert changes after ``seq``, oldest first."""
        stmt = (
            select(m.alert_events.c.seq, m.alert_events.c.data)
            .where(m.alert_events.c.seq > seq)
            .order_by(m.alert_events.c.seq)
            .limit(limit)
        )
        return await self._read(
            lambda conn: [
                AlertEvent(seq=r.seq, alert=Alert.from_data(json.loads(r.data))) for r in conn.execute(stmt)
            ]
        )

    async def last_event_seq(self) -> int:
        """The latest change's sequence, 0 when none."""
        return await self._read(lambda conn: int(conn.scalar(select(func.max(m.alert_events.c.seq))) or 0))

    async def alerts_changed_between(
        self, start: datetime, end: datetime, *, limit: int
    ) -> list[StoredAlert]:
        """Alerts whose latest revision was stored in ``(start, end]``, oldest first."""
        stmt = (
            select(m.alerts)
            .where(m.alerts.c.stored_at > start, m.alerts.c.stored_at <= end)
            .order_by(m.alerts.c.stored_at)
            .limit(limit)
        )
        return await self._read(lambda conn: [self._stored(r) for r in conn.execute(stmt)])

    async def open_alerts_by_severity(self) -> dict[str, int]:
        """Alerts not resolved, counted per severity."""
        stmt = (
            select(m.alerts.c.severity, func.count())
            .where(m.alerts.c.status != "resolved")
            .group_by(m.alerts.c.severity)
        )
        return await self._read(
            lambda conn: {r[0]: int(r[1]) for r in conn.execute(stmt)}, priority=Priority.BACKGROUND
        )

    # --- subscriptions ------------------------------------------------------------------------------

    @staticmethod
    def _subscription(row: Row[Any]) -> SubscriptionRecord:
        return SubscriptionRecord(
            id=row.id,
            spec=SubscriptionSpec.model_validate_json(row.spec),
            created_at=row.created_at,
            updated_at=row.updated_at,
            disabled_reason=row.disabled_reason,
            disabled_at=row.disabled_at,
            next_digest_at=row.next_digest_at,
            last_digest_at=row.last_digest_at,
        )

    @staticmethod
    def _next_digest(spec: SubscriptionSpec, now: datetime) -> datetime | None:
        return next_digest_at(spec.delivery, now) if isinstance(spec.delivery, DigestDelivery) else None

    async def create_subscription(self, spec: SubscriptionSpec, *, now: datetime) -> SubscriptionRecord:
        """Store a new subscription with a fresh id."""
        sub_id = "sub_" + secrets.token_hex(8)

        def op(conn: Connection) -> SubscriptionRecord:
            conn.execute(
                insert(m.subscriptions).values(
                    id=sub_id,
                    name=spec.name,
                    channel_type=spec.channel.type,
                    mode=spec.delivery.mode,
                    spec=spec.model_dump_json(),
                    created_at=now,
                    updated_at=now,
                    next_digest_at=self._next_digest(spec, now),
                    last_digest_at=now if isinstance(spec.delivery, DigestDelivery) else None,
                )
            )
            row = conn.execute(select(m.subscriptions).where(m.subscriptions.c.id == sub_id)).one()
            return self._subscription(row)

        return await self._write(op)

    async def get_subscription(self, subscription_id: str) -> SubscriptionRecord | None:
        """One subscription, or None."""

        def op(conn: Connection) -> SubscriptionRecord | None:
            row = conn.execute(select(m.subscriptions).where(m.subscriptions.c.id == subscription_id)).first()
            return self._subscription(row) if row is not None else None

        return await self._read(op)

    async def list_subscriptions(
        self, *, limit: int = 1000, cursor: str | None = None
    ) -> Page[SubscriptionRecord]:
        """Subscriptions in creation order (then id)."""
        stmt = select(m.subscriptions).order_by(m.subscriptions.c.id).limit(limit + 1)
        if cursor is not None:
            stmt = stmt.where(m.subscriptions.c.id > decode_cursor(cursor))

        def op(conn: Connection) -> Page[SubscriptionRecord]:
            return _page(conn.execute(stmt).all(), limit, self._subscription, lambda sub: sub.id)

        return await self._read(op)

    async def update_subscription(
        self, subscription_id: str, spec: SubscriptionSpec, *, now: datetime, clear_disabled: bool = False
    ) -> SubscriptionRecord | None:
        """Replace the spec; re-enabling clears a disabled reason; the digest schedule is recomputed."""

        def op(conn: Connection) -> SubscriptionRecord | None:
            row = conn.execute(select(m.subscriptions).where(m.subscriptions.c.id == subscription_id)).first()
            if row is None:
                return None
            old = SubscriptionSpec.model_validate_json(row.spec)
            values: dict[str, Any] = {
                "name": spec.name,
                "channel_type": spec.channel.type,
                "mode": spec.delivery.mode,
                "spec": spec.model_dump_json(),
                "updated_at": now,
            }
            if spec.delivery != old.delivery:
                values["next_digest_at"] = self._next_digest(spec, now)
                if isinstance(spec.delivery, DigestDelivery) and row.last_digest_at is None:
                    values["last_digest_at"] = now
            if spec.enabled and (clear_disabled or not old.enabled or spec.channel != old.channel):
                values["disabled_reason"] = None
                values["disabled_at"] = None
            conn.execute(
                update(m.subscriptions).where(m.subscriptions.c.id == subscription_id).values(**values)
            )
            new_row = conn.execute(
                select(m.subscriptions).where(m.subscriptions.c.id == subscription_id)
            ).one()
            return self._subscription(new_row)

        return await self._write(op)

    async def delete_subscription(self, subscription_id: str, *, now: datetime) -> bool:
        """Delete the subscription and cancel its pending deliveries."""

        def op(conn: Connection) -> bool:
            result = conn.execute(delete(m.subscriptions).where(m.subscriptions.c.id == subscription_id))
            conn.execute(
                update(m.deliveries)
                .where(m.deliveries.c.subscription_id == subscription_id, m.deliveries.c.status == "pending")
                .values(
                    status="cancelled",
                    dead_reason="subscription deleted",
                    next_attempt_at=None,
                    lease_owner=None,
                    lease_until=None,
                    dead_at=now,
                )
            )
            return bool(result.rowcount)

        return await self._write(op)

    async def disable_subscription(self, subscription_id: str, reason: str, *, now: datetime) -> None:
        """Mark the subscription's endpoint disabled; its pending deliveries are cancelled."""

        def op(conn: Connection) -> None:
            conn.execute(
                update(m.subscriptions)
                .where(m.subscriptions.c.id == subscription_id)
                .values(disabled_reason=reason, disabled_at=now, updated_at=now)
            )
            conn.execute(
                update(m.deliveries)
                .where(m.deliveries.c.subscription_id == subscription_id, m.deliveries.c.status == "pending")
                .values(
                    status="cancelled",
                    dead_reason=reason,
                    next_attempt_at=None,
                    lease_owner=None,
                    lease_until=None,
                    dead_at=now,
                )
            )

        await self._write(op)

    async def due_digests(self, now: datetime) -> list[SubscriptionRecord]:
        """Active digest subscriptions that are due."""
        stmt = select(m.subscriptions).where(
            m.subscriptions.c.mode == "digest",
            m.subscriptions.c.next_digest_at <= now,
            m.subscriptions.c.disabled_reason.is_(None),
        )

        def op(conn: Connection) -> list[SubscriptionRecord]:
            return [s for s in (self._subscription(r) for r in conn.execute(stmt)) if s.active]

        return await self._read(op, priority=Priority.BACKGROUND)

    async def advance_digest(
        self, subscription_id: str, *, expected: datetime, next_at: datetime, sent_at: datetime
    ) -> bool:
        """Claim a due digest by moving its schedule on (compare-and-set on ``next_digest_at``)."""
        stmt = (
            update(m.subscriptions)
            .where(m.subscriptions.c.id == subscription_id, m.subscriptions.c.next_digest_at == expected)
            .values(next_digest_at=next_at, last_digest_at=sent_at)
        )
        return await self._write(lambda conn: conn.execute(stmt).rowcount == 1, priority=Priority.BACKGROUND)

    # --- deliveries ---------------------------------------------------------------------------------

    @staticmethod
    def _delivery(row: Row[Any]) -> DeliveryRecord:
        return DeliveryRecord(
            id=row.id,
            subscription_id=row.subscription_id,
            channel_type=row.channel_type,
            message_id=row.message_id,
            kind=row.kind,
            body=bytes(row.body),
            status=row.status,
            attempts=row.attempts,
            created_at=row.created_at,
            period_start=row.period_start,
            next_attempt_at=row.next_attempt_at,
            alert_id=row.alert_id,
            revision=row.revision,
            first_attempt_at=row.first_attempt_at,
            last_attempt_at=row.last_attempt_at,
            last_status=row.last_status,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            dead_at=row.dead_at,
            dead_reason=row.dead_reason,
        )

    async def enqueue_deliveries(
        self, deliveries: Sequence[NewDelivery], *, now: datetime, owner: str, lease_until: datetime
    ) -> list[DeliveryRecord]:
        """Insert deliveries leased to ``owner``; duplicates (same subscription, message id) are skipped."""
        if not deliveries:
            return []
        return await self._write(lambda conn: self._enqueue_in(conn, deliveries, now, owner, lease_until))

    def _enqueue_in(
        self,
        conn: Connection,
        deliveries: Sequence[NewDelivery],
        now: datetime,
        owner: str,
        lease_until: datetime,
    ) -> list[DeliveryRecord]:
        if not deliveries:
            return []
        rows = [
            {
                "subscription_id": d.subscription_id,
                "channel_type": d.channel_type,
                "message_id": d.message_id,
                "kind": d.kind,
                "alert_id": d.alert_id,
                "revision": d.revision,
                "body": d.body,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "period_start": now,
                "next_attempt_at": now,
                "lease_owner": owner,
                "lease_until": lease_until,
            }
            for d in deliveries
        ]
        # One multi-row INSERT; the rows come back in no set order, so they are put back in the order
        # given by their (subscription, message id), unique in the table.
        inserted = conn.execute(self._stmt.enqueue, rows).all()
        by_key = {(r.subscription_id, r.message_id): r for r in inserted}
        out: list[DeliveryRecord] = []
        for d in deliveries:
            row = by_key.pop((d.subscription_id, d.message_id), None)
            if row is not None:  # None: stored before (or given twice)
                out.append(self._delivery(row))
        return out

    async def claim_due_deliveries(
        self, now: datetime, *, owner: str, lease_until: datetime, limit: int, exclude: Sequence[int] = ()
    ) -> list[DeliveryRecord]:
        """Lease up to ``limit`` due, unleased pending deliveries (oldest due first)."""
        free = or_(m.deliveries.c.lease_until.is_(None), m.deliveries.c.lease_until < now)
        stmt = (
            select(m.deliveries.c.id)
            .where(m.deliveries.c.status == "pending", m.deliveries.c.next_attempt_at <= now, free)
            .order_by(m.deliveries.c.next_attempt_at, m.deliveries.c.id)
            .limit(limit + len(exclude))
        )
        excluded = set(exclude)

        def op(conn: Connection) -> list[DeliveryRecord]:
            claimed: list[DeliveryRecord] = []
            ids = [i for i in conn.execute(stmt).scalars().all() if i not in excluded][:limit]
            for delivery_id in ids:
                row = conn.execute(
                    update(m.deliveries)
                    .where(m.deliveries.c.id == delivery_id, m.deliveries.c.status == "pending", free)
                    .values(lease_owner=owner, lease_until=lease_until)
                    .returning(*m.deliveries.c)
                ).first()
                if row is not None:
                    claimed.append(self._delivery(row))
            return claimed

        return await self._write(op, priority=Priority.BACKGROUND)

    async def renew_lease(
        self, delivery_id: int, *, now: datetime, owner: str, lease_until: datetime
    ) -> bool:
        """Extend our lease (or take over an expired one) on a pending delivery."""
        stmt = (
            update(m.deliveries)
            .where(
                m.deliveries.c.id == delivery_id,
                m.deliveries.c.status == "pending",
                or_(
                    m.deliveries.c.lease_owner == owner,
                    m.deliveries.c.lease_until.is_(None),
                    m.deliveries.c.lease_until < now,
                ),
            )
            .values(lease_owner=owner, lease_until=lease_until)
        )
        return await self._write(lambda conn: conn.execute(stmt).rowcount == 1)

    async def record_attempt(self, attempt: AttemptRecord) -> None:
        """Append the attempt and count it on the delivery."""

        def op(conn: Connection) -> None:
            conn.execute(
                insert(m.delivery_attempts).values(
                    delivery_id=attempt.delivery_id,
                    attempt=attempt.attempt,
                    at=attempt.at,
                    outcome=attempt.outcome,
                    duration_s=attempt.duration_s,
                    status_code=attempt.status_code,
                    error=attempt.error,
                )
            )
            conn.execute(
                update(m.deliveries)
                .where(m.deliveries.c.id == attempt.delivery_id)
                .values(
                    attempts=m.deliveries.c.attempts + 1,
                    first_attempt_at=func.coalesce(m.deliveries.c.first_attempt_at, attempt.at),
                    last_attempt_at=attempt.at,
                    last_status=attempt.status_code,
                    last_error=attempt.error,
                )
            )

        await self._write(op, priority=Priority.BACKGROUND)

    async def record_deliveries(self, attempts: Sequence[AttemptRecord]) -> None:
        """Successful attempts in one transaction (two statements, however many): each appended to
        its delivery's history, the delivery marked delivered at the attempt's end."""
        if not attempts:
            return

        def op(conn: Connection) -> None:
            conn.execute(
                insert(m.delivery_attempts),
                [
                    {
                        "delivery_id": a.delivery_id,
                        "attempt": a.attempt,
                        "at": a.at,
                        "outcome": a.outcome,
                        "duration_s": a.duration_s,
                        "status_code": a.status_code,
                        "error": a.error,
                    }
                    for a in attempts
                ],
            )
            conn.execute(
                update(m.deliveries)
                .where(m.deliveries.c.id == bindparam("b_id"))
                .values(
                    attempts=m.deliveries.c.attempts + 1,
                    first_attempt_at=func.coalesce(m.deliveries.c.first_attempt_at, bindparam("b_at")),
                    last_attempt_at=bindparam("b_at"),
                    status="delivered",
                    delivered_at=bindparam("b_done"),
                    next_attempt_at=None,
                    lease_owner=None,
                    lease_until=None,
                    last_status=bindparam("b_status"),
                    last_error=None,
                ),
                [
                    {
                        "b_id": a.delivery_id,
                        "b_at": a.at,
                        "b_done": a.at + timedelta(seconds=a.duration_s),
                        "b_status": a.status_code,
                    }
                    for a in attempts
                ],
            )

        await self._write(op, priority=Priority.BACKGROUND)

    async def schedule_retry(
        self,
        delivery_id: int,
        *,
        now: datetime,
        next_attempt_at: datetime,
        status_code: int | None,
        error: str,
    ) -> None:
        """Release the lease; the delivery is due again at ``next_attempt_at``."""
        stmt = (
            update(m.deliveries)
            .where(m.deliveries.c.id == delivery_id, m.deliveries.c.status == "pending")
            .values(
                next_attempt_at=next_attempt_at,
                lease_owner=None,
                lease_until=None,
                last_status=status_code,
                last_error=error,
            )
        )
        await self._write(lambda conn: conn.execute(stmt), priority=Priority.BACKGROUND)

    async def mark_final(
        self, delivery_id: int, status: str, *, now: datetime, reason: str, status_code: int | None = None
    ) -> None:
        """End the delivery as ``dead``, ``gone`` or ``cancelled`` with a reason."""
        if status not in ("dead", "gone", "cancelled"):
            raise ValueError(f"not a final failure status: {status!r}")
        stmt = (
            update(m.deliveries)
            .where(m.deliveries.c.id == delivery_id)
            .values(
                status=status,
                dead_at=now,
                dead_reason=reason,
                next_attempt_at=None,
                lease_owner=None,
                lease_until=None,
                last_status=status_code,
            )
        )
        await self._write(lambda conn: conn.execute(stmt), priority=Priority.BACKGROUND)

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        """One delivery, or None."""

        def op(conn: Connection) -> DeliveryRecord | None:
            row = conn.execute(select(m.deliveries).where(m.deliveries.c.id == delivery_id)).first()
            return self._delivery(row) if row is not None else None

        return await self._read(op)

    async def list_deliveries(
        self, query: DeliveryQuery, *, limit: int, cursor: str | None = None
    ) -> Page[DeliveryRecord]:
        """Deliveries matching ``query``, newest first."""
        stmt = select(m.deliveries).order_by(m.deliveries.c.id.desc()).limit(limit + 1)
        before = _int_cursor(cursor)
        if before is not None:
            stmt = stmt.where(m.deliveries.c.id < before)
        if query.statuses:
            stmt = stmt.where(m.deliveries.c.status.in_(query.statuses))
        if query.subscription_id:
            stmt = stmt.where(m.deliveries.c.subscription_id == query.subscription_id)
        if query.alert_id:
            stmt = stmt.where(m.deliveries.c.alert_id == query.alert_id)

        def op(conn: Connection) -> Page[DeliveryRecord]:
            return _page(conn.execute(stmt).all(), limit, self._delivery, lambda d: d.id)

        return await self._read(op)

    async def list_attempts(self, delivery_id: int) -> list[AttemptRecord]:
        """The attempts of one delivery, oldest first."""
        stmt = (
            select(m.delivery_attempts)
            .where(m.delivery_attempts.c.delivery_id == delivery_id)
            .order_by(m.delivery_attempts.c.id)
        )

        def op(conn: Connection) -> list[AttemptRecord]:
            return [
                AttemptRecord(
                    delivery_id=r.delivery_id,
                    attempt=r.attempt,
                    at=r.at,
                    outcome=r.outcome,
                    duration_s=r.duration_s,
                    status_code=r.status_code,
                    error=r.error,
                )
                for r in conn.execute(stmt)
            ]

        return await self._read(op)

    async def replay_dead(
        self, *, now: datetime, subscription_id: str | None = None, delivery_ids: Sequence[int] = ()
    ) -> list[DeliveryRecord]:
        """Dead deliveries back to pending now, with a fresh retry period and attempt count."""
        conditions = [m.deliveries.c.status == "dead"]
        if subscription_id:
            conditions.append(m.deliveries.c.subscription_id == subscription_id)
        if delivery_ids:
            conditions.append(m.deliveries.c.id.in_(list(delivery_ids)))
        stmt = (
            update(m.deliveries)
            .where(*conditions)
            .values(
                status="pending",
                attempts=0,
                period_start=now,
                next_attempt_at=now,
                dead_at=None,
                dead_reason=None,
                lease_owner=None,
                lease_until=None,
            )
            .returning(*m.deliveries.c)
        )
        return await self._write(lambda conn: [self._delivery(r) for r in conn.execute(stmt).all()])

    async def release_leases(self, owner: str) -> int:
        """Give back the pending deliveries leased by ``owner``."""
        stmt = (
            update(m.deliveries)
            .where(m.deliveries.c.lease_owner == owner, m.deliveries.c.status == "pending")
            .values(lease_owner=None, lease_until=None)
        )
        return await self._write(lambda conn: int(conn.execute(stmt).rowcount or 0))

    async def count_waiting_retries(self) -> int:
        """Pending deliveries that failed at least once."""
        stmt = select(func.count()).where(m.deliveries.c.status == "pending", m.deliveries.c.attempts > 0)
        return await self._read(lambda conn: int(conn.scalar(stmt) or 0), priority=Priority.BACKGROUND)

    # --- API keys -----------------------------------------------------------------------------------

    @staticmethod
    def _key(row: Row[Any]) -> ApiKeyRecord:
        return ApiKeyRecord(
            id=row.id,
            name=row.name,
            scopes=frozenset(s for s in row.scopes.split(",") if s),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )

    async def create_api_key(
        self, name: str, scopes: Sequence[str], key_hash: str, *, now: datetime
    ) -> ApiKeyRecord:
        """Store a key hash under ``name``; ValueError when an active key has that name."""
        key_id = "key_" + secrets.token_hex(8)

        def op(conn: Connection) -> ApiKeyRecord:
            active = conn.scalar(
                select(func.count()).where(m.api_keys.c.name == name, m.api_keys.c.revoked_at.is_(None))
            )
            if active:
                raise ValueError(f"an active API key named {name!r} exists; revoke it first")
            conn.execute(
                insert(m.api_keys).values(
                    id=key_id,
                    name=name,
                    key_hash=key_hash,
                    scopes=",".join(sorted(set(scopes))),
                    created_at=now,
                )
            )
            return self._key(conn.execute(select(m.api_keys).where(m.api_keys.c.id == key_id)).one())

        return await self._write(op)

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash, or None."""

        def op(conn: Connection) -> ApiKeyRecord | None:
            row = conn.execute(select(m.api_keys).where(m.api_keys.c.key_hash == key_hash)).first()
            return self._key(row) if row is not None else None

        return await self._read(op)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every key, by name then creation."""
        stmt = select(m.api_keys).order_by(m.api_keys.c.name, m.api_keys.c.created_at)
        return await self._read(lambda conn: [self._key(r) for r in conn.execute(stmt)])

    async def revoke_api_key(self, name: str, *, now: datetime) -> bool:
        """Revoke the active key named ``name``."""
        stmt = (
            update(m.api_keys)
            .where(m.api_keys.c.name == name, m.api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return await self._write(lambda conn: bool(conn.execute(stmt).rowcount))


def _locked_events(op: Operation[T], conn: Connection) -> T:
    """``op`` after taking the PostgreSQL lock that serializes the transactions appending alert
    events, so that their sequence numbers become visible in order (see the module docstring)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.events'))"))
    return op(conn)


#: SQLSTATE classes of errors in the data or the query itself: retrying cannot help.
_PERMANENT_SQLSTATE_CLASSES = ("22", "23", "42", "0A")


@contextmanager
def transient_as_store_error() -> Iterator[None]:
    """Let :class:`StoreError` through; turn a transient database failure into one with
    ``transient=True`` (callers retry those); leave every other error as it is."""
    try:
        yield
    except StoreError:
        raise
    except Exception as err:
        if is_transient(err):
            raise StoreError(f"alert store unavailable: {err}", transient=True) from err
        raise


def is_transient(err: BaseException) -> bool:
    """True when a store failure is likely to pass by itself (the database down, restarting, busy,
    refusing connections, a lost connection, a lock or serialization conflict); False for errors in
    the data or the query, which no retry can fix."""
    from sqlalchemy import exc

    if isinstance(err, OSError | ConnectionError | TimeoutError):
        return True
    if isinstance(err, exc.IntegrityError | exc.DataError | exc.ProgrammingError | exc.NotSupportedError):
        return False
    if isinstance(err, exc.OperationalError | exc.InterfaceError | exc.TimeoutError | exc.DisconnectionError):
        return True
    if isinstance(err, exc.DBAPIError):
        if err.connection_invalidated:
            return True
        cause = err.orig.__cause__ if err.orig is not None else None
        sqlstate = getattr(cause, "sqlstate", None) or getattr(err.orig, "sqlstate", None)
        if isinstance(sqlstate, str):
            return not sqlstate.startswith(_PERMANENT_SQLSTATE_CLASSES)
        return isinstance(cause, OSError | ConnectionError | TimeoutError)
    return False
