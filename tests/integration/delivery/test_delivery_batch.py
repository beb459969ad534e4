"""``Dispatcher.handle_many``: a batch of alerts gives the same deliveries (message ids, bodies, order)
as handling them one by one, in one store transaction with the alerts (an outbox); a transient store
failure stores nothing and is retried whole."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import event, exc

from monitor.api.testing import Harness
from monitor.delivery.dispatcher import Dispatcher
from monitor.delivery.matching import subscription_matches
from monitor.delivery.payload import build_body
from monitor.delivery.signing import message_id
from monitor.delivery.subscription import DigestDelivery, SubscriptionSpec
from monitor.delivery.testing import Receiver, eventually, fast_settings, make_alert
from monitor.errors import StoreError
from monitor.observability.metrics import Metrics
from monitor.records import Alert
from monitor.store import NewDelivery, SqlAlertStore
from monitor.store.base import DeliveryQuery

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
T0 = datetime(2025, 5, 30, 8, tzinfo=UTC)
HarnessFactory = Callable[..., Awaitable[Harness]]

SUBSCRIPTIONS: list[dict[str, Any]] = [
    {"name": "all", "channel": {"type": "webhook", "url": "https://hooks.example/all", "secret": None}},
    {
        "name": "lithium",
        "filters": {"minerals": ["lithium"]},
        "channel": {"type": "slack", "url": "https://hooks.example/slack"},
    },
    {
        "name": "critical",
        "filters": {"min_severity": "critical"},
        "channel": {"type": "alertmanager", "url": "https://am.example"},
    },
    {
        "name": "digest",
        "channel": {"type": "teams", "url": "https://hooks.example/teams"},
        "delivery": {"mode": "digest"},
    },
    {"name": "off", "channel": {"type": "webhook", "url": "https://hooks.example/off"}, "enabled": False},
]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A session the stopped dispatchers below never use (they only enqueue)."""
    async with aiohttp.ClientSession() as session:
        yield session


async def _dispatcher(store: SqlAlertStore, http: aiohttp.ClientSession) -> Dispatcher:
    """A dispatcher on ``store`` with a fixed clock, not started: deliveries stay in the store."""
    for body in SUBSCRIPTIONS:
        await store.create_subscription(SubscriptionSpec.model_validate(body), now=NOW)
    return Dispatcher(store, http, Metrics(CollectorRegistry()), fast_settings(), clock=lambda: NOW)


async def _deliveries(store: SqlAlertStore) -> list[tuple[Any, ...]]:
    """The stored deliveries, oldest first, with subscription ids replaced by names (each store makes
    its own ids, and orders an alert's subscriptions by them: those are ordered by name here) and the
    message id checked against them."""
    names = {s.id: s.spec.name for s in (await store.list_subscriptions()).items}
    page = await store.list_deliveries(DeliveryQuery(), limit=10_000)
    out = []
    for d in reversed(page.items):
        assert d.message_id == message_id(d.alert_id, d.revision, d.subscription_id)
        out.append(
            (names[d.subscription_id], d.channel_type, d.kind, d.alert_id, d.revision, d.body, d.status)
        )
    first = {}
    for position, d in enumerate(out):
        first.setdefault((d[3], d[4]), position)
    return sorted(out, key=lambda d: (first[(d[3], d[4])], d[0]))


async def legacy_handle(dispatcher: Dispatcher, alert: Alert) -> None:
    """``Dispatcher.handle`` before batches (its store part), the specification a batch must meet."""
    now = dispatcher.clock()
    result = await dispatcher.store.upsert_alert(alert, now=now)
    if not result.changed:
        return
    stored = result.stored.alert
    page = await dispatcher.store.list_subscriptions(limit=100_000)
    wanted = [
        s
        for s in page.items
        if s.active
        and not isinstance(s.spec.delivery, DigestDelivery)
        and subscription_matches(s.spec.filters, stored)
    ]
    new = [
        NewDelivery(
            subscription_id=s.id,
            channel_type=s.spec.channel.type,
            message_id=message_id(stored.id, stored.revision, s.id),
            body=build_body(
                s.spec.channel.type,
                [stored],
                base_url=dispatcher.settings.public_base_url,
                now=now,
                teams_max_bytes=dispatcher.settings.teams_max_bytes,
            ),
            kind="alert",
            alert_id=stored.id,
            revision=stored.revision,
        )
        for s in wanted
    ]
    if new:
        await dispatcher.store.enqueue_deliveries(new, now=now, owner=dispatcher.owner, lease_until=now)


def _random_alerts(seed: int, count: int) -> list[Alert]:
    """Repeats, older revisions, resolutions and different minerals and severities."""
    rng = random.Random(seed)
    alerts = []
    for _ in range(count):
        index, revision = rng.randrange(4), rng.randint(1, 3)
        alerts.append(
            make_alert(
                id=f"a-{index}",
                fingerprint=f"fp-{index}",
                revision=revision,
                status=rng.choice(["firing", "firing", "resolved"]),
                severity=rng.choice(["medium", "high", "critical"]),
                minerals=rng.sample(["gallium", "lithium", "cobalt"], rng.randint(1, 2)),
                raised_at=T0,
                updated_at=T0 + timedelta(minutes=revision),
                title=f"alert {index} revision {revision}",
            )
        )
    return alerts


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_makes_the_deliveries_one_by_one_makes(
    store: SqlAlertStore, twin: SqlAlertStore, http: aiohttp.ClientSession, seed: int
) -> None:
    alerts = _random_alerts(seed, 30)
    one_by_one, batched = await _dispatcher(store, http), await _dispatcher(twin, http)
    for alert in alerts:
        await legacy_handle(one_by_one, alert)
    rng = random.Random(seed)
    position = 0
    while position < len(alerts):
        size = rng.choice([1, 2, 5, 10])
        await batched.handle_many(alerts[position : position + size])
        position += size
    expected = await _deliveries(store)
    assert expected and {d[0] for d in expected} <= {"all", "lithium", "critical"}  # no digest, no disabled
    assert await _deliveries(twin) == expected
    # handle() is a batch of one: the same again, and nothing new for alerts already handled
    third = await _dispatcher(store, http)
    for alert in alerts:
        await third.handle(alert)
    assert await _deliveries(store) == expected


async def test_one_store_transaction_per_batch(store: SqlAlertStore, http: aiohttp.ClientSession) -> None:
    dispatcher = await _dispatcher(store, http)
    transactions: list[int] = []

    def begun(_conn: Any) -> None:
        transactions.append(1)

    event.listen(store.sync_engine, "begin", begun)
    try:
        version = dispatcher.feed.version
        await dispatcher.handle_many([make_alert(), make_alert(minerals=["lithium"]), make_alert()])
        assert len(transactions) == 1  # alerts, subscriptions read and deliveries together
        assert dispatcher.feed.version == version + 1  # the live stream is woken once
        assert len(await _deliveries(store)) == 4  # all x3, lithium x1
        transactions.clear()
        await dispatcher.handle_many([])
        assert transactions == []
    finally:
        event.remove(store.sync_engine, "begin", begun)


async def test_a_transient_failure_stores_nothing_and_the_retry_stores_it_all_once(
    store: SqlAlertStore, twin: SqlAlertStore, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts = _random_alerts(7, 12)
    clean, failing = await _dispatcher(store, http), await _dispatcher(twin, http)
    await clean.handle_many(alerts)
    real = twin._enqueue_in

    def broken(*_: Any, **__: Any) -> Any:  # after the alerts are written, in the same transaction
        raise exc.OperationalError("INSERT", {}, ConnectionResetError("connection reset"))

    monkeypatch.setattr(twin, "_enqueue_in", broken)
    with pytest.raises(StoreError) as caught:
        await failing.handle_many(alerts)
    assert caught.value.transient
    # Rolled back whole: no alert without its deliveries.
    assert await twin.alert_events_after(0, limit=100) == []
    assert await _deliveries(twin) == []
    monkeypatch.setattr(twin, "_enqueue_in", real)
    await failing.handle_many(alerts)  # the caller's retry of the whole batch
    assert await _deliveries(twin) == await _deliveries(store)
    await failing.handle_many(alerts)  # and once more: nothing twice
    assert await _deliveries(twin) == await _deliveries(store)
    assert [e.alert.revision for e in await twin.alert_events_after(0, limit=100)] == [
        e.alert.revision for e in await store.alert_events_after(0, limit=100)
    ]


async def test_a_batch_is_delivered_to_a_receiver(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory()
    await h.create_subscription({"name": "hook", "channel": {"type": "webhook", "url": receiver.url}})
    first = make_alert()
    batch = [first, make_alert(), make_alert(id=first.id, fingerprint=first.fingerprint, revision=2), first]
    await h.dispatcher.handle_many(batch)
    await eventually(lambda: len(receiver.requests) == 3)
    ids = sorted(headers["webhook-id"] for headers, _ in receiver.requests)
    page = await h.store.list_deliveries(DeliveryQuery(), limit=10)
    assert ids == sorted(d.message_id for d in page.items)
