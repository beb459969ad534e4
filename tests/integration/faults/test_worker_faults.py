"""Worker and database faults: nothing is lost, nothing is doubled.

- A worker killed with SIGKILL mid-stream while another runs: after the rebalance every document is
  processed and every alert is stored once.
- The database unavailable for a while: alerts wait on their topic and are written when it returns.
- SIGTERM drains in-flight work and commits offsets: a restarted worker resumes without loss.

The workers are real ``monitor run`` processes (or the service in-process) on the session's embedded
broker, sharing a throw-away PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from monitor.delivery.matching import AlertQuery
from monitor.delivery.testing import eventually
from monitor.records import Document
from monitor.settings import Settings, StoreSettings
from monitor.store import SqlAlertStore
from monitor.store.testing import postgres_available, set_database_available, temporary_database
from monitor.streaming.broker import EmbeddedBroker, free_port
from monitor.streaming.service import RunOptions, run_service
from monitor.streaming.topics import TopicNames

pytestmark = pytest.mark.slow

MINERALS = [
    "antimony", "beryllium", "bismuth", "cesium", "chromium", "cobalt", "gallium", "germanium",
    "graphite", "hafnium", "indium", "lithium", "magnesium", "manganese", "nickel", "niobium",
    "tantalum", "tellurium", "tungsten", "vanadium",
]  # fmt: skip
COUNTRIES = ["China", "Indonesia"]


def documents(prefix: str) -> list[Document]:
    """Distinct export bans (one country x mineral each): each must become exactly one alert."""
    now = datetime.now(UTC)
    return [
        Document(
            id=f"{prefix}-{country[:2].lower()}-{mineral}",
            title=f"{country} bans exports of {mineral}",
            text=f"{country} announced a ban on exports of {mineral} with immediate effect, "
            "the trade ministry said on Monday.",
            source="fault-test",
            fetched=now,
        )
        for country in COUNTRIES
        for mineral in MINERALS
    ]


@pytest.fixture
async def database() -> AsyncIterator[str]:
    if not await postgres_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    async with temporary_database() as url:
        yield url


async def produce(bootstrap: str, topic: str, docs: list[Document]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for document in docs:
            await producer.send(topic, document.dumps(), key=document.id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def stored_document_ids(url: str) -> list[str]:
    """Every document id of every stored alert (a document in two alerts appears twice)."""
    async with SqlAlertStore(url) as store:
        ids: list[str] = []
        cursor = None
        while True:
            page = await store.list_alerts(AlertQuery(), limit=500, cursor=cursor)
            for stored in page.items:
                ids.extend(stored.alert.document_ids)
            cursor = page.next_cursor
            if not cursor:
                return ids


def worker_env(broker: EmbeddedBroker, prefix: str, database: str, port: int) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MONITOR_") and k != "KAFKA_BOOTSTRAP_SERVERS"
    }
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        MONITOR_KAFKA__TOPIC_PREFIX=prefix,
        MONITOR_KAFKA__CONSUMER_GROUP=f"{prefix}-group",
        MONITOR_KAFKA__REBALANCE_TIMEOUT_S="2",
        MONITOR_KAFKA__SESSION_TIMEOUT_S="6",
        MONITOR_KAFKA__HEARTBEAT_INTERVAL_S="1",
        MONITOR_KAFKA__FETCH_MAX_WAIT_MS="10",
        MONITOR_STORE__URL=database,
        MONITOR_INGEST__POLL="false",
        MONITOR_HTTP__PORT=str(port),
        MONITOR_LOG__FORMAT="json",
    )
    return env


@contextlib.contextmanager
def worker(
    broker: EmbeddedBroker, prefix: str, database: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run"],
            env=worker_env(broker, prefix, database, port),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    process.port = port  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def wait_ready(process: subprocess.Popen[bytes], log: Path) -> None:
    def ready() -> bool:
        assert process.poll() is None, f"worker exited: {log.read_text(errors='replace')[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{process.port}/readyz", timeout=1) as r:  # type: ignore[attr-defined]
                return bool(r.status == 200)
        except OSError:
            return False

    await eventually(ready, timeout=60, interval=0.3)


async def where_is(bootstrap: str, group: str, names: TopicNames, document_ids: list[str]) -> str:
    """For each missing document, the topics (and partitions, offsets) that carry it: which stage lost it."""
    from aiokafka import AIOKafkaConsumer

    lines = []
    for topic in (names.raw, names.documents, names.events, names.alerts, names.dead_letters):
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        try:
            found: dict[str, list[str]] = {d: [] for d in document_ids}
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                if not batch:
                    break
                for tp, records in batch.items():
                    for record in records:
                        body = (record.value or b"").decode("utf-8", "replace")
                        for d in document_ids:
                            if d in body:
                                where = f"p{tp.partition}@{record.offset}"
                                found[d].append(where + _alert_of(topic, names, body))
        finally:
            await consumer.stop()
        lines.extend(f"{topic}: {d} at {where or 'nowhere'}" for d, where in found.items())
    lines.append(
        await committed_offsets(bootstrap, group, [names.raw, names.documents, names.events, names.alerts])
    )
    return "\n".join(lines)


def _alert_of(topic: str, names: TopicNames, body: str) -> str:
    """For an alert message: its id, revision and documents (to compare with what was stored)."""
    if topic != names.alerts:
        return ""
    try:
        data = json.loads(body)
        return f" (alert {data.get('id')} rev {data.get('revision')} docs {data.get('document_ids')})"
    except ValueError:
        return ""


async def stored_alerts_about(url: str, missing: list[str]) -> str:
    """The stored alerts whose title names a missing document's mineral: was it stored and replaced?"""
    minerals = {d.rsplit("-", 1)[-1] for d in missing}
    lines = []
    async with SqlAlertStore(url) as store:
        page = await store.list_alerts(AlertQuery(), limit=1000)
        for stored in page.items:
            alert = stored.alert
            if any(m in alert.title.lower() for m in minerals):
                lines.append(
                    f"stored: {alert.id} rev {alert.revision} {alert.status} {alert.title!r} "
                    f"docs {list(alert.document_ids)}"
                )
    return "\n".join(lines) or "stored: no alert names those minerals"


async def committed_offsets(bootstrap: str, group: str, topics: list[str]) -> str:
    """The group's committed offsets (a commit past a document's offset means it was skipped)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        found = []
        for topic in topics:
            for partition in sorted(consumer.partitions_for_topic(topic) or ()):
                offset = await consumer.committed(TopicPartition(topic, partition))
                found.append(f"{topic}[{partition}]={offset}")
        return f"committed offsets of {group}: " + ", ".join(found)
    except Exception as err:  # diagnostics only
        return f"committed offsets of {group}: unavailable ({err!r})"
    finally:
        await consumer.stop()


def notable_lines(log: Path) -> str:
    """The log's warnings and errors (the tail is mostly alert lines)."""
    lines = log.read_text(errors="replace").splitlines()
    keep = [line for line in lines if '"level": "warning"' in line or '"level": "error"' in line]
    return "\n".join(keep[-40:])


async def eventually_or_explain(
    condition: Callable[[], Awaitable[bool]],
    database: str,
    docs: list[Document],
    *logs: Path,
    topics: tuple[str, TopicNames, str] | None = None,
) -> None:
    """Wait for ``condition``; on time-out, fail with the missing documents, where they went, and the
    workers' logs."""
    try:
        await eventually(condition, timeout=120, interval=0.5)
    except AssertionError:
        stored = set(await stored_document_ids(database))
        missing = sorted(d.id for d in docs if d.id not in stored)
        trail = await where_is(topics[0], topics[2], topics[1], missing) if topics and missing else ""
        if missing:
            trail += "\n" + await stored_alerts_about(database, missing)
        tails = "\n".join(
            f"--- {log.name}\n{notable_lines(log)}\n...\n{log.read_text(errors='replace')[-2000:]}"
            for log in logs
        )
        raise AssertionError(f"documents without an alert: {missing}\n{trail}\n{tails}") from None


def assert_each_document_in_exactly_one_alert(ids: list[str], docs: list[Document]) -> None:
    assert sorted(ids) == sorted(d.id for d in docs)


# Known open bug (issue "Benchmarks and fault suite"). These tests lost documents in about one run in
# three under load. Fixed since: Faust acknowledged the event an agent was working on when the agent
# was cancelled (agents now ack by hand once an event is handled, and a stop drains first); Faust let
# one unhandled offset slip into a commit and dropped a message fetched during a rebalance (strict
# commits, and a partition held back by an unhandled offset for 5 s is read again). Since then 59 of
# 60 test runs under two busy loops passed (30 of each test); the one failure (SIGTERM case) had the
# document's alert on the alerts topic, below the group's committed offset, yet in no stored alert:
# a path in or after the notify stage is still open. The failure message now lists the alert
# messages (id, revision, documents) and the stored alerts of the missing documents' minerals. Run
# with --runxfail to see it.
# Non-strict until fixed.
_KNOWN_LOSS = pytest.mark.xfail(
    strict=False, reason="known open bug: a document is sometimes lost across a worker fault"
)


@_KNOWN_LOSS
async def test_a_worker_killed_mid_stream_loses_and_doubles_nothing(
    kafka_broker: EmbeddedBroker, topic_prefix: str, database: str, tmp_path: Path
) -> None:
    names = TopicNames.from_prefix(topic_prefix)
    docs = documents("kill")
    with (
        worker(kafka_broker, topic_prefix, database, tmp_path / "a.log") as first,
        worker(kafka_broker, topic_prefix, database, tmp_path / "b.log") as second,
    ):
        await wait_ready(first, tmp_path / "a.log")
        await wait_ready(second, tmp_path / "b.log")
        await produce(kafka_broker.bootstrap_servers, names.raw, docs[:20])

        async def some_stored() -> bool:
            return len(await stored_document_ids(database)) >= 5

        await eventually(some_stored, timeout=60, interval=0.2)
        first.send_signal(signal.SIGKILL)
        await produce(kafka_broker.bootstrap_servers, names.raw, docs[20:])

        async def all_stored() -> bool:
            return len(set(await stored_document_ids(database))) >= len(docs)

        await eventually_or_explain(
            all_stored,
            database,
            docs,
            tmp_path / "b.log",
            topics=(kafka_broker.bootstrap_servers, names, f"{topic_prefix}-group"),
        )
        assert second.poll() is None
    assert_each_document_in_exactly_one_alert(await stored_document_ids(database), docs)


@_KNOWN_LOSS
async def test_sigterm_drains_commits_and_a_restarted_worker_resumes_without_loss(
    kafka_broker: EmbeddedBroker, topic_prefix: str, database: str, tmp_path: Path
) -> None:
    names = TopicNames.from_prefix(topic_prefix)
    docs = documents("term")
    with worker(kafka_broker, topic_prefix, database, tmp_path / "a.log") as first:
        await wait_ready(first, tmp_path / "a.log")
        await produce(kafka_broker.bootstrap_servers, names.raw, docs)

        async def some_stored() -> bool:
            return len(await stored_document_ids(database)) >= 3

        await eventually(some_stored, timeout=60, interval=0.1)
        first.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait, 60) == 0
    with worker(kafka_broker, topic_prefix, database, tmp_path / "b.log") as second:
        await wait_ready(second, tmp_path / "b.log")

        async def all_stored() -> bool:
            return len(set(await stored_document_ids(database))) >= len(docs)

        await eventually_or_explain(
            all_stored,
            database,
            docs,
            tmp_path / "a.log",
            tmp_path / "b.log",
            topics=(kafka_broker.bootstrap_servers, names, f"{topic_prefix}-group"),
        )
    assert_each_document_in_exactly_one_alert(await stored_document_ids(database), docs)


async def test_alerts_raised_while_the_database_is_down_are_written_when_it_returns(
    kafka_broker: EmbeddedBroker, broker_settings: Settings, database: str
) -> None:
    settings = broker_settings.model_copy(update={"store": StoreSettings(url=database)})
    docs = documents("db")
    names = TopicNames.from_prefix(settings.kafka.topic_prefix)
    service = asyncio.create_task(run_service(settings, RunOptions()))
    try:
        await produce(kafka_broker.bootstrap_servers, names.raw, docs[:5])

        async def first_stored() -> bool:
            return len(await stored_document_ids(database)) >= 5

        await eventually(first_stored, timeout=60, interval=0.2)
        await set_database_available(database, False)
        try:
            await produce(kafka_broker.bootstrap_servers, names.raw, docs[5:])
            await asyncio.sleep(3)  # the outage lasts a while: alerts are raised and wait meanwhile
            assert not service.done()
        finally:
            await set_database_available(database, True)

        async def all_stored() -> bool:
            return len(set(await stored_document_ids(database))) >= len(docs)

        await eventually(all_stored, timeout=90, interval=0.5)
    finally:
        service.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await service
    assert_each_document_in_exactly_one_alert(await stored_document_ids(database), docs)
