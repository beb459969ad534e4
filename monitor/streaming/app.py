"""The Faust topology: ingest -> extract -> evaluate -> notify, joined by topics.

::

    raw documents ──ingest──▶ documents ──extract──▶ events ──evaluate──▶ alerts ──notify──▶ sinks
    (key: doc id)   (dedupe)  (key: doc id)          (key: rule routing key)  (key: fingerprint)
                      │                                │ rule-state table
                      └ seen-documents table           └ (per routing key)

Agents are thin: decode, call :class:`~monitor.streaming.stages.Stages`, send. Messages are JSON
``faust.Record`` bodies decoded by the agents themselves, so that a malformed message becomes a
dead letter instead of crashing the stream. Keys are the document id up to extraction and the rule
routing key after it, so N workers in one group keep per-key order and co-partitioned table state.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as faust_kafka

from monitor.errors import DecodeError, StoreError
from monitor.observability.metrics import Metrics
from monitor.records import Alert, DeadLetter, Document, TaggedEvent
from monitor.settings import Settings
from monitor.streaming.progress import NoProgress, Progress
from monitor.streaming.stages import Stages, decode_alert, decode_document, decode_event, utc_now
from monitor.streaming.topics import TopicNames

log = logging.getLogger(__name__)

AlertSink = Callable[[Alert], Awaitable[None]]

#: How long the notify stage waits between attempts while the store is down (exponential, capped).
_STORE_RETRY_INITIAL_S = 0.5
_STORE_RETRY_MAX_S = 30.0


def kafka_urls(bootstrap_servers: str) -> list[str]:
    """``host1:9092,host2:9092`` -> Faust broker URLs."""
    return [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server.strip()]


def _manual_acks(stream: faust.StreamT) -> faust.Stream:
    """The stream with automatic acks off (the agent acks each event once it is handled)."""
    return cast(faust.Stream, cast(faust.Stream, stream).noack())


def _first_offset(entry: Any) -> int | None:
    return int(entry[1]) if isinstance(entry, list) and len(entry) == 2 else None


def _first_time(entry: Any) -> float:
    if isinstance(entry, list) and entry:
        return float(entry[0])
    return float(entry) if isinstance(entry, int | float) else 0.0


def _key(raw: Any) -> str | None:
    if raw is None:
        return None
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)


#: How long a fetch waits for data. Faust hard-codes 1,500 ms. Kafka answers a waiting fetch as soon
#: as data arrives, but Tansu (the embedded broker) waits the full time, so each hop of this very
#: process waited up to 1.5 s for the previous one. 100 ms costs a few idle fetches a second.
FETCH_MAX_WAIT_MS = 100


# The subclasses log under Faust's logger, not ours: its chatty INFO lines stay filtered with Faust's.
_FAUST_LOGGER = logging.getLogger(f"{faust_kafka.__name__}.monitor")


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    logger = _FAUST_LOGGER

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by AIOKafkaConsumer.start()
        return consumer


class _Consumer(faust_kafka.Consumer):
    logger = _FAUST_LOGGER

    async def _handle_attached(self, commit_offsets: Any) -> None:
        await super()._handle_attached(commit_offsets)
        # At least once: what the processed messages produced must be on the broker before their
        # source offsets are committed. Agents send at once (Faust does not attach their sends to the
        # source offset), so a commit could otherwise cover an output still in the producer's buffer,
        # lost if the worker then stops or dies.
        if commit_offsets:
            await self.app.producer.flush()

    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_kafka.Transport):
    logger = _FAUST_LOGGER

    Consumer = _Consumer


class Topology:
    """The Faust app with its topics, tables and agents, built from settings and collaborators."""

    def __init__(
        self,
        settings: Settings,
        bootstrap_servers: str,
        stages: Stages,
        metrics: Metrics,
        sinks: Sequence[AlertSink] = (),
        progress: Progress | None = None,
        *,
        embedded: bool,
        group_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.stages = stages
        self.metrics = metrics
        self.sinks = list(sinks)
        #: Events being processed by the agents right now (see :meth:`drain`).
        self.busy = 0
        #: Called with every tagged event, alerted or not (e.g. the event recorder); must not block.
        self.event_listeners: list[Callable[[TaggedEvent], None]] = []
        self.progress = progress or NoProgress()
        self.names = TopicNames.from_prefix(settings.kafka.topic_prefix)
        self.ready = asyncio.Event()
        kafka = settings.kafka
        options: dict[str, Any] = {}
        if embedded:
            # Tansu completes a group join only after the rebalance timeout: keep it short so a
            # worker processes its first document within seconds. Real clusters keep sane values.
            options.update(
                broker_rebalance_timeout=kafka.embedded_rebalance_timeout_s,
                broker_session_timeout=max(kafka.embedded_rebalance_timeout_s * 3, 6.0),
                broker_heartbeat_interval=1.0,
            )
        else:
            options.update(
                broker_rebalance_timeout=kafka.rebalance_timeout_s,
                broker_session_timeout=kafka.session_timeout_s,
                broker_heartbeat_interval=kafka.heartbeat_interval_s,
            )
        # Faust creates a "<group>-data" folder even with the in-memory store: keep it out of the
        # working directory, and removable (see :meth:`cleanup`).
        self.data_dir = Path(tempfile.mkdtemp(prefix="monitor-faust-"))
        self.app = faust.App(
            group_id or kafka.consumer_group,
            datadir=str(self.data_dir),
            broker=kafka_urls(bootstrap_servers),
            store="memory://",
            web_enabled=False,
            topic_partitions=kafka.partitions,
            topic_replication_factor=kafka.replication_factor,
            consumer_auto_offset_reset="earliest",
            producer_linger_ms=1,
            broker_commit_interval=1.0,
            table_cleanup_interval=3600.0,
            **options,
        )
        self.app.transport = _Transport(self.app.conf.broker_consumer, self.app)
        self._declare()

    # -- wiring ---------------------------------------------------------------------------------

    def _topic(self, name: str) -> faust.TopicT:
        return self.app.topic(
            name,
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.settings.kafka.partitions,
        )

    def _declare(self) -> None:
        app, names, stages, metrics, progress = self.app, self.names, self.stages, self.metrics, self.progress
        self.raw_topic = raw = self._topic(names.raw)
        self.documents_topic = documents = self._topic(names.documents)
        self.events_topic = events = self._topic(names.events)
        self.alerts_topic = alerts = self._topic(names.alerts)
        self.dead_letter_topic = dead_letters = self._topic(names.dead_letters)
        # First-seen time of every document id (the id is the message key: co-partitioned).
        self.seen = seen = app.Table(
            "seen-documents", default=None, partitions=self.settings.kafka.partitions
        )
        # Rule state per routing key (the events' key: co-partitioned).
        self.rule_state = rule_state = app.Table(
            "rule-state", default=None, partitions=self.settings.kafka.partitions
        )

        async def dead(
            stage: str, topic: str, key: str | None, payload: bytes | None, err: Exception
        ) -> None:
            log.warning(
                "%s: message %s sent to the dead-letter topic: %s",
                stage,
                key,
                err,
                extra={"stage": stage, "message_key": key},
            )
            letter = stages.dead_letter(stage, topic, key, payload, err)
            await dead_letters.send(key=(key or "").encode(), value=letter.dumps())

        @app.agent(raw, name="ingest")
        async def ingest(stream: faust.StreamT) -> None:
            # Manual acks: an event is acknowledged only once handled. Faust's automatic ack also fires
            # when the agent is cancelled mid-event, which would commit an unprocessed offset.
            manual = _manual_acks(stream)
            async for event in manual.events():
                self.busy += 1
                key = _key(event.key)
                try:
                    document = decode_document(event.value)
                    offset = event.message.offset
                    first = seen.get(document.id)
                    # [first-seen time, offset of the message that first carried the id]. The same
                    # offset again is a re-delivery of that message (a worker died before committing
                    # it), not a duplicate: it is forwarded again, so nothing is lost.
                    if first is not None and _first_offset(first) != offset:
                        metrics.documents.labels(source=document.source, outcome="duplicate").inc()
                    else:
                        progress.add(1)
                        await documents.send(key=document.id.encode(), value=event.value)
                        # Marked seen only once forwarded: a stop in between forwards it again.
                        seen[document.id] = [utc_now().timestamp(), offset]
                        metrics.documents.labels(source=document.source, outcome="produced").inc()
                    metrics.messages.labels(stage="ingest", outcome="ok").inc()
                except Exception as err:  # one place per stage: the message goes to dead letters
                    await dead("ingest", names.raw, key, event.value, err)
                progress.done()
                self.busy -= 1
                await manual.ack(event)

        @app.agent(documents, name="extract")
        async def extract(stream: faust.StreamT) -> None:
            # Manual acks: an event is acknowledged only once handled. Faust's automatic ack also fires
            # when the agent is cancelled mid-event, which would commit an unprocessed offset.
            manual = _manual_acks(stream)
            async for event in manual.events():
                self.busy += 1
                key = _key(event.key)
                try:
                    tagged = stages.tag(decode_document(event.value))
                    for listener in self.event_listeners:
                        listener(tagged.event)
                    body = tagged.event.dumps()
                    progress.add(len(tagged.routing_keys))
                    for routing_key in tagged.routing_keys:
                        await events.send(key=routing_key.encode(), value=body)
                    metrics.messages.labels(stage="extract", outcome="ok").inc()
                except Exception as err:
                    await dead("extract", names.documents, key, event.value, err)
                progress.done()
                self.busy -= 1
                await manual.ack(event)

        @app.agent(events, name="evaluate")
        async def evaluate(stream: faust.StreamT) -> None:
            # Manual acks: an event is acknowledged only once handled. Faust's automatic ack also fires
            # when the agent is cancelled mid-event, which would commit an unprocessed offset.
            manual = _manual_acks(stream)
            async for event in manual.events():
                self.busy += 1
                key = _key(event.key)
                try:
                    if key is None:
                        raise DecodeError("an event message without its routing key")
                    state, raised = stages.evaluate(decode_event(event.value), key, rule_state.get(key))
                    progress.add(len(raised))
                    for alert in raised:
                        await alerts.send(key=alert.fingerprint.encode(), value=alert.dumps())
                    # The state changes once the alerts are handed over (a re-delivery re-emits them).
                    rule_state[key] = state
                    metrics.messages.labels(stage="evaluate", outcome="ok").inc()
                except Exception as err:
                    await dead("evaluate", names.events, key, event.value, err)
                progress.done()
                self.busy -= 1
                await manual.ack(event)

        @app.agent(alerts, name="notify")
        async def notify(stream: faust.StreamT) -> None:
            # Manual acks: an event is acknowledged only once handled. Faust's automatic ack also fires
            # when the agent is cancelled mid-event, which would commit an unprocessed offset.
            manual = _manual_acks(stream)
            async for event in manual.events():
                self.busy += 1
                key = _key(event.key)
                try:
                    alert = decode_alert(event.value)
                    await self._deliver(alert)
                    metrics.messages.labels(stage="notify", outcome="ok").inc()
                except Exception as err:
                    await dead("notify", names.alerts, key, event.value, err)
                progress.done()
                self.busy -= 1
                await manual.ack(event)

        self.agents = {"ingest": ingest, "extract": extract, "evaluate": evaluate, "notify": notify}

        @app.timer(interval=3600.0)
        async def expire_seen() -> None:
            # Bounded memory: forget document ids older than the retention (their changelog gets a tombstone).
            horizon = (utc_now() - timedelta(days=30)).timestamp()
            for doc_id, first_seen in list(seen.items()):
                if _first_time(first_seen) < horizon:
                    del seen[doc_id]

        pipeline_topics = {
            raw.get_topic_name(),
            documents.get_topic_name(),
            events.get_topic_name(),
            alerts.get_topic_name(),
        }

        @app.timer(interval=5.0)
        async def measure_lag() -> None:
            # Lag of this worker's partitions: highwater (end of log) minus our read position.
            lag: dict[str, int] = dict.fromkeys(pipeline_topics, 0)
            consumer = app.consumer
            for tp in consumer.assignment():
                if tp.topic not in lag:
                    continue
                position = await consumer.position(tp)
                highwater = consumer.highwater(tp)
                if position is not None and highwater is not None:
                    lag[tp.topic] += max(0, highwater - position)
            for topic, value in lag.items():
                metrics.consumer_lag.labels(topic=topic).set(value)

        async def on_started() -> None:
            self.ready.set()

        app.on_startup_finished = on_started

    async def _deliver(self, alert: Alert) -> None:
        # Transient store failures are retried here, holding the partition, so the alert stays on
        # its topic (uncommitted) until the store is back: nothing is lost while the database is down.
        delay = _STORE_RETRY_INITIAL_S
        for sink in self.sinks:
            while True:
                try:
                    await sink(alert)
                    break
                except StoreError as err:
                    if not err.transient:
                        raise
                    log.warning(
                        "alert %s: store unavailable, retrying in %.1f s: %s",
                        alert.id,
                        delay,
                        err,
                        extra={"alert_id": alert.id},
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _STORE_RETRY_MAX_S)

    # -- producing ------------------------------------------------------------------------------

    async def drain(self, timeout_s: float) -> None:
        """Stop taking new messages and wait until the agents finish the ones in hand.

        Faust acknowledges the event an agent is working on when the agent is cancelled, so stopping
        in the middle of one would commit its offset unprocessed: a graceful stop drains first.
        """
        self.app.flow_control.suspend()
        consumer = self.app.consumer
        consumer.pause_partitions(consumer.assignment())
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self.busy > 0 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if self.busy > 0:
            log.warning("stopping with %d messages still in hand (they will be processed again)", self.busy)

    def cleanup(self) -> None:
        """Remove the worker's scratch folder (after the app has stopped)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)

    async def send_dead_letter(self, letter: DeadLetter) -> None:
        """Produce a dead letter from outside the agents (e.g. a delivery given up)."""
        await self.dead_letter_topic.send(key=(letter.key or "").encode(), value=letter.dumps())

    async def publish(self, document: Document) -> None:
        """Produce a document to the raw topic (key: its id)."""
        self.progress.add(1)
        await self.raw_topic.send(key=document.id.encode(), value=document.dumps())

    async def publish_many(self, documents: list[Document]) -> None:
        """Produce documents and wait until the broker has them (the push endpoint answers after this)."""
        for document in documents:
            await self.publish(document)
        await self.app.producer.flush()
