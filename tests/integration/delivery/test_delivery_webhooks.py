"""Webhook delivery end to end: a real receiver that verifies signatures with the reference
``standardwebhooks`` library, retries, 410, dead letters and replay, isolation, restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from standardwebhooks.webhooks import Webhook

from monitor.api.testing import Harness
from monitor.delivery.dispatcher import Dispatcher
from monitor.delivery.replay import replay_dead_letters
from monitor.delivery.testing import Receiver, eventually, make_alert
from monitor.store.base import DeliveryQuery

HarnessFactory = Callable[..., Awaitable[Harness]]


def _verified(receiver: Receiver, secret: str) -> list[dict]:
    """Every request the receiver got, verified by the reference library (raises on a bad signature)."""
    wh = Webhook(secret)
    return [wh.verify(body, headers) for headers, body in receiver.requests]


def _webhook(receiver: Receiver, **extra: object) -> dict:
    return {"name": "hook", "channel": {"type": "webhook", "url": receiver.url}, **extra}


async def test_alert_is_delivered_signed_and_the_signature_verifies(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory()
    sub = await h.create_subscription(_webhook(receiver))
    secret = sub["channel"]["secret"]
    assert secret.startswith("whsec_")
    alert = make_alert()
    started = time.monotonic()
    await h.dispatcher.handle(alert)
    await eventually(lambda: len(receiver.requests) == 1)
    assert time.monotonic() - started < 1.0  # alert -> first attempt well under a second
    (payload,) = _verified(receiver, secret)
    assert payload["type"] == "alert.raised"
    assert payload["data"]["alert"]["id"] == alert.id
    assert payload["data"]["links"]["self"] == f"http://monitor.test/api/v1/alerts/{alert.id}"
    headers = receiver.requests[0][0]
    assert headers["webhook-id"].startswith("msg_")
    # The same alert again is a no-op; a new revision is a new message with a new webhook-id.
    await h.dispatcher.handle(alert)
    await h.dispatcher.handle(make_alert(id=alert.id, revision=2, fingerprint=alert.fingerprint))
    await eventually(lambda: len(receiver.requests) == 2)
    assert receiver.requests[1][0]["webhook-id"] != headers["webhook-id"]
    assert _verified(receiver, secret)[1]["type"] == "alert.updated"
    await eventually(
        lambda: h.metrics.deliveries.labels(channel="webhook", outcome="delivered")._value.get() == 2
    )
    assert h.metrics.delivery_latency._sum.get() > 0  # type: ignore[attr-defined]


async def test_receiver_down_then_up_gets_every_alert_once_per_webhook_id(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory(retry_period_s=60)
    sub = await h.create_subscription(_webhook(receiver))
    await receiver.down()
    alerts = [make_alert() for _ in range(5)]
    for alert in alerts:
        await h.dispatcher.handle(alert)

    async def retried() -> bool:
        page = await h.store.list_deliveries(DeliveryQuery(statuses=("pending",)), limit=10)
        return len(page.items) == 5 and all(d.attempts >= 2 for d in page.items)

    await eventually(retried)
    await receiver.up()  # same port

    async def all_delivered() -> bool:
        page = await h.store.list_deliveries(DeliveryQuery(statuses=("delivered",)), limit=10)
        return len(page.items) == 5

    await eventually(all_delivered)
    payloads = _verified(receiver, sub["channel"]["secret"])
    by_id = Counter(headers["webhook-id"] for headers, _ in receiver.requests)
    received = {p["data"]["alert"]["id"] for p in payloads}
    assert received == {a.id for a in alerts}
    assert len(by_id) == 5  # after dedup by webhook-id: exactly one message per alert


async def test_429_retry_after_and_5xx_are_retried(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory()
    await h.create_subscription(_webhook(receiver))
    receiver.script = [429, 503, 500]
    receiver.headers = {"Retry-After": "0"}
    await h.dispatcher.handle(make_alert())
    await eventually(lambda: len(receiver.requests) == 4)

    async def delivered() -> bool:
        page = await h.store.list_deliveries(DeliveryQuery(statuses=("delivered",)), limit=10)
        return len(page.items) == 1

    await eventually(delivered)
    ids = {headers["webhook-id"] for headers, _ in receiver.requests}
    assert len(ids) == 1  # retries keep the message id
    delivery = (await h.store.list_deliveries(DeliveryQuery(), limit=1)).items[0]
    outcomes = [a.outcome for a in await h.store.list_attempts(delivery.id)]
    assert outcomes == ["retry", "retry", "retry", "delivered"]


async def test_410_gone_disables_the_subscription(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory()
    sub = await h.create_subscription(_webhook(receiver))
    receiver.status = 410
    await h.dispatcher.handle(make_alert())

    async def disabled() -> bool:
        view = await h.get(f"/api/v1/subscriptions/{sub['id']}")
        return bool(view["state"] == "disabled")

    await eventually(disabled)
    view = await h.get(f"/api/v1/subscriptions/{sub['id']}")
    assert "410" in view["disabled_reason"]
    # Nothing more is sent to it ...
    await h.dispatcher.handle(make_alert())
    gone = await h.get("/api/v1/deliveries?status=gone")
    assert len(gone["items"]) == 1
    assert len(receiver.requests) == 1
    # ... until it is re-enabled.
    receiver.status = 200
    async with h.http.patch(
        f"{h.base_url}/api/v1/subscriptions/{sub['id']}", json={"enabled": True}, headers=h.auth()
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["state"] == "active"
    await h.dispatcher.handle(make_alert())
    await eventually(lambda: len(receiver.requests) == 2)


async def test_dead_letter_after_retry_period_then_replay(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory(retry_period_s=0.5)
    await h.create_subscription(_webhook(receiver))
    receiver.status = 503
    alert = make_alert()
    await h.dispatcher.handle(alert)

    async def dead() -> bool:
        return len((await h.get("/api/v1/deliveries?status=dead", scope="read"))["items"]) == 1

    await eventually(dead)
    (item,) = (await h.get("/api/v1/deliveries?status=dead", scope="read"))["items"]
    assert item["alert_id"] == alert.id and "retry period" in item["dead_reason"]
    assert len(h.dead_letters) == 1
    letter = h.dead_letters[0]
    assert letter.stage == "delivery" and letter.key == alert.id
    assert json.loads(letter.payload)["data"]["alert"]["id"] == alert.id
    assert h.metrics.delivery_dead_letters.labels(channel="webhook")._value.get() == 1
    attempts_before = len(receiver.requests)
    assert attempts_before >= 2

    receiver.status = 200
    replayed = await replay_dead_letters(h.store)
    assert [d.id for d in replayed] == [item["id"]]

    async def delivered() -> bool:
        d = await h.store.get_delivery(item["id"])
        return d is not None and d.status == "delivered"

    await eventually(delivered)
    assert receiver.requests[-1][0]["webhook-id"] == item["message_id"]


async def test_non_retryable_4xx_is_dead_lettered_at_once(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory()
    await h.create_subscription(_webhook(receiver))
    receiver.status = 400
    await h.dispatcher.handle(make_alert())
    await eventually(lambda: len(h.dead_letters) == 1)
    assert len(receiver.requests) == 1
    assert h.dead_letters[0].reason == "refused"


async def test_a_slow_receiver_does_not_delay_the_others(
    harness_factory: HarnessFactory, receiver: Receiver, receiver2: Receiver
) -> None:
    h = await harness_factory(per_subscription_concurrency=1, request_timeout_s=5)
    receiver.delay = 1.5
    await h.create_subscription(_webhook(receiver, name="slow"))
    await h.create_subscription(_webhook(receiver2, name="fast"))
    for _ in range(3):
        await h.dispatcher.handle(make_alert())
    started = time.monotonic()
    await eventually(lambda: len(receiver2.requests) == 3, timeout=5)
    assert time.monotonic() - started < 1.0
    assert len(receiver.requests) == 1  # concurrency 1: the slow one works through its own queue


async def test_pending_deliveries_resume_after_a_restart(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory(retry_period_s=60)
    await h.create_subscription(_webhook(receiver))
    await receiver.down()
    await h.dispatcher.handle(make_alert())

    async def failed_once() -> bool:
        page = await h.store.list_deliveries(DeliveryQuery(statuses=("pending",)), limit=5)
        return len(page.items) == 1 and page.items[0].attempts >= 1

    await eventually(failed_once)
    await h.dispatcher.stop()
    await receiver.up()
    fresh = Dispatcher(h.store, h.http, h.metrics, h.settings)
    await fresh.start()
    try:

        async def delivered() -> bool:
            page = await h.store.list_deliveries(DeliveryQuery(statuses=("delivered",)), limit=5)
            return len(page.items) == 1

        await eventually(delivered)
    finally:
        await fresh.stop()


async def test_ssrf_guard_at_send_time(harness_factory: HarnessFactory, receiver: Receiver) -> None:
    h = await harness_factory()
    await h.create_subscription(_webhook(receiver))
    h.settings.allow_private_networks.clear()  # as if DNS now pointed somewhere private
    await h.dispatcher.handle(make_alert())
    await eventually(lambda: len(h.dead_letters) == 1)
    assert "loopback" in h.dead_letters[0].error
    assert receiver.requests == []


async def test_filters_decide_who_gets_what(harness_factory: HarnessFactory, receiver: Receiver) -> None:
    h = await harness_factory()
    await h.create_subscription(
        _webhook(receiver, filters={"minerals": ["lithium"], "min_severity": "high", "countries": ["CL"]})
    )
    await h.dispatcher.handle(make_alert(minerals=["lithium"], countries=["CL"], severity="medium"))
    await h.dispatcher.handle(make_alert(minerals=["cobalt"], countries=["CL"], severity="critical"))
    wanted = make_alert(minerals=["lithium"], countries=["CL"], severity="critical")
    await h.dispatcher.handle(wanted)
    await eventually(lambda: len(receiver.requests) == 1)
    assert json.loads(receiver.requests[0][1])["data"]["alert"]["id"] == wanted.id
    assert (await h.store.list_deliveries(DeliveryQuery(), limit=10)).items[0].alert_id == wanted.id


async def test_first_attempt_latency_stays_under_a_second_for_a_burst(
    harness_factory: HarnessFactory, receiver: Receiver, receiver2: Receiver
) -> None:
    h = await harness_factory()
    for i, r in enumerate((receiver, receiver2, receiver)):
        await h.create_subscription(_webhook(r, name=f"s{i}"))
    for _ in range(30):
        await h.dispatcher.handle(make_alert())
    await eventually(lambda: len(receiver.requests) + len(receiver2.requests) == 90)
    sample = h.metrics.registry.get_sample_value
    total = sample("monitor_delivery_first_attempt_latency_seconds_count")
    under_1s = sample("monitor_delivery_first_attempt_latency_seconds_bucket", {"le": "1.0"})
    assert total == 90 and under_1s == total


async def test_timeouts_are_retried_with_the_same_webhook_id(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory(request_timeout_s=0.3)
    sub = await h.create_subscription(_webhook(receiver))
    receiver.delay = 1.0
    await h.dispatcher.handle(make_alert())
    await eventually(lambda: len(receiver.requests) >= 2)  # the first attempt timed out
    receiver.delay = 0.0

    async def delivered() -> bool:
        page = await h.store.list_deliveries(DeliveryQuery(statuses=("delivered",)), limit=5)
        return len(page.items) == 1

    await eventually(delivered)
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == 1
    _verified(receiver, sub["channel"]["secret"])


async def test_two_workers_handling_the_same_alert_deliver_it_once(
    harness_factory: HarnessFactory, receiver: Receiver
) -> None:
    h = await harness_factory()
    await h.create_subscription(_webhook(receiver))
    other = Dispatcher(h.store, h.http, h.metrics, h.settings)
    await other.start()
    try:
        alert = make_alert()
        await asyncio.gather(h.dispatcher.handle(alert), other.handle(alert))
        await eventually(lambda: len(receiver.requests) == 1)
        page = await h.store.list_deliveries(DeliveryQuery(), limit=5)
        assert len(page.items) == 1
    finally:
        await other.stop()
