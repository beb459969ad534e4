"""The whole topology on the real embedded broker: documents in, alerts out, bad messages kept."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from monitor.records import Alert, DeadLetter, Document
from monitor.settings import Settings
from monitor.streaming.app import Topology
from monitor.streaming.service import RunOptions, run_service
from monitor.streaming.topics import TopicNames

BAN = Document(
    id="it-ban-1",
    title="China bans exports of gallium and germanium to the United States",
    text=(
        "China's Ministry of Commerce announced on Tuesday a ban on exports of gallium, germanium and "
        "antimony to the United States, effective immediately, citing national security."
    ),
    source="test-feed",
    fetched=datetime.now(UTC),
    url="https://example.org/ban",
)

PRICE = Document(
    id="it-price-1",
    title="Lithium prices edge higher",
    text="Lithium carbonate prices rose 2% this week on restocking by cathode makers in Asia.",
    source="test-feed",
    fetched=datetime.now(UTC),
)


async def _read_topic(bootstrap: str, topic: str, expect: int, timeout_s: float = 20.0) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(values) < expect and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                values.extend(r.value for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return values


async def test_a_published_document_becomes_an_alert_on_the_alerts_topic(broker_settings: Settings) -> None:
    received: list[Alert] = []

    async def collect(alert: Alert) -> None:
        received.append(alert)

    result = await run_service(
        broker_settings, RunOptions(documents=[BAN, PRICE], once=True, sinks=[collect])
    )
    assert result.exit_code == 0
    assert [a.document_ids for a in received] == [["it-ban-1"]]
    names = TopicNames.from_prefix(broker_settings.kafka.topic_prefix)
    bootstrap = broker_settings.kafka.bootstrap_servers or ""
    on_topic = [Alert.loads(v, serializer="json") for v in await _read_topic(bootstrap, names.alerts, 1)]
    assert len(on_topic) == 1
    alert = on_topic[0]
    assert alert.measure == "export_ban"
    assert alert.direction == "tighten"
    assert {"gallium", "germanium", "antimony"} <= set(alert.minerals)
    assert alert.imposing_country == "CN"
    assert alert.severity in {"high", "critical"}
    assert alert.schema_version == 1


async def test_the_same_document_twice_is_processed_once(broker_settings: Settings) -> None:
    received: list[Alert] = []

    async def collect(alert: Alert) -> None:
        received.append(alert)

    result = await run_service(broker_settings, RunOptions(documents=[BAN, BAN], once=True, sinks=[collect]))
    assert result.exit_code == 0
    assert len(received) == 1


async def test_a_malformed_message_goes_to_the_dead_letter_topic_and_the_stream_goes_on(
    broker_settings: Settings,
) -> None:
    received: list[Alert] = []
    bootstrap = broker_settings.kafka.bootstrap_servers or ""

    async def collect(alert: Alert) -> None:
        received.append(alert)

    async def inject_garbage(topology: Topology) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            topology.progress.add(2)
            await producer.send_and_wait(topology.names.raw, b"\xff\xfe not json", key=b"junk-1")
            await producer.send_and_wait(topology.names.raw, json.dumps({"id": 3}).encode(), key=b"junk-2")
        finally:
            await producer.stop()

    options = RunOptions(documents=[BAN], once=True, sinks=[collect], on_ready=inject_garbage)
    result = await run_service(broker_settings, options)
    assert result.exit_code == 0
    assert len(received) == 1
    names = TopicNames.from_prefix(broker_settings.kafka.topic_prefix)
    letters = [
        DeadLetter.loads(v, serializer="json") for v in await _read_topic(bootstrap, names.dead_letters, 2)
    ]
    assert sorted(letter.key or "" for letter in letters) == ["junk-1", "junk-2"]
    assert all(letter.stage == "ingest" and letter.reason == "DecodeError" for letter in letters)
