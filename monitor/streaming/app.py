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
import functools
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

import faust
from faust.sensors.monitor import Monitor
from faust.transport.drivers import aiokafka as faust_kafka
from faust.utils.functional import consecutive_numbers

from monitor.batching import GroupCommit
from monitor.errors import DecodeError, StoreError
from monitor.observability.metrics import Metrics
from monitor.records import Alert, DeadLetter, Document, TaggedEvent
from monitor.settings import Settings
from monitor.streaming.progress import NoProgress, Progress
from monitor.streaming.stages import Stages, decode_alert, decode_document, decode_event, utc_now
from monitor.streaming.topics import TopicNames

log = logging.getLogger(__name__)

AlertSink = Callable[[Alert], Awaitable[None]]


@runtime_checkable
class BatchAlertSink(Protocol):
    """A sink that takes the notify stage's alerts a batch at a time (e.g. one transaction each)."""

    async def __call__(self, alert: Alert) -> None:
        """Handle one alert."""

    async def handle_many(self, alerts: Sequence[Alert]) -> None:
        """Handle alerts in order, as calling the sink for each would."""


#: Largest batch of alerts the notify stage hands to its sinks at once, and how many it queues
#: (backpressure on the alerts topic beyond that).
NOTIFY_MAX_BATCH = 500
NOTIFY_MAX_PENDING = 2_000

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


#: How long a partition's commit may be held back by one offset never handled while later ones are,
#: before the partition is read again from that offset (see ``_Consumer._new_offset``).
REREAD_AFTER_S = 5.0

# The subclasses log under Faust's logger, not ours: its chatty INFO lines stay filtered with Faust's.
_FAUST_LOGGER = logging.getLogger(f"{faust_kafka.__name__}.monitor")


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    logger = _FAUST_LOGGER

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Faust hard-codes 1,500 ms; read by AIOKafkaConsumer.start().
        consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
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

    # -- strict commits ------------------------------------------------------------------------------
    # Faust commits the first run of consecutive acknowledged offsets, and lets one offset slip: it
    # holds back only when the run starts more than one past the committed offset, and never checks
    # when nothing was committed yet. And Faust can drop a fetched message before any agent sees it:
    # its fetch loop hands each message over while racing the rebalance's "suspend flow" signal,
    # cancels the hand-over when the signal wins, and still moves its read offset past the message.
    # Together they committed unprocessed offsets: the loss the worker-fault tests saw. Here a commit
    # must start exactly at the next offset to handle (the committed one, or where consumption
    # started on a partition never committed); when later offsets are handled and that one is not
    # for a while, it was dropped, and the partition is read again from it.

    _start_offset: dict[Any, int]
    _held_since: dict[Any, float]

    async def perform_seek(self) -> None:
        await super().perform_seek()
        self._start_offset = {}
        self._held_since = {}
        for tp in self.assignment():
            if self._committed_offset[tp] is None and not self._is_changelog_tp(tp):
                position = await self.position(tp)
                if position is not None:
                    self._start_offset[tp] = position

    def _new_offset(self, tp: Any) -> int | None:
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if committed is not None and committed < 0:  # "none committed" in some client versions
            committed = None
        expected = committed if committed is not None else getattr(self, "_start_offset", {}).get(tp)
        if expected is None:  # not known yet (no seek done): Faust's own rule
            return cast(int | None, super()._new_offset(tp))
        if not acked:
            return None
        gaps = self._gap[tp]
        if gaps:  # offsets the fetch skipped (compaction, transaction markers) count as handled
            highest = max(acked)
            filled: list[int] = []
            for interval in sorted(gaps.overlap(0, highest), key=lambda i: i.begin):
                filled.extend(range(interval.begin, interval.end))
            if filled:
                acked.extend(filled)
                gaps.chop(0, max(filled[-1], highest + 1))
        acked.sort()
        stale = 0
        while stale < len(acked) and acked[stale] < expected:  # handled again after a seek back
            stale += 1
        if stale:
            self._acked_index[tp].difference_update(acked[:stale])
            del acked[:stale]
        if not acked:
            return None
        if acked[0] != expected:
            self._held_back(tp, expected, acked[0])
            return None
        self._held_since.pop(tp, None)
        run = next(consecutive_numbers(acked))
        del acked[: len(run)]
        self._acked_index[tp].difference_update(run)
        return int(run[-1]) + 1

    def _held_back(self, tp: Any, expected: int, first_handled: int) -> None:
        now = time.monotonic()
        since = self._held_since.setdefault(tp, now)
        if now - since < REREAD_AFTER_S:
            return
        self._held_since[tp] = now  # at most one re-read per interval
        self.log.warning(
            "offset %d of %s was fetched but never handled (handled from %d on): reading again from it",
            expected,
            tp,
            first_handled,
        )
        self.add_future(self._reread(tp, expected))  # kept and cancelled with the consumer

    async def _reread(self, tp: Any, offset: int) -> None:
        try:
            await self.seek(tp, offset)
        except Exception as err:  # e.g. the partition was revoked meanwhile: its new owner reads it
            self.log.warning("could not read %s again from %d: %r", tp, offset, err)


class _QuietMonitor(Monitor):
    """Faust's built-in sensor without its per-message bookkeeping.

    Faust's Monitor keeps statistics for its web views (disabled here) on every message, event, send
    and table access: about 5 % of a pass-through topology's CPU. Our own metrics are in
    :class:`~monitor.observability.metrics.Metrics`.
    """

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> dict[str, Any] | None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: dict[str, Any] | None = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table: Any, key: Any) -> None:
        return None

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> Any:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None

    def track_tp_end_offset(self, tp: Any, offset: int) -> None:
        return None


class _Transport(faust_kafka.Transport):
    logger = _FAUST_LOGGER

    Consumer = _Consumer
    #: How long a fetch waits for data (see ``KafkaSettings.fetch_max_wait_ms``).
    fetch_max_wait_ms = 500


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
            monitor=_QuietMonitor(),
            **options,
        )
        self.app.transport = _Transport(self.app.conf.broker_consumer, self.app)
        self.app.transport.fetch_max_wait_ms = (
            kafka.embedded_fetch_max_wait_ms if embedded else kafka.fetch_max_wait_ms
        )
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
            # Manual acks: an event is acknowledged only once its alert is written (by the group
            # commit's writer task). Faust's automatic ack also fires when the agent is cancelled
            # mid-event, which would commit an unprocessed offset.
            manual = _manual_acks(stream)

            async def write(batch: list[tuple[Alert, faust.EventT]]) -> None:
                await self._notify_batch(batch, manual, dead)

            commit: GroupCommit[tuple[Alert, faust.EventT]] = GroupCommit(
                write, max_batch=NOTIFY_MAX_BATCH, max_pending=NOTIFY_MAX_PENDING, name="notify-writer"
            )
            try:
                async for event in manual.events():
                    self.busy += 1
                    try:
                        alert = decode_alert(event.value)
                    except Exception as err:
                        await dead("notify", names.alerts, _key(event.key), event.value, err)
                        progress.done()
                        self.busy -= 1
                        await manual.ack(event)
                        continue
                    await commit.add((alert, event))
            finally:
                await commit.close()

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

    async def _notify_batch(
        self,
        batch: list[tuple[Alert, faust.EventT]],
        stream: faust.Stream,
        dead: Callable[[str, str, str | None, bytes | None, Exception], Awaitable[None]],
    ) -> None:
        """Hand a batch of alerts to the sinks, then acknowledge their messages.

        A failure that is not a store outage is narrowed down alert by alert, so that only the
        alert at fault goes to the dead-letter topic.
        """
        try:
            await self._deliver([alert for alert, _ in batch])
            failed: dict[int, Exception] = {}
        except Exception:
            failed = {}
            for index, (alert, _) in enumerate(batch):
                try:
                    await self._deliver([alert])
                except Exception as err:
                    failed[index] = err
        for index, (_, event) in enumerate(batch):
            if index in failed:
                await dead("notify", self.names.alerts, _key(event.key), event.value, failed[index])
            else:
                self.metrics.messages.labels(stage="notify", outcome="ok").inc()
            self.progress.done()
            self.busy -= 1
            await stream.ack(event)

    async def _deliver(self, alerts: list[Alert]) -> None:
        # Transient store failures are retried here, holding the stage, so the alerts stay on their
        # topic (unacknowledged) until the store is back: nothing is lost while the database is down.
        for sink in self.sinks:
            if isinstance(sink, BatchAlertSink):
                await self._retry_transient(functools.partial(sink.handle_many, alerts), alerts)
            else:
                for alert in alerts:
                    await self._retry_transient(functools.partial(sink, alert), [alert])

    async def _retry_transient(self, call: Callable[[], Awaitable[None]], alerts: list[Alert]) -> None:
        delay = _STORE_RETRY_INITIAL_S
        while True:
            try:
                await call()
                return
            except StoreError as err:
                if not err.transient:
                    raise
                log.warning(
                    "%d alert(s) from %s: store unavailable, retrying in %.1f s: %s",
                    len(alerts),
                    alerts[0].id,
                    delay,
                    err,
                    extra={"alert_id": alerts[0].id},
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
            return
        # While this worker still holds its partitions: outputs and table changelog on the broker, then
        # offsets committed. Once stopping, Faust's rebalance handler skips its wait and flush
        # (`_on_rebalance_when_stopped`), so the worker taking over might otherwise recover a table
        # without the last changes.
        try:
            await asyncio.wait_for(
                self._flush_and_commit(), max(deadline - asyncio.get_running_loop().time(), 1.0)
            )
        except TimeoutError:
            log.warning("could not flush and commit before stopping (what was not committed is redelivered)")

    async def _flush_and_commit(self) -> None:
        await self.app.producer.flush()
        await self.app.consumer.commit()

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
