"""Benchmark the pipeline: sustained documents/s through ingest -> extract -> evaluate -> notify, one worker.

Run: ``python bench/pipeline.py [--json] [--docs N] [--latency-seconds S] [--profile NAMES] [--only NAMES]``.

Throughput. Each contender runs in its own process and drains the same backlog of ``--docs``
documents, produced to its own raw topic before it started, so that its clock runs from its first
consumed message to its last processed one (no start-up, no group join):

- ``service``: ``run_service`` as ``monitor run`` runs it: the real Topology (real extractor,
  default rules, tables, metrics, dead letters) plus what the notify stage now does in the service,
  the SQLite alert store and the delivery dispatcher; alerts also reach an in-process sink;
- ``topology``: the same :class:`~monitor.streaming.app.Topology` without the store and dispatcher
  (its only sink counts alerts): the stream processing alone;
- ``passthrough`` (baseline a): a Faust app with the same topics, hops and settings but no work:
  four agents, one ``await send`` per message: the framework's ceiling on this machine;
- ``plain`` (baseline b): the simplest thing a user might write: one aiokafka consumer on the raw
  topic calling the same extractor and rules, one aiokafka producer for the alerts;
- ``hops`` (baseline c): plain aiokafka consumer -> producer loops over the same four hops, no work:
  what the broker and client cost without a framework;
- ``core`` (reference): the same extractor and rules in a loop, no broker at all: the work's ceiling.

Latency. At a steady ``--rate`` (100 docs/s), from a document produced (by the service's own
publish) to its alert at the notify sink (an alert sink callable; the document is the alert's newest
evidence), p50/p95/p99, for ``service`` and for ``topology``; for ``service`` also to a local aiohttp
webhook receiver (a subscription delivered by the real dispatcher).

Documents: the demo corpus cycled with unique ids plus generated 60-word items, half each, published
an hour apart (see ``bench/_common.py``). On the embedded broker by default; with
``KAFKA_BOOTSTRAP_SERVERS`` set, on that cluster (topics under a unique prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Child,
    bench_settings,
    broker,
    cpu_seconds,
    document_mix,
    emit,
    latency_summary,
    machine,
    python_command,
    ratio,
    say,
    spawn,
    stop_process,
    unique_prefix,
    verdict,
)

from monitor.records import Alert, Document, TaggedEvent
from monitor.settings import Settings
from monitor.streaming.topics import TopicNames, ensure_topics

SCRIPT = Path(__file__).resolve()
CONTENDERS = ("core", "plain", "hops", "passthrough", "topology", "service")
LATENCY_TARGETS = ("topology", "service")
TARGET_DOCS_PER_S = 1_500
TARGET_RATIO = 0.8
TARGET_P99_MS = 250.0


# ====================================================================================================
# children: each contender in its own process
# ====================================================================================================


class _Clock:
    """Wall and CPU time of this process between :meth:`start` and :meth:`stop`."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self._wall0 = self._cpu0 = 0.0

    def start(self) -> None:
        self._wall0, self._cpu0 = time.perf_counter(), cpu_seconds()
        say(event="first")

    def stop(self) -> None:
        self.wall = time.perf_counter() - self._wall0
        self.cpu = cpu_seconds() - self._cpu0
        say(event="drained")

    def figures(self, docs: int) -> dict[str, Any]:
        return {
            "docs": docs,
            "seconds": round(self.wall, 3),
            "docs_per_s": round(docs / self.wall, 1),
            "process_cpu_percent": round(100.0 * self.cpu / self.wall, 1),
        }


class _Gate:
    """An async iterator of no documents that ends when ``done`` is set.

    ``run_service(once=True)`` publishes its documents, then waits until everything in flight is
    handled; the backlog was produced beforehand, so this keeps the service running until the
    benchmark has seen the last message processed, and then lets it stop normally.
    """

    def __init__(self, done: asyncio.Event) -> None:
        self.done = done

    def __aiter__(self) -> _Gate:
        return self

    async def __anext__(self) -> Document:
        await self.done.wait()
        raise StopAsyncIteration


def _settings(args: argparse.Namespace) -> Settings:
    settings = bench_settings(
        args.bootstrap,
        args.prefix,
        embedded=args.embedded,
        store_dir=Path(args.store_dir),
        partitions=args.partitions,
    )
    # The webhook receiver of the latency run is on loopback, which the SSRF guard refuses by default.
    delivery = settings.delivery.model_copy(update={"allow_private_networks": [IPv4Network("127.0.0.0/8")]})
    update: dict[str, Any] = {"delivery": delivery}
    if args.store_url:
        update["store"] = settings.store.model_copy(update={"url": args.store_url})
    return settings.model_copy(update=update)


async def _drain(metrics: Any, progress: Any, docs: int) -> _Clock:
    """Time from the first raw message ingested to the last message of the pipeline handled.

    The backlog's raw messages were never counted in by this process's :class:`Progress`, so its
    balance of messages in flight reaches ``-docs`` exactly when everything has been handled.
    """
    clock = _Clock()
    while not metrics.registry.get_sample_value(
        "monitor_stream_messages_total", {"stage": "ingest", "outcome": "ok"}
    ):
        await asyncio.sleep(0.01)
    clock.start()
    while progress.in_flight > -docs:
        await asyncio.sleep(0.002)
    clock.stop()
    return clock


def _stage_counts(metrics: Any) -> dict[str, int]:
    def sample(name: str, **labels: str) -> int:
        return int(metrics.registry.get_sample_value(name, labels) or 0)

    return {
        "events": sample("monitor_stream_messages_total", stage="evaluate", outcome="ok"),
        "dead_letters": sum(
            sample("monitor_stream_dead_letters_total", stage=stage)
            for stage in ("ingest", "extract", "evaluate", "notify")
        ),
    }


@contextlib.asynccontextmanager
async def _topology(
    settings: Settings, bootstrap: str, sinks: list[Any], timeout_s: float
) -> AsyncIterator[Any]:
    """The service's Topology, started (joined), without alert store, dispatcher or HTTP."""
    from monitor.extract import Extractor
    from monitor.observability.metrics import Metrics
    from monitor.streaming.app import Topology
    from monitor.streaming.progress import Progress
    from monitor.streaming.ruleholder import RuleHolder
    from monitor.streaming.stages import Stages

    metrics = Metrics()
    extractor = Extractor(max_chars=settings.extract.max_chars, spacy_model=settings.extract.spacy_model)
    rules = RuleHolder(settings.rules.paths, metrics)
    await ensure_topics(bootstrap, TopicNames.from_prefix(settings.kafka.topic_prefix).all(), settings.kafka)
    topology = Topology(
        settings, bootstrap, Stages(extractor, rules, metrics), metrics, sinks, Progress(), embedded=False
    )
    await topology.app.start()
    try:
        await asyncio.wait_for(topology.ready.wait(), timeout_s)
        yield topology
    finally:
        await asyncio.wait_for(topology.app.stop(), 30)


async def _drain_service(args: argparse.Namespace) -> dict[str, Any]:
    from monitor.observability.metrics import Metrics
    from monitor.streaming.app import Topology
    from monitor.streaming.service import RunOptions, run_service

    metrics = Metrics()
    done = asyncio.Event()
    clocks: list[_Clock] = []
    alerts = collections.Counter[str]()
    tasks: list[asyncio.Task[None]] = []

    async def sink(alert: Alert) -> None:
        alerts["messages"] += 1

    async def measure(topology: Topology) -> None:
        clocks.append(await _drain(metrics, topology.progress, args.docs))
        done.set()

    async def on_ready(topology: Topology) -> None:
        say(event="ready")
        tasks.append(asyncio.create_task(measure(topology)))

    options = RunOptions(documents=_Gate(done), once=True, sinks=[sink], on_ready=on_ready)
    result = await run_service(_settings(args), options, metrics)
    return {
        **clocks[0].figures(args.docs),
        "alert_messages": alerts["messages"],
        **_stage_counts(metrics),
        "exit_code": result.exit_code,
    }


async def _drain_topology(args: argparse.Namespace) -> dict[str, Any]:
    alerts = collections.Counter[str]()

    async def sink(alert: Alert) -> None:
        alerts["messages"] += 1

    async with _topology(_settings(args), args.bootstrap, [sink], args.timeout) as topology:
        say(event="ready")
        clock = await _drain(topology.metrics, topology.progress, args.docs)
    return {
        **clock.figures(args.docs),
        "alert_messages": alerts["messages"],
        **_stage_counts(topology.metrics),
    }


def _faust_options(settings: Settings) -> dict[str, Any]:
    """The App options of :class:`Topology`, for a pass-through app that differs only in its agents."""
    kafka = settings.kafka
    return {
        "store": "memory://",
        "web_enabled": False,
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "producer_linger_ms": 1,
        "broker_commit_interval": 1.0,
        "table_cleanup_interval": 3600.0,
        "broker_rebalance_timeout": kafka.rebalance_timeout_s,
        "broker_session_timeout": kafka.session_timeout_s,
        "broker_heartbeat_interval": kafka.heartbeat_interval_s,
    }


def _with_fetch_wait(app: Any, fetch_max_wait_ms: int) -> None:
    """Stock Faust but for the fetch wait, which it hard-codes (1,500 ms): the service's value, so
    that the baseline's hops wait for data no longer than the service's do."""
    from faust.transport.drivers import aiokafka as faust_kafka

    class Thread(faust_kafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class Consumer(faust_kafka.Consumer):
        def _new_consumer_thread(self) -> Any:
            return Thread(self, loop=self.loop, beacon=self.beacon)

    class Transport(faust_kafka.Transport):
        pass

    Transport.Consumer = Consumer
    app.transport = Transport(app.conf.broker_consumer, app)


async def _drain_passthrough(args: argparse.Namespace) -> dict[str, Any]:
    import faust

    from monitor.streaming.app import kafka_urls

    settings = _settings(args)
    names = TopicNames.from_prefix(settings.kafka.topic_prefix)
    app = faust.App(
        settings.kafka.consumer_group, broker=kafka_urls(args.bootstrap), **_faust_options(settings)
    )
    _with_fetch_wait(app, settings.kafka.fetch_max_wait_ms)

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_serializer="raw", value_serializer="raw", partitions=args.partitions)

    raw, documents, events, alerts = (
        topic(n) for n in (names.raw, names.documents, names.events, names.alerts)
    )
    clock = _Clock()
    done = asyncio.Event()
    count = collections.Counter[str]()

    @app.agent(raw, name="ingest")
    async def ingest(stream: faust.StreamT) -> None:
        async for event in stream.events():
            if not count["ingest"]:
                clock.start()
            count["ingest"] += 1
            await documents.send(key=event.key, value=event.value)

    @app.agent(documents, name="extract")
    async def extract(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await events.send(key=event.key, value=event.value)

    @app.agent(events, name="evaluate")
    async def evaluate(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await alerts.send(key=event.key, value=event.value)

    @app.agent(alerts, name="notify")
    async def notify(stream: faust.StreamT) -> None:
        async for _ in stream.events():
            count["notify"] += 1
            if count["notify"] == args.docs:
                clock.stop()
                done.set()

    await app.start()
    try:
        say(event="ready")
        await done.wait()
    finally:
        await asyncio.wait_for(app.stop(), 30)
    return clock.figures(args.docs)


class _Core:
    """The work of the pipeline without a framework: decode, dedupe, extract, route, evaluate."""

    def __init__(self, settings: Settings) -> None:
        from monitor.extract import Extractor
        from monitor.rules import RuleSet, RuleState

        self.extractor = Extractor(max_chars=settings.extract.max_chars)
        self.ruleset = RuleSet.load(settings.rules.paths)
        self.states: dict[str, RuleState] = {}
        self.seen: set[str] = set()
        self.events = 0

    def handle(self, payload: bytes) -> list[Alert]:
        from monitor.rules import RuleState, evaluate

        document = Document.loads(payload, serializer="json")
        if document.id in self.seen:
            return []
        self.seen.add(document.id)
        extraction = self.extractor.extract(document.text, document.title)
        event = TaggedEvent.from_document(
            document, extraction, text=document.text[: self.extractor.max_chars]
        )
        raised: list[Alert] = []
        for key in self.ruleset.routing_keys(event):
            self.events += 1
            state = self.states.get(key) or RuleState()
            state, alerts = evaluate(self.ruleset, state, event, key, event.published or event.fetched)
            self.states[key] = state
            raised.extend(alerts)
        return raised


def _aiokafka_group(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Consumer options of the plain aiokafka contenders: the service's fetch wait and, on the
    embedded broker (which completes a join only after the rebalance timeout), its group timeouts."""
    options: dict[str, Any] = {"fetch_max_wait_ms": settings.kafka.fetch_max_wait_ms}
    if args.embedded:
        options.update(rebalance_timeout_ms=2000, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    return options


async def _drain_plain(args: argparse.Namespace) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    settings = _settings(args)
    names = TopicNames.from_prefix(settings.kafka.topic_prefix)
    core = _Core(settings)
    group = _aiokafka_group(args, settings)
    consumer = AIOKafkaConsumer(
        names.raw,
        bootstrap_servers=args.bootstrap,
        group_id=settings.kafka.consumer_group,
        auto_offset_reset="earliest",
        **group,
    )
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=1)
    await producer.start()
    await consumer.start()
    say(event="ready")
    clock = _Clock()
    handled = alerts = 0
    try:
        async for message in consumer:
            if handled == 0:
                clock.start()
            try:
                raised = core.handle(message.value or b"")
            except Exception as err:  # a bad message is skipped, as a user would
                logging.warning("skipping message %s: %s", message.key, err)
                raised = []
            for alert in raised:
                await producer.send(names.alerts, alert.dumps(), key=alert.fingerprint.encode())
                alerts += 1
            handled += 1
            if handled >= args.docs:
                break
        await producer.flush()
        clock.stop()
    finally:
        await consumer.stop()
        await producer.stop()
    return {**clock.figures(args.docs), "alert_messages": alerts, "events": core.events}


async def _drain_hops(args: argparse.Namespace) -> dict[str, Any]:
    """Baseline c: plain aiokafka moving each message through the same four hops, no work at all."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    settings = _settings(args)
    names = TopicNames.from_prefix(settings.kafka.topic_prefix)
    group = _aiokafka_group(args, settings)
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=1)
    await producer.start()
    clock = _Clock()
    done = asyncio.Event()
    counts = collections.Counter[str]()
    hops = [(names.raw, names.documents), (names.documents, names.events), (names.events, names.alerts),
            (names.alerts, None)]  # fmt: skip
    consumers = [
        AIOKafkaConsumer(
            source,
            bootstrap_servers=args.bootstrap,
            group_id=settings.kafka.consumer_group,
            auto_offset_reset="earliest",
            **group,
        )
        for source, _ in hops
    ]

    async def hop(consumer: Any, target: str | None) -> None:
        while not done.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    if not counts["first"]:
                        counts["first"] = 1
                        clock.start()
                    if target is not None:
                        await producer.send(target, record.value, key=record.key)
                    else:
                        counts["done"] += 1
                        if counts["done"] == args.docs:
                            clock.stop()
                            done.set()

    await asyncio.gather(*(c.start() for c in consumers))
    try:
        say(event="ready")
        tasks = [asyncio.create_task(hop(c, target)) for c, (_, target) in zip(consumers, hops, strict=True)]
        await done.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await asyncio.gather(*(c.stop() for c in consumers))
        await producer.stop()
    return clock.figures(args.docs)


async def _drain_core(args: argparse.Namespace) -> dict[str, Any]:
    core = _Core(_settings(args))
    payloads = [d.dumps() for d in document_mix(args.docs, spacing_s=args.spacing)]
    for payload in payloads[:100]:  # warm-up, on other ids than the measured run
        core.handle(payload.replace(b'"bench-', b'"warm-'))
    core.states.clear()
    say(event="ready")
    clock = _Clock()
    alerts = 0
    clock.start()
    for payload in payloads:
        for alert in core.handle(payload):
            alert.dumps()
            alerts += 1
    clock.stop()
    return {**clock.figures(args.docs), "alert_messages": alerts, "events": core.events}


# -- latency -----------------------------------------------------------------------------------------


class _Paced:
    """Documents at a steady rate (each on its schedule, not slept between): warm-up, then measured."""

    def __init__(self, warmup: list[Document], measured: list[Document], rate: float) -> None:
        self.queue = [(d, False) for d in warmup] + [(d, True) for d in measured]
        self.rate = rate
        self.produced: dict[str, float] = {}
        self.index = 0
        self.start = 0.0
        self.last_sent = 0.0
        self.late = 0

    def __aiter__(self) -> _Paced:
        return self

    async def __anext__(self) -> Document:
        if self.index >= len(self.queue):
            raise StopAsyncIteration
        now = time.perf_counter()
        if self.index == 0:
            self.start = now
        due = self.start + self.index / self.rate
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 0.05:
            self.late += 1
        document, measured = self.queue[self.index]
        self.index += 1
        self.last_sent = time.perf_counter()
        if measured:
            self.produced[document.id] = self.last_sent
        return document


class _Arrivals:
    """Matches alerts (at a sink or a webhook) to the document that caused them: their newest evidence."""

    def __init__(self, produced: dict[str, float]) -> None:
        self.produced = produced
        self.seen: set[str] = set()
        self.latencies: list[float] = []
        self.messages = 0

    def arrived(self, document_ids: list[str]) -> None:
        now = time.perf_counter()
        self.messages += 1
        trigger = document_ids[-1] if document_ids else None
        if trigger is None or trigger in self.seen or trigger not in self.produced:
            return
        self.seen.add(trigger)
        self.latencies.append(now - self.produced[trigger])


@contextlib.asynccontextmanager
async def _webhook_receiver(arrivals: _Arrivals) -> AsyncIterator[str]:
    """A local aiohttp webhook receiver; yields its URL."""
    import json

    from aiohttp import web

    async def receive(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        arrivals.arrived(list(body.get("data", {}).get("alert", {}).get("document_ids", [])))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/hook"
    finally:
        await runner.cleanup()


async def _subscribe(settings: Settings, url: str) -> None:
    """A webhook subscription to every alert, in the service's store, before the service starts."""
    from monitor.delivery.subscription import SubscriptionSpec, WebhookChannel
    from monitor.store import SqlAlertStore

    store = SqlAlertStore(settings.store.url)
    await store.start()
    try:
        spec = SubscriptionSpec(name="bench", channel=WebhookChannel(url=url))
        await store.create_subscription(spec, now=datetime.now(UTC))
    finally:
        await store.close()


async def _latency_service(args: argparse.Namespace, paced: _Paced) -> dict[str, Any]:
    from monitor.streaming.service import RunOptions, run_service

    settings = _settings(args)
    to_sink = _Arrivals(paced.produced)
    to_webhook = _Arrivals(paced.produced)

    async def sink(alert: Alert) -> None:
        to_sink.arrived(list(alert.document_ids))

    async def on_ready(_: Any) -> None:
        say(event="ready")

    webhook_error = None
    async with _webhook_receiver(to_webhook) as url:
        try:
            await _subscribe(settings, url)
        except Exception as err:  # the delivery stage is young: measure what works
            webhook_error = f"{type(err).__name__}: {err}"
        await run_service(settings, RunOptions(documents=paced, once=True, sinks=[sink], on_ready=on_ready))
        deadline = time.perf_counter() + 10  # deliveries are asynchronous: let the last ones land
        while to_webhook.messages < to_sink.messages and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
    return {
        "to_sink": {**latency_summary(to_sink.latencies), "alert_messages": to_sink.messages},
        "to_webhook": {**latency_summary(to_webhook.latencies), "alert_messages": to_webhook.messages}
        if webhook_error is None
        else {"error": webhook_error},
    }


async def _latency_topology(args: argparse.Namespace, paced: _Paced) -> dict[str, Any]:
    to_sink = _Arrivals(paced.produced)

    async def sink(alert: Alert) -> None:
        to_sink.arrived(list(alert.document_ids))

    async with _topology(_settings(args), args.bootstrap, [sink], args.timeout) as topology:
        say(event="ready")
        async for document in paced:
            await topology.publish(document)
        await topology.app.producer.flush()
        topology.progress.inputs_finished()
        await asyncio.wait_for(topology.progress.wait(), args.timeout)
    return {"to_sink": {**latency_summary(to_sink.latencies), "alert_messages": to_sink.messages}}


async def _latency(args: argparse.Namespace) -> dict[str, Any]:
    rate = args.rate
    warmup = document_mix(int(rate * args.latency_warmup), tag="w", spacing_s=args.spacing, seed=11)
    measured = document_mix(int(rate * args.latency_seconds), tag="m", spacing_s=args.spacing, seed=13)
    paced = _Paced(warmup, measured, rate)
    run = _latency_service if args.child == "latency-service" else _latency_topology
    figures = await run(args, paced)
    # The rate documents were offered at, from the first send to the last (not the drain after it).
    elapsed = paced.last_sent - paced.start
    return {
        "rate_docs_per_s": rate,
        "documents": len(paced.queue),
        "measured_documents": len(measured),
        "warmup_seconds": args.latency_warmup,
        "achieved_rate": round((len(paced.queue) - 1) / max(elapsed, 1e-9), 1),
        "late_sends": paced.late,
        **figures,
    }


_CHILDREN = {
    "core": _drain_core,
    "plain": _drain_plain,
    "hops": _drain_hops,
    "passthrough": _drain_passthrough,
    "topology": _drain_topology,
    "service": _drain_service,
    "latency-topology": _latency,
    "latency-service": _latency,
}


def _child_main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as store_dir:
        args.store_dir = store_dir
        say(result=asyncio.run(_child_run(args)))
    return 0


async def _child_run(args: argparse.Namespace) -> dict[str, Any]:
    """One contender, on a fresh SQLite file or a fresh PostgreSQL database (``--store``)."""
    args.store_url = None
    if args.store != "postgresql":
        return await _CHILDREN[args.child](args)
    from monitor.store.testing import temporary_database

    async with temporary_database() as url:
        args.store_url = url
        return await _CHILDREN[args.child](args)


# ====================================================================================================
# parent: broker, backlogs, children, profiles, report
# ====================================================================================================


async def _preload(bootstrap: str, settings: Settings, documents: list[Document]) -> None:
    """Create the contender's topics and produce the backlog to its raw topic."""
    from aiokafka import AIOKafkaProducer

    names = TopicNames.from_prefix(settings.kafka.topic_prefix)
    await ensure_topics(bootstrap, names.all(), settings.kafka)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        for document in documents:
            await producer.send(names.raw, document.dumps(), key=document.id.encode())
        await producer.flush()
    finally:
        await producer.stop()


def _child_command(
    args: argparse.Namespace, child: str, prefix: str, bootstrap: str, embedded: bool
) -> list[str]:
    options = [
        "--child",
        child,
        "--prefix",
        prefix,
        "--bootstrap",
        bootstrap,
        "--docs",
        str(args.docs),
        "--partitions",
        str(args.partitions),
        "--spacing",
        str(args.spacing),
        "--rate",
        str(args.rate),
        "--latency-seconds",
        str(args.latency_seconds),
        "--latency-warmup",
        str(args.latency_warmup),
        "--timeout",
        str(args.timeout),
        "--store",
        args.store,
    ]
    if embedded:
        options.append("--embedded")
    return python_command(SCRIPT, *options)


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of another process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Profiler:
    """py-spy sampling a child (only threads holding the GIL) while it drains its backlog."""

    def __init__(self, pid: int, rate: int = 200) -> None:
        self.output = Path(tempfile.mkstemp(prefix="pipeline-profile-", suffix=".txt")[1])
        self.process: subprocess.Popen[bytes] | None = None
        py_spy = Path(sys.executable).with_name("py-spy")
        if not py_spy.exists():
            log("py-spy is not installed (pip install py-spy): no profile")
            return
        command = [
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(self.output),
            "--nonblocking",
            "--gil",
        ]
        self.process = spawn(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> dict[str, Any] | None:
        if self.process is None:
            self.output.unlink(missing_ok=True)
            return None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop_process(self.process)
        try:
            return profile_summary(self.output.read_text(encoding="utf-8", errors="replace"))
        finally:
            self.output.unlink(missing_ok=True)


#: Categories of a sample that win wherever their code is on the stack (it called the rest).
_OWNERS: list[tuple[str, tuple[str, ...]]] = [
    ("supply-risk gauge (RiskTracker sink)", ("monitor/observability/risk.py",)),
    (
        "alert store + dispatcher (SQLAlchemy, aiosqlite)",
        ("monitor/store/", "monitor/delivery/", "sqlalchemy/", "aiosqlite/"),
    ),
    ("rule state copy (RuleState to_dict/from_dict)", ("monitor/rules/state.py",)),
]
#: Otherwise the first match from the innermost frame outwards: (name, path fragments).
_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    (
        "json + record (de)serialisation",
        ("/json/", "faust/models/", "faust/serializers/", "faust/utils/json", "_iso8601", "/codecs.py"),
    ),
    ("extractor (spaCy + components)", ("monitor/extract/", "spacy/", "thinc/", "/re/__init__", "sre_")),
    ("rules evaluate", ("monitor/rules/",)),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("aiokafka (client, protocol)", ("aiokafka/", "kafka/")),
    ("faust sensors (Monitor)", ("faust/sensors/",)),
    ("faust tables", ("faust/tables/", "faust/stores/")),
    ("faust streams/agents/topics", ("faust/",)),
    ("mode (services, timers)", ("mode/",)),
    ("asyncio event loop", ("asyncio/", "selectors.py")),
    ("monitor streaming glue", ("monitor/streaming/",)),
]


def _category(frames: list[str]) -> str:
    for name, parts in _OWNERS:
        if any(p in frame for frame in frames for p in parts):
            return name
    for frame in reversed(frames):
        for name, parts in _CATEGORIES:
            if any(p in frame for p in parts):
                return name
    return "other"


def profile_summary(raw: str, top: int = 25) -> dict[str, Any]:
    """Shares of samples by category and the top functions by own samples, from py-spy's raw output."""
    categories: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        categories[_category(frames)] += count
    if not total:
        return {"samples": 0, "percent_by_category": {}, "top_functions_self": []}
    return {
        "samples": total,
        "percent_by_category": {name: round(100.0 * n / total, 1) for name, n in categories.most_common()},
        "top_functions_self": [
            {"function": frame, "percent": round(100.0 * n / total, 1)} for frame, n in own.most_common(top)
        ],
    }


def _run_drain(
    args: argparse.Namespace,
    contender: str,
    bootstrap: str,
    broker_pid: int | None,
    documents: list[Document],
    embedded: bool,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    prefix = unique_prefix(contender)
    if contender != "core":
        with tempfile.TemporaryDirectory() as unused:
            settings = bench_settings(
                bootstrap, prefix, embedded=embedded, store_dir=Path(unused), partitions=args.partitions
            )
        asyncio.run(_preload(bootstrap, settings, documents))
    log(f"{contender}: draining {args.docs:,} documents ...")
    profile = None
    with Child(_child_command(args, contender, prefix, bootstrap, embedded), name=contender) as child:
        child.wait_for("ready", args.timeout)
        profiler = _Profiler(child.pid) if contender in args.profile else None
        try:
            child.wait_for("first", args.timeout)
            broker_cpu0 = _process_cpu_s(broker_pid) if broker_pid else None
            child.wait_for("drained", args.timeout)
            broker_cpu1 = _process_cpu_s(broker_pid) if broker_pid else None
        finally:
            if profiler is not None:
                profile = profiler.stop()
        result = dict(child.wait_result(args.timeout))
    if broker_cpu0 is not None and broker_cpu1 is not None and contender != "core":
        result["broker_cpu_percent"] = round(100.0 * (broker_cpu1 - broker_cpu0) / result["seconds"], 1)
    log(f"{contender}: {result['docs_per_s']:,.0f} docs/s")
    return result, profile


def run_parent(args: argparse.Namespace) -> dict[str, Any]:
    """Start (or use) the broker, run each contender and latency run in its own process, gather figures."""
    contenders = [c for c in CONTENDERS if c in args.only]
    documents = document_mix(args.docs, spacing_s=args.spacing) if set(contenders) - {"core"} else []
    results: dict[str, Any] = {}
    profiles: dict[str, Any] = {}
    latency: dict[str, Any] = {}
    with broker() as handle:
        embedded = handle.embedded is not None
        broker_pid = handle.embedded.pid if handle.embedded is not None else None
        for contender in contenders:
            results[contender], profile = _run_drain(
                args, contender, handle.bootstrap_servers, broker_pid, documents, embedded
            )
            if profile is not None:
                profiles[contender] = profile
        for target in LATENCY_TARGETS:
            if args.latency_seconds <= 0 or f"latency-{target}" not in args.only:
                continue
            command = _child_command(
                args, f"latency-{target}", unique_prefix(f"lat-{target}"), handle.bootstrap_servers, embedded
            )
            log(
                f"latency ({target}): {args.rate:g} docs/s for {args.latency_seconds:g} s "
                f"after {args.latency_warmup:g} s of warm-up ..."
            )
            with Child(command, name=f"latency-{target}") as child:
                child.wait_for("ready", args.timeout)
                profiler = _Profiler(child.pid) if f"latency-{target}" in args.profile else None
                try:
                    latency[target] = child.wait_result(
                        args.timeout + args.latency_seconds + args.latency_warmup
                    )
                finally:
                    if profiler is not None:
                        profiles[f"latency-{target}"] = profiler.stop()
            log(f"latency ({target}): p99 to sink {latency[target]['to_sink']['p99_ms']} ms")
        broker_kind = handle.kind
    rate = {name: r["docs_per_s"] for name, r in results.items()}

    def over(a: str, b: str) -> float | None:
        return ratio(rate[a], rate[b]) if a in rate and b in rate else None

    p99 = latency.get("service", {}).get("to_sink", {}).get("p99_ms")
    # One process does the framework's work and the service's one after the other: the best a
    # service can do is both costs added, no glue (1 / (1/pass-through + 1/core)).
    bound = (
        round(1 / (1 / rate["passthrough"] + 1 / rate["core"]), 1)
        if rate.get("passthrough") and rate.get("core")
        else None
    )
    return {
        "benchmark": "pipeline",
        "broker": broker_kind,
        "alert_store": args.store,
        "machine": machine(),
        "documents": args.docs,
        "partitions": args.partitions,
        "document_mix": "demo corpus cycled with unique ids + generated 60-word items (1:1), "
        f"published {args.spacing:g} s apart",
        "throughput_docs_per_s": rate,
        "details": results,
        "ratios": {
            "service_over_passthrough": over("service", "passthrough"),
            "topology_over_passthrough": over("topology", "passthrough"),
            "service_over_plain": over("service", "plain"),
            "topology_over_plain": over("topology", "plain"),
            "plain_over_core": over("plain", "core"),
            "passthrough_over_hops": over("passthrough", "hops"),
            "topology_over_core": over("topology", "core"),
            "additive_bound_over_passthrough": ratio(bound, rate["passthrough"]) if bound else None,
        },
        "additive_bound_docs_per_s": bound,
        "latency": latency,
        "targets": {
            "docs_per_s": TARGET_DOCS_PER_S,
            "service_over_passthrough": TARGET_RATIO,
            "p99_ms": TARGET_P99_MS,
        },
        "verdicts": {
            "docs_per_s": verdict(rate.get("service"), TARGET_DOCS_PER_S),
            "service_over_passthrough": verdict(over("service", "passthrough"), TARGET_RATIO),
            "p99_ms": verdict(p99, TARGET_P99_MS, higher_is_better=False),
        },
        "profiles": profiles,
    }


def log(message: str) -> None:
    """Progress on stderr (stdout carries the result)."""
    print(f"[pipeline] {message}", file=sys.stderr, flush=True)


_LABELS = {
    "service": "service: run_service (Topology + SQLite store + dispatcher)",
    "topology": "service's Topology alone (no store/dispatcher)",
    "passthrough": "baseline a: Faust pass-through, 4 agents, no work",
    "plain": "baseline b: plain aiokafka loop + same extractor/rules",
    "hops": "baseline c: plain aiokafka, same 4 hops, no work",
    "core": "reference: extractor + rules, no broker",
}


def table(result: dict[str, Any]) -> str:
    """The human-readable table."""
    rows = [
        f"pipeline on the {result['broker']} broker: {result['documents']:,} documents drained, "
        f"{result['partitions']} partitions, {result['machine']['cpus']} CPUs",
        f"{'contender':<62}{'docs/s':>8}{'alerts':>8}{'cpu %':>7}{'broker %':>10}",
    ]
    for name in CONTENDERS:
        if name in result["details"]:
            r = result["details"][name]
            rows.append(
                f"{_LABELS[name]:<62}{r['docs_per_s']:>8,.0f}{r.get('alert_messages', '-')!s:>8}"
                f"{r.get('process_cpu_percent', '-')!s:>7}{r.get('broker_cpu_percent', '-')!s:>10}"
            )
    ratios, verdicts = result["ratios"], result["verdicts"]
    rows.append(
        f"service/pass-through {ratios['service_over_passthrough']} (target >= {TARGET_RATIO}: "
        f"{verdicts['service_over_passthrough']}); "
        f"topology/pass-through {ratios['topology_over_passthrough']}; "
        f"service/plain {ratios['service_over_plain']}; topology/plain {ratios['topology_over_plain']}"
    )
    rows.append(f"service docs/s (target >= {TARGET_DOCS_PER_S:,}): {verdicts['docs_per_s']}")
    if result.get("additive_bound_docs_per_s"):
        rows.append(
            f"additive bound (pass-through and reference costs added, no glue): "
            f"{result['additive_bound_docs_per_s']:,.0f} docs/s, "
            f"{ratios['additive_bound_over_passthrough']} x pass-through"
        )
    for target, figures in result.get("latency", {}).items():
        for where in ("to_sink", "to_webhook"):
            s = figures.get(where)
            if not s:
                continue
            if "error" in s:
                rows.append(f"latency ({target}) {where}: not measured: {s['error']}")
                continue
            rows.append(
                f"latency ({target}, {figures['rate_docs_per_s']:g} docs/s offered, "
                f"{figures['achieved_rate']:g} achieved) produced -> {where[3:]}: "
                f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms, "
                f"max {s['max_ms']} ms ({s['samples']} alerts)"
            )
    rows.append(f"latency p99 target < {TARGET_P99_MS:g} ms (service, to sink): {verdicts['p99_ms']}")
    for name, profile in (result.get("profiles") or {}).items():
        rows.append(f"where {name}'s time holding the GIL goes (py-spy, {profile['samples']} samples):")
        for category, percent in profile["percent_by_category"].items():
            rows.append(f"  {category:<52}{percent:>6.1f} %")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--json", action="store_true", help="print only the JSON result")
    add("--docs", type=int, default=3000, help="backlog drained by each contender (default 3000)")
    add("--partitions", type=int, default=4, help="partitions of every topic (default 4)")
    add("--spacing", type=float, default=3600.0, help="seconds between publication times (default 3600)")
    add("--rate", type=float, default=100.0, help="documents/s of the latency runs (default 100)")
    add("--latency-seconds", type=float, default=20.0, help="measured part of each latency run (default 20)")
    add("--latency-warmup", type=float, default=3.0, help="unmeasured start of each latency run (default 3)")
    add(
        "--only",
        default=",".join((*CONTENDERS, *(f"latency-{t}" for t in LATENCY_TARGETS))),
        help="comma-separated subset of: core, plain, hops, passthrough, topology, service, "
        "latency-topology, latency-service (default: all)",
    )
    add(
        "--profile",
        default="",
        help="contenders to sample with py-spy while they drain, e.g. service,topology",
    )
    add("--timeout", type=float, default=300.0, help="seconds allowed to each phase of a child (default 300)")
    add(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the service's alert store: a fresh SQLite file (the embedded default) or a fresh database "
        "on the PostgreSQL of MONITOR_TEST_POSTGRES_URL (default 127.0.0.1:5432, trust auth)",
    )
    # internal: run one contender in this process
    add("--child", choices=tuple(_CHILDREN), help=argparse.SUPPRESS)
    add("--prefix", help=argparse.SUPPRESS)
    add("--bootstrap", help=argparse.SUPPRESS)
    add("--embedded", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child_main(args)
    args.only = {name.strip() for name in args.only.split(",") if name.strip()}
    args.profile = {name.strip() for name in args.profile.split(",") if name.strip()}
    result = run_parent(args)
    emit(result, table(result), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
