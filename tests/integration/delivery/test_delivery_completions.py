"""Successful attempts are recorded in batches (group commit), not three transactions per delivery:
every one still ends recorded (also across a stop and a store outage) and none is sent twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import exc

from monitor.api.testing import Harness
from monitor.delivery.testing import Receiver, eventually, make_alert
from monitor.store import SqlAlertStore
from monitor.store.base import AttemptRecord, DeliveryQuery

HarnessFactory = Callable[..., Awaitable[Harness]]


def _webhook(receiver: Receiver) -> dict[str, Any]:
    return {"name": "hook", "channel": {"type": "webhook", "url": receiver.url}}


async def _statuses(store: SqlAlertStore) -> Counter[str]:
    page = await store.list_deliveries(DeliveryQuery(), limit=10_000)
    return Counter(d.status for d in page.items)


async def test_a_burst_is_delivered_once_each_and_recorded_in_fewer_transactions(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory(per_subscription_concurrency=8)
    await h.create_subscription(_webhook(receiver))
    calls: list[int] = []
    record = h.store.record_deliveries

    async def counted(attempts: Any) -> None:
        await record(attempts)
        calls.append(len(attempts))  # once written

    h.store.record_deliveries = counted  # type: ignore[method-assign]
    await h.dispatcher.handle_many([make_alert() for _ in range(200)])
    await eventually(lambda: sum(calls) == 200, timeout=20)
    assert await _statuses(h.store) == {"delivered": 200}
    ids = Counter(headers["webhook-id"] for headers, _ in receiver.requests)
    assert len(ids) == 200 and set(ids.values()) == {1}
    assert len(calls) < 200, "each delivery was recorded on its own"
    for delivery in (await h.store.list_deliveries(DeliveryQuery(), limit=10_000)).items:
        assert delivery.attempts == 1 and delivery.delivered_at is not None and delivery.last_status == 200


async def test_stop_records_every_attempt_already_sent(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory()
    await h.create_subscription(_webhook(receiver))
    await h.dispatcher.handle_many([make_alert() for _ in range(20)])
    await eventually(lambda: len(receiver.requests) == 20)
    await h.dispatcher.stop()
    assert await _statuses(h.store) == {"delivered": 20}


async def test_a_store_outage_while_recording_is_waited_out_and_nothing_is_sent_twice(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory()
    await h.create_subscription(_webhook(receiver))
    record = h.store.record_deliveries
    failures = 3

    async def flaky(attempts: list[AttemptRecord]) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise exc.OperationalError("INSERT", {}, Exception("database is restarting"))
        await record(attempts)

    h.store.record_deliveries = flaky  # type: ignore[method-assign]
    await h.dispatcher.handle_many([make_alert() for _ in range(10)])
    await eventually(lambda: failures == 0)
    await eventually(lambda: _all_delivered(h.store, 10), timeout=10)
    assert len(receiver.requests) == 10


async def _all_delivered(store: SqlAlertStore, count: int) -> bool:
    return await _statuses(store) == {"delivered": count}


async def test_a_subscription_disabled_before_a_late_retry_is_not_sent_to(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    """The subscription read with the alert batch is only used for a prompt first attempt: a retry
    reads it again, so disabling a subscription stops its pending retries."""
    h = await harness_factory(initial_backoff_s=1.5, max_backoff_s=1.5)
    sub = await h.create_subscription(_webhook(receiver))
    receiver.script = [503]
    await h.dispatcher.handle(make_alert())
    await eventually(lambda: len(receiver.requests) == 1)
    async with h.http.patch(
        f"{h.base_url}/api/v1/subscriptions/{sub['id']}", json={"enabled": False}, headers=h.auth()
    ) as r:
        assert r.status == 200, await r.text()
    await eventually(lambda: _statuses_are(h.store, {"cancelled": 1}), timeout=10)
    assert len(receiver.requests) == 1


async def _statuses_are(store: SqlAlertStore, expected: dict[str, int]) -> bool:
    return await _statuses(store) == expected
