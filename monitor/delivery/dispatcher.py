"""The :class:`Dispatcher`: the delivery stage's entry point, called by the streaming layer.

``handle_many(alerts)`` (or ``handle(alert)``, a batch of one) persists the alerts (idempotently, one
store transaction per batch), wakes the live stream, matches the subscriptions and enqueues one
delivery per changed alert and matching immediate subscription. Each subscription has
its own queue and ``per_subscription_concurrency`` sending tasks, so a slow or failing receiver
delays no other. Pending deliveries live in the store: failed attempts are retried by the poller
with exponential backoff, deliveries left by a stopped or crashed worker are taken over when their
lease expires, and after the retry period a delivery is dead-lettered (stored, counted, and given
to the ``dead_letter`` callback).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp

from monitor.batching import GroupCommit
from monitor.delivery.backoff import BackoffPolicy
from monitor.delivery.channels import EndpointGone, ReceiverError, send
from monitor.delivery.feed import AlertFeed
from monitor.delivery.matching import subscription_matches
from monitor.delivery.payload import alertmanager_url, build_body
from monitor.delivery.schedule import digest_period_start, next_digest_at
from monitor.delivery.settings import DeliverySettings
from monitor.delivery.signing import message_id, signed_headers
from monitor.delivery.ssrf import Resolver, UnresolvableHostError, UnsafeUrlError, check_url, system_resolve
from monitor.delivery.subscription import AlertmanagerChannel, DigestDelivery, WebhookChannel
from monitor.errors import DeliveryError
from monitor.observability.metrics import Metrics
from monitor.records import SEVERITIES, Alert, DeadLetter
from monitor.store.base import AlertStore, AttemptRecord, DeliveryRecord, NewDelivery, SubscriptionRecord
from monitor.store.sql import is_transient, transient_as_store_error

log = logging.getLogger(__name__)

DeadLetterCallback = Callable[[DeadLetter], Awaitable[None]]
Clock = Callable[[], datetime]
#: The topic alerts come from, named in dead letters.
ALERTS_TOPIC = "monitor.rules.alerts.v1"
#: A subscription read with the alert batch is used as it was if its delivery is sent within this
#: many seconds (it is read again otherwise): one store read per batch, not one per delivery.
_SUBSCRIPTION_FRESH_S = 1.0
#: Successful attempts are recorded in batches (group commit): at most this many per transaction,
#: gathered for this long (no one waits for the record; the store's one writer is better spent on
#: alerts).
_MAX_COMPLETIONS = 500
_COMPLETIONS_LINGER_S = 0.2


class Notifier(Protocol):
    """The role the streaming layer sees: started once, fed every alert, stopped on shutdown."""

    async def start(self) -> None:
        """Start background work (retries, digests)."""

    async def stop(self) -> None:
        """Drain and stop."""

    async def handle(self, alert: Alert) -> None:
        """Persist, publish and deliver one alert (idempotent per revision)."""

    async def handle_many(self, alerts: Sequence[Alert]) -> None:
        """Persist, publish and deliver a batch of alerts, in order (idempotent per revision)."""


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


@dataclass
class _Job:
    delivery: DeliveryRecord
    handled_at: float | None = None  # monotonic time handle() received the alert, for the latency metric
    subscription: SubscriptionRecord | None = None  # as read with the alert batch (at handled_at)
    lease_until: datetime | None = None  # the lease this worker took when it enqueued or claimed it


class _SubscriptionWorker:
    """One subscription's queue and its sending tasks."""

    def __init__(
        self, subscription_id: str, concurrency: int, run: Callable[[_Job], Awaitable[None]]
    ) -> None:
        self.subscription_id = subscription_id
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._run = run
        self.tasks = [
            asyncio.create_task(self._loop(), name=f"delivery:{subscription_id}:{i}")
            for i in range(concurrency)
        ]

    async def _loop(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await self._run(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # one place per stage catches: a bad delivery never stops the worker
                log.exception("delivery %s to %s failed unexpectedly", job.delivery.id, self.subscription_id)
            finally:
                self.queue.task_done()

    async def drain(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout)

    async def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class Dispatcher:
    """The notifier: ``start()``, ``handle(alert)`` for each alert, ``stop()`` to drain and stop.

    ``session`` is the shared aiohttp session (see :func:`monitor.delivery.channels.create_http_session`);
    ``dead_letter`` is called with a :class:`~monitor.records.DeadLetter` for every delivery given up.
    ``clock``, ``resolve`` and ``owner`` are for tests.
    """

    def __init__(
        self,
        store: AlertStore,
        session: aiohttp.ClientSession,
        metrics: Metrics,
        settings: DeliverySettings,
        dead_letter: DeadLetterCallback | None = None,
        *,
        clock: Clock = utc_now,
        resolve: Resolver = system_resolve,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.session = session
        self.metrics = metrics
        self.settings = settings
        self.dead_letter = dead_letter
        self.clock = clock
        self.resolve = resolve
        self.owner = owner or f"worker-{secrets.token_hex(6)}"
        self.feed = AlertFeed()
        self.policy = BackoffPolicy(
            initial_s=settings.initial_backoff_s,
            maximum_s=settings.max_backoff_s,
            multiplier=settings.backoff_multiplier,
            jitter=settings.jitter,
            period_s=settings.retry_period_s,
            max_retry_after_s=settings.max_retry_after_s,
        )
        self._workers: dict[str, _SubscriptionWorker] = {}
        self._inflight: set[int] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._running = False
        self._gauge_refresh: asyncio.Task[None] | None = None
        # Successful attempts wait here to be recorded together: three transactions per delivery
        # capped a subscription at the store's commit rate (about 60 deliveries/s on SQLite).
        self._completions: GroupCommit[AttemptRecord] = GroupCommit(
            self._record_deliveries,
            max_batch=_MAX_COMPLETIONS,
            max_pending=4 * _MAX_COMPLETIONS,
            linger_s=_COMPLETIONS_LINGER_S,
            name="delivery:completions",
        )

    # --- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the retry poller and the digest scheduler; pending deliveries are resumed."""
        if self._running:
            return
        self._running = True
        await self.refresh_open_alerts()
        self._loops = [
            asyncio.create_task(
                self._every(self.settings.poll_interval_s, self.poll_once), name="delivery:poller"
            ),
            asyncio.create_task(
                self._every(self.settings.digest_check_interval_s, self.run_digests_once),
                name="delivery:digests",
            ),
        ]

    async def stop(self) -> None:
        """Stop taking work, let queued sends finish (up to ``drain_timeout_s``), release the rest."""
        if not self._running:
            return
        self._running = False
        if self._gauge_refresh is not None:
            self._gauge_refresh.cancel()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        deadline = time.monotonic() + self.settings.drain_timeout_s
        for worker in list(self._workers.values()):
            await worker.drain(max(0.0, deadline - time.monotonic()))
        for worker in list(self._workers.values()):
            await worker.cancel()
        self._workers.clear()
        # Sent is not done until recorded: what is not recorded in time is sent again by the next
        # worker (at least once; receivers deduplicate by webhook-id).
        if not await self._completions.flush(max(0.0, deadline - time.monotonic())):
            log.warning("stopping with %d delivered attempts not recorded", self._completions.pending)
        await self._completions.close()
        self._inflight.clear()
        # Deliveries we leased but did not finish are given back at once, not after the lease expires.
        with contextlib.suppress(Exception):
            await self.store.release_leases(self.owner)
        self.feed.close()

    async def _every(self, interval: float, step: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery background step %s failed; retrying", getattr(step, "__name__", step))
            await asyncio.sleep(interval)

    # --- alerts in ----------------------------------------------------------------------------------

    async def handle(self, alert: Alert) -> None:
        """Persist ``alert``, publish it to the live stream and enqueue its deliveries.

        The same alert revision twice does nothing the second time (nor does an older revision).
        """
        await self.handle_many([alert])

    async def handle_many(self, alerts: Sequence[Alert]) -> None:
        """:meth:`handle` for each alert in order, with one store transaction for the batch.

        The same deliveries (message ids, bodies, order) as handling the alerts one by one, from one
        store transaction per batch (the alerts, the subscriptions read, the deliveries enqueued). A
        transient store failure raises :class:`~monitor.errors.StoreError` (``transient=True``) and
        stores nothing: retry the whole batch.
        """
        if not alerts:
            return
        with transient_as_store_error():
            await self._handle_many(alerts)

    async def _handle_many(self, alerts: Sequence[Alert]) -> None:
        handled_at = time.monotonic()
        now = self.clock()
        # Not running (stopping): leave the deliveries unleased, for the next poller of any worker.
        lease_until = now + timedelta(seconds=self.settings.lease_s) if self._running else now

        def planner(
            changed: Sequence[Alert], subscriptions: Sequence[SubscriptionRecord]
        ) -> list[NewDelivery]:
            wanted = [
                s for s in subscriptions if s.active and not isinstance(s.spec.delivery, DigestDelivery)
            ]
            return [
                NewDelivery(
                    subscription_id=s.id,
                    channel_type=s.spec.channel.type,
                    message_id=message_id(alert.id, alert.revision, s.id),
                    body=build_body(
                        s.spec.channel.type,
                        [alert],
                        base_url=self.settings.public_base_url,
                        now=now,
                        teams_max_bytes=self.settings.teams_max_bytes,
                    ),
                    kind="alert",
                    alert_id=alert.id,
                    revision=alert.revision,
                )
                for alert in changed
                for s in wanted
                if subscription_matches(s.spec.filters, alert)
            ]

        # The alerts and their deliveries in one transaction: nothing is owed after a failure.
        batch = await self.store.store_alerts(
            alerts, now=now, planner=planner, owner=self.owner, lease_until=lease_until
        )
        if any(r.changed for r in batch.results):
            self.feed.publish()
            self._refresh_open_alerts_soon()
        by_id = {s.id: s for s in batch.subscriptions}
        for record in batch.deliveries:
            self._submit(_Job(record, handled_at, by_id.get(record.subscription_id), lease_until))

    def _refresh_open_alerts_soon(self) -> None:
        # Counting open alerts is a query over the whole table: at most once per interval while alerts
        # arrive, not once per alert (it cost the notify stage a round trip per alert).
        if self._gauge_refresh is None or self._gauge_refresh.done():
            self._gauge_refresh = asyncio.create_task(self._refresh_later(), name="delivery:open-alerts")

    async def _refresh_later(self) -> None:
        await asyncio.sleep(self.settings.open_alerts_refresh_s)
        try:
            await self.refresh_open_alerts()
        except Exception as err:  # the store may be down: the gauge keeps its last values
            log.warning("open-alerts gauge refresh failed: %s", err)

    async def refresh_open_alerts(self) -> None:
        """Set the open-alerts gauge from the store."""
        counts = await self.store.open_alerts_by_severity()
        for severity in SEVERITIES:
            self.metrics.open_alerts.labels(severity=severity).set(counts.get(severity, 0))

    # --- queues -------------------------------------------------------------------------------------

    def _submit(self, job: _Job) -> None:
        if not self._running:
            return  # stays pending in the store; the next start (ours or another worker's) sends it
        sub_id = job.delivery.subscription_id
        worker = self._workers.get(sub_id)
        if worker is None:
            worker = self._workers[sub_id] = _SubscriptionWorker(
                sub_id, self.settings.per_subscription_concurrency, self._attempt
            )
        self._inflight.add(job.delivery.id)
        worker.queue.put_nowait(job)

    async def poll_once(self) -> int:
        """Lease the due deliveries (retries, and those left by stopped workers) and queue them."""
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.lease_s)
        claimed = await self.store.claim_due_deliveries(
            now, owner=self.owner, lease_until=lease_until, limit=500, exclude=sorted(self._inflight)
        )
        for record in claimed:
            self._submit(_Job(record, lease_until=lease_until))
        self.metrics.retry_queue_depth.set(await self.store.count_waiting_retries())
        return len(claimed)

    # --- one attempt --------------------------------------------------------------------------------

    async def _attempt(self, job: _Job) -> None:
        delivery = job.delivery
        try:
            await self._attempt_inner(job)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the one catch-all of the stage: log, count, keep the worker going
            log.exception(
                "delivery %s (alert %s, subscription %s) failed unexpectedly; it stays pending",
                delivery.id,
                delivery.alert_id,
                delivery.subscription_id,
            )
            self.metrics.stage_errors.labels(stage="delivery", reason=type(err).__name__).inc()
        finally:
            self._inflight.discard(delivery.id)

    async def _attempt_inner(self, job: _Job) -> None:
        delivery = job.delivery
        now = self.clock()
        # A lease taken moments ago (enqueued or claimed by us) is ours for a while yet: renewing it
        # is a transaction per delivery for nothing. One that waited half its time is renewed.
        margin = timedelta(seconds=self.settings.lease_s / 2)
        if job.lease_until is None or job.lease_until - now < margin:
            lease_until = now + timedelta(seconds=self.settings.lease_s)
            if not await self.store.renew_lease(
                delivery.id, now=now, owner=self.owner, lease_until=lease_until
            ):
                return  # finished meanwhile, or another worker took it over
        fresh = job.handled_at is not None and time.monotonic() - job.handled_at < _SUBSCRIPTION_FRESH_S
        if job.subscription is not None and fresh:
            subscription: SubscriptionRecord | None = job.subscription
        else:
            subscription = await self.store.get_subscription(delivery.subscription_id)
        if subscription is None or not subscription.active:
            reason = "subscription deleted" if subscription is None else "subscription disabled"
            await self.store.mark_final(delivery.id, "cancelled", now=now, reason=reason)
            return
        channel = subscription.spec.channel
        url = alertmanager_url(channel.url) if isinstance(channel, AlertmanagerChannel) else channel.url
        if job.handled_at is not None and delivery.attempts == 0:
            self.metrics.delivery_latency.observe(time.monotonic() - job.handled_at)
        headers: dict[str, str] = {}
        if isinstance(channel, WebhookChannel) and channel.secret:
            headers = signed_headers(channel.secret, delivery.message_id, int(time.time()), delivery.body)
        started = time.monotonic()
        status: int | None = None
        try:
            await check_url(url, self.settings.allow_private_networks, resolve=self.resolve)
            status = await send(
                self.session, url, delivery.body, headers, timeout_s=self.settings.request_timeout_s
            )
        except UnsafeUrlError as err:
            # DNS may come back; a forbidden address is final (the subscription must be changed).
            retryable = isinstance(err, UnresolvableHostError)
            await self._failed(job, subscription, DeliveryError(str(err), retryable=retryable), started, None)
            return
        except DeliveryError as err:
            await self._failed(job, subscription, err, started, _status_of(err))
            return
        await self._completions.add(
            AttemptRecord(
                delivery_id=delivery.id,
                attempt=delivery.attempts + 1,
                at=now,
                outcome="delivered",
                duration_s=time.monotonic() - started,
                status_code=status,
            )
        )
        self.metrics.deliveries.labels(channel=delivery.channel_type, outcome="delivered").inc()

    async def _record_deliveries(self, attempts: list[AttemptRecord]) -> None:
        """Record a batch of successful attempts; a store outage is waited out (the senders wait
        too, as the batch holds the queue), any other failure leaves them to be sent again once
        their lease expires."""
        delay = 0.1
        while True:
            try:
                await self.store.record_deliveries(attempts)
                return
            except Exception as err:
                if not is_transient(err):
                    log.error(
                        "recording %d delivered attempts failed (%s); they are sent again when "
                        "their lease expires",
                        len(attempts),
                        err,
                    )
                    self.metrics.stage_errors.labels(stage="delivery", reason=type(err).__name__).inc()
                    return
                log.warning("alert store unavailable, %d delivered attempts wait: %s", len(attempts), err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _failed(
        self,
        job: _Job,
        subscription: SubscriptionRecord,
        err: DeliveryError,
        started: float,
        status: int | None,
    ) -> None:
        delivery = job.delivery
        now = self.clock()
        attempt = delivery.attempts + 1
        if isinstance(err, EndpointGone):
            outcome = "gone"
        elif err.retryable:
            outcome = "retry"
        else:
            outcome = "failed"
        await self.store.record_attempt(
            AttemptRecord(
                delivery_id=delivery.id,
                attempt=attempt,
                at=now,
                outcome=outcome,
                duration_s=time.monotonic() - started,
                status_code=status,
                error=str(err)[:1000],
            )
        )
        self.metrics.deliveries.labels(channel=delivery.channel_type, outcome=outcome).inc()
        if outcome == "gone":
            reason = (
                f"endpoint answered 410 Gone at {now.isoformat()}; update the channel or re-enable to resume"
            )
            await self.store.mark_final(delivery.id, "gone", now=now, reason=str(err), status_code=status)
            await self.store.disable_subscription(subscription.id, reason, now=now)
            log.warning("subscription %s disabled: %s", subscription.id, reason)
            return
        if outcome == "retry":
            next_at = self.policy.next_attempt(
                started=delivery.period_start, now=now, attempt=attempt, retry_after=err.retry_after
            )
            if next_at is not None:
                await self.store.schedule_retry(
                    delivery.id, now=now, next_attempt_at=next_at, status_code=status, error=str(err)[:1000]
                )
                return
            reason = (
                f"retry period of {self.settings.retry_period_s:g} s over after {attempt} attempts: {err}"
            )
        else:
            reason = f"refused: {err}"
        await self._dead(delivery, reason, status)

    async def _dead(self, delivery: DeliveryRecord, reason: str, status: int | None) -> None:
        now = self.clock()
        await self.store.mark_final(delivery.id, "dead", now=now, reason=reason[:2000], status_code=status)
        self.metrics.delivery_dead_letters.labels(channel=delivery.channel_type).inc()
        log.warning("delivery %s (%s) dead-lettered: %s", delivery.id, delivery.message_id, reason)
        if self.dead_letter is None:
            return
        letter = DeadLetter(
            stage="delivery",
            reason="retry_period_exceeded" if reason.startswith("retry period") else "refused",
            error=reason[:2000],
            topic=ALERTS_TOPIC,
            key=delivery.alert_id or delivery.message_id,
            payload=delivery.body.decode("utf-8", "replace"),
            at=now,
        )
        try:
            await self.dead_letter(letter)
        except Exception:  # the letter is stored either way; the callback must not stop delivery
            log.exception("dead-letter callback failed for delivery %s", delivery.id)

    # --- digests ------------------------------------------------------------------------------------

    async def run_digests_once(self) -> int:
        """Send the digests that are due; return how many were enqueued."""
        now = self.clock()
        sent = 0
        for subscription in await self.store.due_digests(now):
            schedule = subscription.spec.delivery
            if not isinstance(schedule, DigestDelivery) or subscription.next_digest_at is None:
                continue
            start = subscription.last_digest_at or digest_period_start(schedule, subscription.next_digest_at)
            claimed = await self.store.advance_digest(
                subscription.id,
                expected=subscription.next_digest_at,
                next_at=next_digest_at(schedule, now),
                sent_at=now,
            )
            if not claimed:
                continue  # another worker sends this one
            changed = await self.store.alerts_changed_between(start, now, limit=10_000)
            alerts = [s.alert for s in changed if subscription_matches(subscription.spec.filters, s.alert)]
            if not alerts:
                continue  # nothing to say: no empty digests
            body = build_body(
                subscription.spec.channel.type,
                alerts[: self.settings.digest_max_alerts],
                base_url=self.settings.public_base_url,
                now=now,
                period=(start, now),
                teams_max_bytes=self.settings.teams_max_bytes,
            )
            records = await self.store.enqueue_deliveries(
                [
                    NewDelivery(
                        subscription_id=subscription.id,
                        channel_type=subscription.spec.channel.type,
                        message_id=message_id("digest", subscription.id, now.isoformat()),
                        body=body,
                        kind="digest",
                    )
                ],
                now=now,
                owner=self.owner,
                lease_until=now + timedelta(seconds=self.settings.lease_s),
            )
            for record in records:
                self._submit(_Job(record, time.monotonic()))
            sent += len(records)
        return sent


def _status_of(err: DeliveryError) -> int | None:
    return err.status if isinstance(err, ReceiverError) else None
