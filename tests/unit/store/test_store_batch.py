"""``upsert_alerts``: a batch in one transaction stores exactly what one ``upsert_alert`` per alert
would (rows, tags, evidence, stream events and their order), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, delete, event, exc, insert, select, update

from monitor.delivery.matching import alert_countries
from monitor.delivery.testing import make_alert
from monitor.errors import StoreError
from monitor.records import Alert
from monitor.store import SqlAlertStore, StoredAlert, UpsertResult
from monitor.store import models as m
from monitor.store.base import merge_status
from monitor.store.sql import _rank, with_status

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
T0 = datetime(2025, 5, 30, 8, tzinfo=UTC)
MINERALS = ["gallium", "Germanium", "lithium"]
URLS = ["https://a.example/1", "https://b.example/2", "https://a.example/1"]  # a repeat on purpose


def _alert(prefix: str, index: int, revision: int, status: str = "firing", **fields: Any) -> Alert:
    """A deterministic alert: the same inputs give equal alerts (fed to both stores)."""
    values: dict[str, Any] = {
        "id": f"{prefix}-{index}",
        "fingerprint": f"fp-{prefix}-{index}",
        "revision": revision,
        "status": status,
        "raised_at": T0,
        "updated_at": T0 + timedelta(minutes=revision),
        "title": f"alert {index} revision {revision}",
    }
    values.update(fields)
    return make_alert(**values)


@contextmanager
def failing_once(store: SqlAlertStore, statement_prefix: str) -> Iterator[list[str]]:
    """Make the next statement starting with ``statement_prefix`` fail as a lost connection would."""
    armed = [statement_prefix]

    def fail(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if armed and statement.startswith(statement_prefix):
            armed.clear()
            raise exc.OperationalError(statement, params, ConnectionResetError("connection reset by peer"))

    event.listen(store.sync_engine, "before_cursor_execute", fail)
    try:
        yield armed
    finally:
        event.remove(store.sync_engine, "before_cursor_execute", fail)


async def legacy_upsert(store: SqlAlertStore, alert: Alert, *, now: datetime) -> UpsertResult:
    """The per-alert ``upsert_alert`` before batches (verbatim): the specification a batch must meet."""

    def op(conn: Connection) -> UpsertResult:
        row = conn.execute(select(m.alerts).where(m.alerts.c.id == alert.id)).first()
        if row is not None and alert.revision <= row.revision:
            return UpsertResult(stored=SqlAlertStore._stored(row), changed=False, created=False)
        status = merge_status(row.status if row is not None else None, alert.status)
        stored = with_status(alert, status) if status != alert.status else alert
        seq = store._append_event(conn, stored, now)
        values = {
            "fingerprint": alert.fingerprint,
            "rule": alert.rule,
            "severity": alert.severity,
            "severity_rank": _rank(alert.severity),
            "measure": alert.measure,
            "direction": alert.direction,
            "status": status,
            "revision": alert.revision,
            "raised_at": alert.raised_at,
            "updated_at": alert.updated_at,
            "stored_at": now,
            "seq": seq,
            "data": stored.dumps().decode(),
            "acknowledged_at": row.acknowledged_at if row is not None and status == "acknowledged" else None,
            "resolved_at": (
                (row.resolved_at if row is not None and row.resolved_at else now)
                if status == "resolved"
                else None
            ),
        }
        if row is None:
            conn.execute(insert(m.alerts).values(id=alert.id, **values))
        else:
            conn.execute(update(m.alerts).where(m.alerts.c.id == alert.id).values(**values))
            conn.execute(delete(m.alert_tags).where(m.alert_tags.c.alert_id == alert.id))
            conn.execute(delete(m.alert_evidence).where(m.alert_evidence.c.alert_id == alert.id))
        tags = {("mineral", v.lower()) for v in alert.minerals} | {
            ("country", c) for c in alert_countries(alert)
        }
        if tags:
            conn.execute(
                insert(m.alert_tags),
                [{"alert_id": alert.id, "kind": k, "value": v} for k, v in sorted(tags)],
            )
        evidence: dict[tuple[str, str], int] = {}
        for kind, values_ in (
            ("document", alert.document_ids),
            ("source", alert.sources),
            ("url", alert.urls),
        ):
            for position, value in enumerate(values_):
                evidence.setdefault((kind, value[:2048]), position)
        if evidence:
            conn.execute(
                insert(m.alert_evidence),
                [
                    {"alert_id": alert.id, "kind": k, "value": v, "position": p}
                    for (k, v), p in evidence.items()
                ],
            )
        new_row = conn.execute(select(m.alerts).where(m.alerts.c.id == alert.id)).one()
        return UpsertResult(stored=SqlAlertStore._stored(new_row), changed=True, created=row is None)

    return await store._write(op, events=True)


# --- what a store holds, comparable across two stores -----------------------------------------------


async def _snapshot(
    store: SqlAlertStore, prefix: str, after_seq: int, results: Sequence[UpsertResult]
) -> dict[str, Any]:
    """Everything the store holds about ``prefix``'s alerts, with sequence numbers replaced by their
    rank among the events after ``after_seq`` (two stores number differently, in the same order)."""
    like = f"{prefix}-%"

    def read(conn: Connection) -> tuple[list[Any], ...]:
        events = conn.execute(
            select(m.alert_events).where(m.alert_events.c.seq > after_seq).order_by(m.alert_events.c.seq)
        ).all()
        alerts = conn.execute(select(m.alerts).where(m.alerts.c.id.like(like)).order_by(m.alerts.c.id)).all()
        tags = conn.execute(
            select(m.alert_tags)
            .where(m.alert_tags.c.alert_id.like(like))
            .order_by(m.alert_tags.c.alert_id, m.alert_tags.c.kind, m.alert_tags.c.value)
        ).all()
        evidence = conn.execute(
            select(m.alert_evidence)
            .where(m.alert_evidence.c.alert_id.like(like))
            .order_by(m.alert_evidence.c.alert_id, m.alert_evidence.c.kind, m.alert_evidence.c.value)
        ).all()
        return events, alerts, tags, evidence

    events, alerts, tags, evidence = await store.run_sync(read)
    rank = {e.seq: i for i, e in enumerate(events)}

    def stored(s: StoredAlert) -> tuple[Any, ...]:
        return (s.alert.dumps(), rank[s.seq], s.stored_at, s.acknowledged_at, s.resolved_at)

    readable = {a.id: await store.get_alert(a.id) for a in alerts}
    return {
        "results": [(r.changed, r.created, stored(r.stored)) for r in results],
        "events": [(e.alert_id, e.revision, e.status, e.at, e.data) for e in events],
        "alerts": [{**row._asdict(), "seq": rank[row.seq]} for row in alerts],
        "read back": {k: stored(v) for k, v in readable.items() if v is not None},
        "evidence": {a.id: await store.get_evidence(a.id) for a in alerts},
        "tags": [tuple(t) for t in tags],
        "evidence rows": [tuple(e) for e in evidence],
    }


Op = tuple[Any, ...]


async def _apply(
    store: SqlAlertStore, ops: Sequence[Op], alerts: dict[int, Alert], *, batched: bool
) -> list[UpsertResult]:
    """Run ``ops``: alerts gathered into batches (cut by ``cut`` and status ops), stored either as
    one ``upsert_alerts`` per batch or one legacy per-alert upsert per alert, with the same ``now``."""
    results: list[UpsertResult] = []
    batch: list[Alert] = []
    step = 0

    async def flush() -> None:
        nonlocal step
        now = NOW + timedelta(seconds=step)
        step += 1
        if batched:
            results.extend(await store.upsert_alerts(batch, now=now))
        else:
            for alert in batch:
                results.append(await legacy_upsert(store, alert, now=now))
        batch.clear()

    for position, op in enumerate(ops):
        if op[0] == "alert":
            batch.append(alerts[position])
            continue
        await flush()
        if op[0] == "status":
            _, index, status = op
            prefix = next(iter(alerts.values())).id.rsplit("-", 1)[0] if alerts else "none"
            await store.set_alert_status(f"{prefix}-{index}", status, now=NOW + timedelta(seconds=step - 0.5))
    await flush()
    return results


# Few ids and revisions, so that repeats, older revisions and status changes meet often.
alert_ops = st.tuples(
    st.just("alert"),
    st.integers(0, 2),  # which alert
    st.integers(1, 3),  # revision
    st.sampled_from(["firing", "resolved"]),
    st.lists(st.sampled_from(MINERALS), max_size=3),
    st.lists(st.sampled_from(URLS), max_size=3),
)
status_ops = st.tuples(st.just("status"), st.integers(0, 2), st.sampled_from(["acknowledged", "resolved"]))
ops_strategy = st.lists(
    st.one_of(alert_ops, alert_ops, alert_ops, alert_ops, status_ops, st.just(("cut",)), st.just(("cut",))),
    max_size=24,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=ops_strategy)
async def test_batches_store_what_one_by_one_stores(
    store: SqlAlertStore, twin: SqlAlertStore, ops: list[Op]
) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}"  # the stores live across examples: each example has its own ids
    alerts = {
        # Revisions grow their evidence, as the rules emit them (diverging revisions: see below).
        position: _alert(
            prefix,
            op[1],
            op[2],
            op[3],
            minerals=op[4],
            urls=op[5],
            document_ids=[f"d{i}" for i in range(1, op[2] + 1)],
        )
        for position, op in enumerate(ops)
        if op[0] == "alert"
    }
    start_one, start_batch = await store.last_event_seq(), await twin.last_event_seq()
    one_by_one = await _apply(store, ops, alerts, batched=False)
    batched = await _apply(twin, ops, alerts, batched=True)
    assert await _snapshot(twin, prefix, start_batch, batched) == await _snapshot(
        store, prefix, start_one, one_by_one
    )


async def test_the_same_alert_twice_in_a_batch(store: SqlAlertStore, twin: SqlAlertStore) -> None:
    batch = [_alert("x", 1, 1), _alert("x", 1, 2, minerals=["lithium"]), _alert("x", 1, 2)]
    results = await store.upsert_alerts(batch, now=NOW)
    assert [(r.changed, r.created, r.stored.alert.revision) for r in results] == [
        (True, True, 1),
        (True, False, 2),
        (False, False, 2),
    ]
    assert results[0].stored.seq < results[1].stored.seq == results[2].stored.seq
    events = await store.alert_events_after(0, limit=10)
    assert [(e.seq, e.alert.revision) for e in events] == [
        (results[0].stored.seq, 1),
        (results[1].stored.seq, 2),
    ]
    stored = await store.get_alert("x-1")
    assert stored is not None and stored == results[1].stored  # the result is what a read gives
    assert stored.alert.minerals == ["lithium"]
    one_by_one = [await legacy_upsert(twin, a, now=NOW) for a in batch]
    assert await _snapshot(store, "x", 0, results) == await _snapshot(twin, "x", 0, one_by_one)


async def test_an_older_revision_in_a_batch_is_ignored(store: SqlAlertStore) -> None:
    await store.upsert_alert(_alert("o", 1, 2, title="stored"), now=NOW)
    results = await store.upsert_alerts(
        [_alert("o", 1, 1), _alert("o", 1, 2), _alert("o", 1, 4, title="new"), _alert("o", 1, 3)], now=NOW
    )
    assert [(r.changed, r.stored.alert.revision) for r in results] == [
        (False, 2),
        (False, 2),
        (True, 4),
        (False, 4),
    ]
    stored = await store.get_alert("o-1")
    assert stored is not None and stored.alert.title == "new" and stored.alert.revision == 4
    assert [e.alert.revision for e in await store.alert_events_after(0, limit=10)] == [2, 4]
    assert await store.upsert_alerts([], now=NOW) == []


async def test_statuses_merge_as_one_by_one(store: SqlAlertStore) -> None:
    await store.upsert_alert(_alert("s", 1, 1), now=NOW)
    await store.set_alert_status("s-1", "acknowledged", now=NOW)
    later = NOW + timedelta(minutes=5)
    results = await store.upsert_alerts(
        [_alert("s", 1, 2), _alert("s", 1, 3, "resolved"), _alert("s", 1, 4, "resolved"), _alert("s", 1, 5)],
        now=later,
    )
    assert [(r.stored.status, r.stored.acknowledged_at, r.stored.resolved_at) for r in results] == [
        ("acknowledged", NOW, None),  # an acknowledgement survives new evidence
        ("resolved", None, later),
        ("resolved", None, later),
        ("firing", None, None),  # a firing revision re-opens
    ]


async def test_a_transient_failure_stores_nothing_and_the_retry_stores_once(store: SqlAlertStore) -> None:
    batch = [_alert("t", 1, 1), _alert("t", 2, 1), _alert("t", 1, 2), _alert("t", 3, 1)]
    await store.upsert_alert(_alert("t", 3, 1), now=NOW)  # one of them is stored already
    before = await store.last_event_seq()
    with failing_once(store, "INSERT INTO alert_tags") as armed:
        with pytest.raises(StoreError) as caught:
            await store.upsert_alerts(batch, now=NOW)
        assert not armed  # it did fail where we wanted, late in the transaction
    assert caught.value.transient
    assert await store.last_event_seq() == before
    assert await store.get_alert("t-1") is None and await store.get_alert("t-2") is None

    results = await store.upsert_alerts(batch, now=NOW)  # the caller's retry of the whole batch
    assert [r.changed for r in results] == [True, True, True, False]
    again = await store.upsert_alerts(batch, now=NOW)  # and a retry of a batch that was stored
    assert not any(r.changed for r in again)
    events = await store.alert_events_after(before, limit=100)
    assert [(e.alert.id, e.alert.revision) for e in events] == [("t-1", 1), ("t-2", 1), ("t-1", 2)]
    assert [r["value"] for r in await store.get_evidence("t-1") if r["kind"] == "document"] == ["doc-1"]


async def test_a_permanent_failure_is_not_called_transient(store: SqlAlertStore) -> None:
    def fail(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.startswith("INSERT INTO alert_events"):
            raise exc.IntegrityError(statement, params, Exception("bad row"))

    event.listen(store.sync_engine, "before_cursor_execute", fail)
    try:
        with pytest.raises(exc.IntegrityError):
            await store.upsert_alerts([_alert("bad", 1, 1)], now=NOW)
    finally:
        event.remove(store.sync_engine, "before_cursor_execute", fail)
    assert await store.get_alert("bad-1") is None


async def test_a_revision_seen_before_with_other_evidence_is_merged_not_dropped(store: SqlAlertStore) -> None:
    # After a rebalance a worker can resume from a rule state that lacks the last revision of an alert
    # and emit its own revision with that number: the store keeps the evidence of both.
    prefix = f"m{uuid.uuid4().hex[:8]}"
    first = _alert(prefix, 0, 2, document_ids=["d1", "d2"])
    rival = _alert(prefix, 0, 2, document_ids=["d1", "d3"])
    await store.upsert_alerts([first], now=NOW)
    [result] = await store.upsert_alerts([rival], now=NOW)
    assert result.changed and not result.created
    stored = await store.get_alert(first.id)
    assert stored is not None
    assert (stored.alert.revision, stored.alert.document_ids) == (3, ["d1", "d2", "d3"])
    assert not (await store.upsert_alerts([rival], now=NOW))[0].changed  # nothing new the second time
    # The next revision of the resumed lineage keeps what only the store had.
    await store.upsert_alerts([_alert(prefix, 0, 3, document_ids=["d1", "d3", "d4"])], now=NOW)
    stored = await store.get_alert(first.id)
    assert stored is not None
    assert stored.alert.revision == 4 and set(stored.alert.document_ids) == {"d1", "d2", "d3", "d4"}
    events = [e for e in await store.alert_events_after(0, limit=100) if e.alert.id == first.id]
    assert [e.alert.revision for e in events] == [2, 3, 4]


async def test_diverged_revisions_in_one_batch_are_merged(store: SqlAlertStore) -> None:
    prefix = f"b{uuid.uuid4().hex[:8]}"
    a = _alert(prefix, 0, 1, document_ids=["d1"])
    b = _alert(prefix, 0, 1, document_ids=["d2"])
    results = await store.upsert_alerts([a, b], now=NOW)
    assert [(r.changed, r.stored.alert.revision) for r in results] == [(True, 1), (True, 2)]
    stored = await store.get_alert(a.id)
    assert stored is not None and stored.alert.document_ids == ["d1", "d2"]
