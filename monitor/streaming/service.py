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
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from monitor.api.app import ApiDeps, RouteInstaller, create_app
from monitor.errors import BrokerError
from monitor.extract import Extractor
from monitor.ingest import Poller, fetch_policy, install_ingest_routes
from monitor.observability.metrics import Metrics
from monitor.records import Document
from monitor.settings import Settings
from monitor.streaming.app import AlertSink, Topology
from monitor.streaming.broker import EmbeddedBroker
from monitor.streaming.progress import Progress
from monitor.streaming.ruleholder import RuleHolder
from monitor.streaming.stages import Stages
from monitor.streaming.topics import TopicNames, ensure_topics, missing_topics

log = logging.getLogger(__name__)

#: Exit codes, for a supervisor to act on.
EXIT_OK = 0
EXIT_INPUT_ERRORS = 1
EXIT_BROKER_LOST = 3

#: How often the worker checks that the broker still has its topics, and how long it tolerates
#: an unreachable broker before exiting for its supervisor to restart it.
BROKER_CHECK_INTERVAL_S = 5.0
BROKER_LOST_AFTER_S = 30.0


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
    """Run until stopped (or, with ``once``, until every given document is processed)."""
    metrics = metrics or Metrics()
    broker: EmbeddedBroker | None = None
    runner: web.AppRunner | None = None
    topology: Topology | None = None
    stop = asyncio.Event()
    outcome: list[RunResult] = []
    cleanup: list[Callable[[], Awaitable[Any]]] = []
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    # Configuration first: invalid rules or extractor data stop us before anything is started.
    extractor = Extractor(max_chars=settings.extract.max_chars, spacy_model=settings.extract.spacy_model)
    rules = RuleHolder(settings.rules.paths, metrics)
    try:
        if settings.kafka.embedded:
            broker = EmbeddedBroker(startup_timeout_s=settings.kafka.embedded_startup_timeout_s)
            await asyncio.to_thread(broker.start)
            bootstrap = broker.bootstrap_servers
        else:
            bootstrap = settings.kafka.bootstrap_servers or ""
        names = TopicNames.from_prefix(settings.kafka.topic_prefix)
        await ensure_topics(bootstrap, names.all(), settings.kafka)

        progress = Progress()
        topology = Topology(
            settings,
            bootstrap,
            Stages(extractor, rules, metrics),
            metrics,
            options.sinks,
            progress,
            embedded=settings.kafka.embedded,
            group_id=options.group_id,
        )

        async def readiness() -> tuple[bool, list[str]]:
            reasons = (
                [] if topology is not None and topology.ready.is_set() else ["stream processor starting"]
            )
            return not reasons, reasons

        session = aiohttp.ClientSession()
        cleanup.append(session.close)
        poller = Poller(
            options.poll_sources,
            emit=topology.publish,
            session=session,
            metrics=metrics,
            fetch_policy=fetch_policy(settings.ingest),
        )
        installers = [
            lambda app: install_ingest_routes(
                app,
                publish=topology.publish_many,
                token=settings.ingest.push_token,
                metrics=metrics,
                max_bytes=settings.ingest.max_document_bytes,
            ),
            lambda app: _install_source_routes(app, poller),
            *options.route_installers,
        ]
        api = create_app(
            ApiDeps(metrics=metrics, readiness=readiness, route_installers=installers),
            client_max_size=settings.ingest.max_document_bytes + 1024,
        )
        runner = web.AppRunner(api, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.http.host, settings.http.port)
        await site.start()
        for address in runner.addresses:
            host, port = address[0], address[1]
            log.info(
                "HTTP on http://%s:%d (/healthz, /readyz, /metrics, /api/v1)",
                host,
                port,
                extra={"http_port": port},
            )

        await topology.app.start()
        await _wait_ready(topology, stop)
        if options.on_ready is not None:
            await options.on_ready(topology)

        watchdog = asyncio.create_task(_watch_broker(bootstrap, names.all(), stop, outcome, rules))
        leader = (
            asyncio.create_task(_poll_while_leader(topology, poller, stop)) if options.poll_sources else None
        )
        produced = 0
        if options.documents is not None:
            if isinstance(options.documents, AsyncIterable):
                async for document in options.documents:
                    await topology.publish(document)
                    produced += 1
            else:
                for document in options.documents:
                    await topology.publish(document)
                    produced += 1
            await topology.app.producer.flush()
            progress.inputs_finished()
        if options.once:
            finished = asyncio.create_task(progress.wait())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finished.cancel()
            stopped.cancel()
        else:
            await stop.wait()
        watchdog.cancel()
        if leader is not None:
            leader.cancel()
        await poller.stop()
        if outcome:
            return outcome[0]
        return RunResult(exit_code=EXIT_OK, documents=produced)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        if topology is not None:
            with contextlib.suppress(Exception):
                await topology.app.stop()
        if runner is not None:
            await runner.cleanup()
        for close in reversed(cleanup):
            with contextlib.suppress(Exception):
                await close()
        if broker is not None:
            await asyncio.to_thread(broker.stop)


def _install_source_routes(app: web.Application, poller: Poller) -> None:
    async def sources(_: web.Request) -> web.Response:
        return web.json_response({"sources": [health.as_dict() for health in poller.health()]})

    app.router.add_get("/api/v1/sources", sources)


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


async def _watch_broker(
    bootstrap: str, names: list[str], stop: asyncio.Event, outcome: list[RunResult], rules: RuleHolder
) -> None:
    """Stop the run with a clear reason when the broker lost our topics or stays unreachable.

    A memory-only embedded broker that restarted has lost every topic; a worker that carried on would
    wait forever for messages that will never come. Exiting non-zero lets a supervisor restart it.
    The same loop reloads changed rule files (hot reload).
    """
    unreachable_since: float | None = None
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        await asyncio.sleep(BROKER_CHECK_INTERVAL_S)
        await asyncio.to_thread(rules.reload)
        try:
            missing = await missing_topics(bootstrap, names)
        except BrokerError as err:
            now = loop.time()
            unreachable_since = unreachable_since or now
            if now - unreachable_since >= BROKER_LOST_AFTER_S:
                down_for = now - unreachable_since
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
