"""SqlAlertStore on both back ends: migrations, idempotent upserts, events, leases, keys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from monitor.delivery.matching import AlertQuery
from monitor.delivery.subscription import SubscriptionSpec
from monitor.delivery.testing import make_alert
from monitor.store import NewDelivery, SqlAlertStore
from monitor.store import models as m
from monitor.store.base import AttemptRecord, DeliveryQuery
from monitor.store.migrations import LATEST, migrate_in, version_in

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


async def test_migrations_are_idempotent_and_match_the_models(store: SqlAlertStore) -> None:
    assert await store.run_sync(version_in) == LATEST
    assert await store.run_sync(migrate_in, write=True) == []
    await store.start()  # a second start changes nothing

    def columns(conn: object) -> dict[str, set[str]]:
        insp = inspect(conn)
        return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}

    live = await store.run_sync(columns)
    expected = {name: {c.name for c in table.columns} for name, table in m.metadata.tables.items()}
    assert live == expected


async def test_sqlite_parent_folder_is_created(tmp_path: Path) -> None:
    s = SqlAlertStore(f"sqlite+aiosqlite:///{tmp_path}/a/b/monitor.sqlite")
    try:
        await s.start()
        assert (tmp_path / "a" / "b" / "monitor.sqlite").exists()
    finally:
        await s.close()


async def test_upsert_keeps_the_highest_revision_and_is_idempotent(store: SqlAlertStore) -> None:
    a1 = make_alert(id="x", revision=1, title="first")
    a2 = make_alert(id="x", revision=2, title="second", minerals=["lithium"], urls=["https://u/2"])
    first = await store.upsert_alert(a1, now=NOW)
    assert first.changed and first.created
    assert not (await store.upsert_alert(a1, now=NOW)).changed
    second = await store.upsert_alert(a2, now=NOW)
    assert second.changed and not second.created and second.stored.seq > first.stored.seq
    assert not (await store.upsert_alert(a1, now=NOW)).changed  # an older revision is ignored
    stored = await store.get_alert("x")
    assert stored is not None and stored.alert.title == "second" and stored.alert.revision == 2
    assert {r["value"] for r in await store.get_evidence("x") if r["kind"] == "url"} == {"https://u/2"}
    page = await store.list_alerts(AlertQuery(minerals=("lithium",)), limit=10)
    assert [s.alert.id for s in page.items] == ["x"]
    assert (await store.list_alerts(AlertQuery(minerals=("gallium",)), limit=10)).items == []
    events = await store.alert_events_after(0, limit=10)
    assert [(e.alert.id, e.alert.revision) for e in events] == [("x", 1), ("x", 2)]


async def test_concurrent_upserts_of_the_same_alert(store: SqlAlertStore) -> None:
    alert = make_alert(id="same")
    results = await asyncio.gather(*(store.upsert_alert(alert, now=NOW) for _ in range(8)))
    assert sum(r.changed for r in results) == 1
    assert len(await store.alert_events_after(0, limit=100)) == 1


async def test_status_changes(store: SqlAlertStore) -> None:
    await store.upsert_alert(make_alert(id="s", severity="critical"), now=NOW)
    acked = await store.set_alert_status("s", "acknowledged", now=NOW)
    assert acked is not None and acked.status == "acknowledged" and acked.acknowledged_at == NOW
    # A firing revision keeps the acknowledgement; a resolved one wins.
    await store.upsert_alert(make_alert(id="s", revision=2, severity="critical"), now=NOW)
    assert (await store.get_alert("s")).status == "acknowledged"  # type: ignore[union-attr]
    await store.upsert_alert(make_alert(id="s", revision=3, status="resolved"), now=NOW)
    assert (await store.get_alert("s")).status == "resolved"  # type: ignore[union-attr]
    assert await store.open_alerts_by_severity() == {}
    assert await store.set_alert_status("missing", "resolved", now=NOW) is None


async def test_deliveries_lease_retry_dead_replay(store: SqlAlertStore) -> None:
    new = NewDelivery("sub_1", "webhook", "msg_a", b"{}", alert_id="a", revision=1)
    lease = NOW + timedelta(minutes=5)
    (d,) = await store.enqueue_deliveries([new], now=NOW, owner="w1", lease_until=lease)
    assert await store.enqueue_deliveries([new], now=NOW, owner="w2", lease_until=lease) == []
    # Leased by w1: not claimable by w2 until the lease expires.
    assert await store.claim_due_deliveries(NOW, owner="w2", lease_until=lease, limit=10) == []
    assert not await store.renew_lease(d.id, now=NOW, owner="w2", lease_until=lease)
    later = lease + timedelta(seconds=1)
    (claimed,) = await store.claim_due_deliveries(
        later, owner="w2", lease_until=later + timedelta(minutes=5), limit=10
    )
    assert claimed.id == d.id
    await store.record_attempt(AttemptRecord(d.id, 1, later, "retry", 0.1, 503, "HTTP 503"))
    await store.schedule_retry(
        d.id, now=later, next_attempt_at=later + timedelta(seconds=10), status_code=503, error="HTTP 503"
    )
    assert await store.count_waiting_retries() == 1
    assert await store.claim_due_deliveries(later, owner="w2", lease_until=lease, limit=10) == []
    await store.mark_final(d.id, "dead", now=later, reason="retry period over")
    page = await store.list_deliveries(DeliveryQuery(statuses=("dead",)), limit=10)
    assert [x.id for x in page.items] == [d.id] and page.items[0].attempts == 1
    (replayed,) = await store.replay_dead(now=later)
    assert replayed.status == "pending" and replayed.attempts == 0 and replayed.period_start == later
    await store.record_deliveries([AttemptRecord(d.id, 1, later, "delivered", 0.0, 200)])
    got = await store.get_delivery(d.id)
    assert got is not None and got.status == "delivered" and got.delivered_at == later
    assert [a.outcome for a in await store.list_attempts(d.id)] == ["retry", "delivered"]


async def test_record_deliveries_appends_each_attempt_and_marks_each_delivered(
    store: SqlAlertStore,
) -> None:
    lease = NOW + timedelta(minutes=5)
    news = [
        NewDelivery("sub_1", "webhook", f"msg_{i}", b"{}", alert_id=f"a{i}", revision=1) for i in range(3)
    ]
    d0, d1, d2 = await store.enqueue_deliveries(news, now=NOW, owner="w1", lease_until=lease)
    # d1 failed once before: its first attempt time is kept, its count goes on.
    await store.record_attempt(AttemptRecord(d1.id, 1, NOW, "retry", 0.5, 503, "HTTP 503"))
    later = NOW + timedelta(seconds=30)
    await store.record_deliveries(
        [
            AttemptRecord(d0.id, 1, later, "delivered", 0.25, 200),
            AttemptRecord(d1.id, 2, later, "delivered", 1.0, 204),
        ]
    )
    await store.record_deliveries([])  # nothing to do
    got0, got1, got2 = [await store.get_delivery(d.id) for d in (d0, d1, d2)]
    assert got0 is not None and got1 is not None and got2 is not None
    assert (got0.status, got0.attempts, got0.last_status) == ("delivered", 1, 200)
    assert got0.delivered_at == later + timedelta(seconds=0.25) and got0.first_attempt_at == later
    assert (got1.status, got1.attempts, got1.last_status, got1.last_error) == ("delivered", 2, 204, None)
    assert got1.first_attempt_at == NOW and got1.last_attempt_at == later
    assert (got2.status, got2.attempts) == ("pending", 0)
    assert [a.outcome for a in await store.list_attempts(d1.id)] == ["retry", "delivered"]
    # Delivered deliveries hold no lease: nothing is claimable once the lease would have expired.
    after = lease + timedelta(seconds=1)
    claimed = await store.claim_due_deliveries(after, owner="w2", lease_until=after, limit=10)
    assert [c.id for c in claimed] == [d2.id]


async def test_subscriptions_and_digest_claims(store: SqlAlertStore) -> None:
    spec = SubscriptionSpec.model_validate(
        {
            "name": "d",
            "channel": {"type": "slack", "url": "https://hooks.example/x"},
            "delivery": {"mode": "digest", "at": "08:00", "timezone": "UTC"},
        }
    )
    sub = await store.create_subscription(spec, now=NOW)
    assert sub.next_digest_at == datetime(2025, 6, 2, 8, tzinfo=UTC)
    assert await store.due_digests(NOW) == []
    due_at = datetime(2025, 6, 2, 8, 0, 1, tzinfo=UTC)
    (due,) = await store.due_digests(due_at)
    assert due.id == sub.id
    assert await store.advance_digest(
        sub.id, expected=sub.next_digest_at, next_at=due_at + timedelta(days=1), sent_at=due_at
    )
    assert not await store.advance_digest(sub.id, expected=sub.next_digest_at, next_at=due_at, sent_at=due_at)
    await store.disable_subscription(sub.id, "gone", now=NOW)
    assert not (await store.get_subscription(sub.id)).active  # type: ignore[union-attr]
    updated = await store.update_subscription(sub.id, spec, now=NOW, clear_disabled=True)
    assert updated is not None and updated.active
    assert await store.delete_subscription(sub.id, now=NOW)
    assert not await store.delete_subscription(sub.id, now=NOW)


async def test_api_keys(store: SqlAlertStore) -> None:
    key = await store.create_api_key("ci", ["read", "ingest"], "h1", now=NOW)
    assert key.allows("read") and key.allows("ingest") and not key.allows("admin")
    with pytest.raises(ValueError):
        await store.create_api_key("ci", ["read"], "h2", now=NOW)
    assert await store.revoke_api_key("ci", now=NOW)
    revoked = await store.find_api_key("h1")
    assert revoked is not None and not revoked.allows("read")
    await store.create_api_key("ci", ["admin"], "h3", now=NOW)  # the name is free again
    assert [k.name for k in await store.list_api_keys()] == ["ci", "ci"]
