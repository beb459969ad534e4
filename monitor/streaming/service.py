"""Run the service: broker (embedded or external), topics, the Faust topology, HTTP, until told to stop.

One function, :func:`run_service`, serves ``monitor run``, ``monitor demo`` and ``monitor replay``.
It owns every resource it starts and releases them on every exit path: Ctrl-C, SIGTERM, an error,
or the end of a bounded run (``--once``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from monitor.api.app import ApiDeps, RouteInstaller, create_app
from monitor.api.auth import require_scope
from monitor.api.deps import DeliveryApiDeps
from monitor.api.routes import delivery_routes, store_ready
from monitor.delivery.channels import create_http_session
from monitor.delivery.dispatcher import Dispatcher
from monitor.delivery.matching import AlertQuery
from monitor.errors import BrokerError, StoreError
from monitor.extract import Extractor
from monitor.ingest import Poller, fetch_policy, install_ingest_routes
from monitor.observability.metrics import Metrics
from monitor.observability.risk import RiskTracker
from monitor.records import Alert, Document
from monitor.settings import Settings
from monitor.store import SqlAlertStore
from monitor.store.sql import is_transient
from monitor.streaming.app import AlertSink, Topology
from monitor.streaming.broker import EmbeddedBroker
from monitor.streaming.progress import Progress
from monitor.streaming.recorder import EventRecorder, utc_now
from monitor.streaming.ruleholder import RuleHolder
from monitor.streaming.stages import Stages
from monitor.streaming.topics import TopicNames, ensure_topics, missing_topics

log = logging.getLogger(__name__)

#: How often the supply-risk gauge is rebuilt from the store's open alerts.
RISK_REFRESH_S = 60.0
#: While alerts arrive, the supply-risk gauge is rescored at most this often.
RISK_DEBOUNCE_S = 1.0

#: Exit codes, for a supervisor to act on.
EXIT_OK = 0
EXIT_INPUT_ERRORS = 1
EXIT_BROKER_LOST = 3


@dataclass
class RunOptions:
    """What kind of run this is."""

    documents: Iterable[Document] | AsyncIterable[Document] | None = None
    once: bool = False
    #: Sources to poll for ever (``monitor run``); the consumer group's leader polls, so N workers
    #: do not hit the same hosts N times.
    poll_sources: Sequence[Any] = ()
    sinks: Sequence[AlertSink] = ()
    group_id: str | None = None
    route_installers: list[RouteInstaller] = field(default_factory=list)
    on_ready: Callable[[Topology], Awaitable[None]] | None = None


@dataclass
class RunResult:
    """How a run ended."""

    exit_code: int
    documents: int = 0
    reason: str = ""


async def run_service(settings: Settings, options: RunOptions, metrics: Metrics | None = None) -> RunResult:
    """Run until stopped (or, with ``once``, until every given document is processed).

    Start-up order: configuration (extractor data, rules) -> broker and topics -> alert store ->
    Faust topology -> delivery -> HTTP -> consuming. Shutdown runs the other way on every exit path.
    """
    metrics = metrics or Metrics()
    stop = asyncio.Event()
    outcome: list[RunResult] = []
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    # Configuration first: invalid rules or extractor data stop us before anything is started.
    extractor = Extractor(max_chars=settings.extract.max_chars, spacy_model=settings.extract.spacy_model)
    rules = RuleHolder(settings.rules.paths, metrics)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(_remove_signal_handlers, loop)
        if settings.kafka.embedded:
            broker = EmbeddedBroker(startup_timeout_s=settings.kafka.embedded_startup_timeout_s)
            await asyncio.to_thread(broker.start)
            stack.push_async_callback(asyncio.to_thread, broker.stop)
            bootstrap = broker.bootstrap_servers
        else:
            bootstrap = settings.kafka.bootstrap_servers or ""
        names = TopicNames.from_prefix(settings.kafka.topic_prefix)
        await ensure_topics(bootstrap, names.all(), settings.kafka)

        store = SqlAlertStore(settings.store.url)
        try:
            await store.start()
        except Exception as err:  # the store is required: say which and why, then stop
            await store.close()
            raise StoreError(
                f"cannot open the alert store {_safe_url(settings.store.url)}: {err}", transient=False
            ) from err
        stack.push_async_callback(store.close)

        progress = Progress()
        topology = Topology(
            settings,
            bootstrap,
            Stages(extractor, rules, metrics),
            metrics,
            (),
            progress,
            embedded=settings.kafka.embedded,
            group_id=options.group_id,
        )
        stack.callback(topology.cleanup)
        delivery_http = create_http_session(settings.delivery.allow_private_networks)
        stack.push_async_callback(delivery_http.close)
        dispatcher = Dispatcher(
            store, delivery_http, metrics, settings.delivery, dead_letter=topology.send_dead_letter
        )
        # The risk gauge starts from the open alerts in the store, so a restart keeps the scores.
        risk = RiskTracker(metrics, count_open_alerts=False)  # the dispatcher owns the open-alerts gauge
        await _reset_risk(store, risk)
        # Rescoring reads every open alert: at most once a second, not once per alert.
        risk_sink = _DebouncedRisk(risk, RISK_DEBOUNCE_S)
        stack.push_async_callback(risk_sink.close)
        topology.sinks.extend([_StoreSink(dispatcher), risk_sink, *options.sinks])
        recorder = EventRecorder(lambda events: store.record_events(events, now=utc_now()), metrics)
        topology.event_listeners.append(recorder.add)

        poll_http = aiohttp.ClientSession()
        stack.push_async_callback(poll_http.close)
        poller = Poller(
            options.poll_sources,
            emit=topology.publish,
            session=poll_http,
            metrics=metrics,
            fetch_policy=fetch_policy(settings.ingest),
        )

        async def readiness() -> tuple[bool, list[str]]:
            reasons = [] if topology.ready.is_set() else ["stream processor starting"]
            store_ok, store_reasons = await store_ready(store)
            return not reasons and store_ok, reasons + store_reasons

        delivery_deps = DeliveryApiDeps(
            store=store, feed=dispatcher.feed, metrics=metrics, settings=settings.delivery
        )
        installers: list[RouteInstaller] = [
            delivery_routes(delivery_deps),
            lambda app: install_ingest_routes(
                app,
                publish=topology.publish_many,
                token=settings.ingest.push_token,
                metrics=metrics,
                max_bytes=settings.ingest.max_document_bytes,
            ),
            lambda app: _install_service_routes(app, poller, rules, store),
            *options.route_installers,
        ]
        api = create_app(
            ApiDeps(metrics=metrics, readiness=readiness, route_installers=installers),
            client_max_size=settings.ingest.max_document_bytes + 1024,
        )
        runner = web.AppRunner(api, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.http.host, settings.http.port)
        await site.start()
        for address in runner.addresses:
            log.info(
                "HTTP on http://%s:%d (/healthz, /readyz, /metrics, /api/v1)",
                address[0],
                address[1],
                extra={"http_port": address[1]},
            )

        await dispatcher.start()
        stack.push_async_callback(dispatcher.stop)
        recorder.start()
        stack.push_async_callback(recorder.stop)
        await topology.app.start()
        stack.push_async_callback(_stop_app, topology, settings.kafka.shutdown_timeout_s)
        await _wait_ready(topology, stop)
        if options.on_ready is not None:
            await options.on_ready(topology)

        background = [
            asyncio.create_task(_watch_broker(settings, bootstrap, names.all(), stop, outcome)),
            asyncio.create_task(_reload_rules(settings, rules, stop)),
            asyncio.create_task(_refresh_risk(store, risk, stop)),
        ]
        if options.poll_sources:
            background.append(asyncio.create_task(_poll_while_leader(topology, poller, stop)))
        produced = 0
        if options.documents is not None:
            async for document in _each(options.documents):
                await topology.publish(document)
                produced += 1
            await topology.app.producer.flush()
            progress.inputs_finished()
        await _first_of(progress.wait() if options.once else None, stop.wait())
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await poller.stop()
        if outcome:
            return outcome[0]
        return RunResult(exit_code=EXIT_OK, documents=produced)
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns or raises


async def _each(documents: Iterable[Document] | AsyncIterable[Document]) -> AsyncIterator[Document]:
    if isinstance(documents, AsyncIterable):
        async for document in documents:
            yield document
    else:
        for document in documents:
            yield document


async def _first_of(*waits: Coroutine[Any, Any, Any] | None) -> None:
    tasks = [asyncio.create_task(w) for w in waits if w is not None]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _remove_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signum)


async def _stop_app(topology: Topology, timeout_s: float) -> None:
    # Graceful: Faust commits the offsets of what was processed. A broker that is gone can make
    # this hang in client retries; past the timeout we give up, the uncommitted rest is redelivered.
    try:
        if topology.ready.is_set():
            await topology.drain(timeout_s / 2)
        await asyncio.wait_for(topology.app.stop(), timeout_s)
    except TimeoutError:
        log.warning("the stream processor did not stop within %.0f s; exiting anyway", timeout_s)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


class _StoreSink:
    """The notify stage's first sink: persist, stream and deliver; a database outage is transient."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def __call__(self, alert: Alert) -> None:
        await self.handle_many([alert])

    async def handle_many(self, alerts: Sequence[Alert]) -> None:
        """Persist a batch of alerts in one transaction, then publish and deliver them."""
        try:
            await self.dispatcher.handle_many(alerts)
        except Exception as err:
            if is_transient(err):
                raise StoreError(f"alert store unavailable: {err}", transient=True) from err
            raise


class _DebouncedRisk:
    """The risk tracker as an alert sink that rescores at most once per ``interval_s``."""

    def __init__(self, risk: RiskTracker, interval_s: float) -> None:
        self.risk = risk
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, alert: Alert) -> None:
        self.risk.observe(alert, publish=False)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._publish_later())

    async def _publish_later(self) -> None:
        await asyncio.sleep(self.interval_s)
        self.risk.publish()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            self.risk.publish()


async def _reset_risk(store: SqlAlertStore, risk: RiskTracker) -> None:
    page = await store.list_alerts(AlertQuery(statuses=("firing", "acknowledged")), limit=100_000)
    risk.reset(item.alert for item in page.items)


async def _refresh_risk(store: SqlAlertStore, risk: RiskTracker, stop: asyncio.Event) -> None:
    """Re-read the open alerts now and then: resolutions through the API and alerts of other workers'
    partitions then reach this worker's supply-risk gauge too."""
    while not stop.is_set():
        await asyncio.sleep(RISK_REFRESH_S)
        try:
            await _reset_risk(store, risk)
        except Exception as err:  # the store may be down; the gauge keeps its last values
            log.warning("supply-risk refresh failed: %s", err)


def _install_service_routes(
    app: web.Application, poller: Poller, rules: RuleHolder, store: SqlAlertStore
) -> None:
    """``GET /api/v1/sources`` (source health), ``GET /api/v1/events`` (tagged events), both with the
    read scope, and ``POST /api/v1/rules/reload`` (admin)."""

    async def events(request: web.Request) -> web.Response:
        await require_scope(request, "read")
        query = request.query
        try:
            limit = max(1, min(500, int(query.get("limit", "50"))))
            since = datetime.fromisoformat(query["since"]) if "since" in query else None
            until = datetime.fromisoformat(query["until"]) if "until" in query else None
            items, next_cursor = await store.list_events(
                measures=query.getall("measure", []),
                minerals=query.getall("mineral", []),
                countries=query.getall("country", []),
                since=since.replace(tzinfo=since.tzinfo or UTC) if since else None,
                until=until.replace(tzinfo=until.tzinfo or UTC) if until else None,
                limit=limit,
                cursor=query.get("cursor"),
            )
        except ValueError as err:
            return web.json_response({"error": {"code": "invalid", "message": str(err)}}, status=400)
        return web.json_response({"items": items, "next_cursor": next_cursor})

    app.router.add_get("/api/v1/events", events)

    async def sources(request: web.Request) -> web.Response:
        await require_scope(request, "read")
        return web.json_response({"sources": [health.as_dict() for health in poller.health()]})

    async def reload_rules(request: web.Request) -> web.Response:
        await require_scope(request, "admin")
        changed, message = await asyncio.to_thread(rules.reload, True)
        status = 200 if changed else 422
        return web.json_response({"reloaded": changed, "message": message}, status=status)

    app.router.add_get("/api/v1/sources", sources)
    app.router.add_post("/api/v1/rules/reload", reload_rules)


async def _poll_while_leader(topology: Topology, poller: Poller, stop: asyncio.Event) -> None:
    """Run the poller only while this worker leads the consumer group (checked every few seconds)."""
    try:
        while not stop.is_set():
            leading = topology.app.is_leader()
            if leading and not poller.running:
                log.info("this worker leads the group: polling sources")
                await poller.start()
            elif not leading and poller.running:
                log.info("no longer the group's leader: polling stops")
                await poller.stop()
            await asyncio.sleep(2.0)
    finally:
        await poller.stop()


async def _wait_ready(topology: Topology, stop: asyncio.Event) -> None:
    ready = asyncio.create_task(topology.ready.wait())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    stopped.cancel()


async def _reload_rules(settings: Settings, rules: RuleHolder, stop: asyncio.Event) -> None:
    """Hot reload: pick up changed rule files; an invalid set is rejected and the old one kept."""
    while not stop.is_set():
        await asyncio.sleep(settings.rules.reload_interval_s)
        await asyncio.to_thread(rules.reload)


async def _watch_broker(
    settings: Settings, bootstrap: str, names: list[str], stop: asyncio.Event, outcome: list[RunResult]
) -> None:
    """Stop the run with a clear reason when the broker lost our topics or stays unreachable.

    A memory-only embedded broker that restarted has lost every topic; a worker that carried on would
    wait forever for messages that will never come. Exiting non-zero lets a supervisor restart it.
    """
    kafka = settings.kafka
    unreachable_since: float | None = None
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        await asyncio.sleep(kafka.topic_check_interval_s)
        try:
            missing = await missing_topics(bootstrap, names, timeout_s=min(10.0, kafka.broker_lost_after_s))
        except BrokerError as err:
            now = loop.time()
            unreachable_since = unreachable_since or now
            down_for = now - unreachable_since
            log.warning("the Kafka broker at %s is unreachable (%.0f s): %s", bootstrap, down_for, err)
            if down_for >= kafka.broker_lost_after_s:
                reason = f"the Kafka broker at {bootstrap} is unreachable since {down_for:.0f} s: {err}"
                log.error("%s; exiting so that a supervisor can restart the worker", reason)
                outcome.append(RunResult(exit_code=EXIT_BROKER_LOST, reason=reason))
                stop.set()
            continue
        unreachable_since = None
        if missing:
            reason = (
                f"the broker at {bootstrap} lost the topics {', '.join(missing)} "
                "(an embedded broker keeps data in memory only and loses it on restart)"
            )
            log.error("%s; exiting so that a supervisor can restart the worker", reason)
            outcome.append(RunResult(exit_code=EXIT_BROKER_LOST, reason=reason))
            stop.set()
