"""The embedded Tansu broker: starts, answers Kafka clients, and never outlives its owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from monitor.errors import BrokerError
from monitor.settings import KafkaSettings
from monitor.streaming.broker import EmbeddedBroker
from monitor.streaming.topics import TopicNames, ensure_topics, missing_topics


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().split()[2] != "Z"


def _wait_dead(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


async def test_topics_are_created_with_the_configured_partitions_and_carry_messages(
    kafka_broker: EmbeddedBroker, topic_prefix: str
) -> None:
    names = TopicNames.from_prefix(topic_prefix)
    settings = KafkaSettings(partitions=3)
    await ensure_topics(kafka_broker.bootstrap_servers, names.all(), settings)
    await ensure_topics(kafka_broker.bootstrap_servers, names.all(), settings)  # idempotent
    assert await missing_topics(kafka_broker.bootstrap_servers, names.all()) == []

    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(names.raw, b"hello", key=b"k")
        partitions = await producer.partitions_for(names.raw)
    finally:
        await producer.stop()
    assert len(partitions) == 3
    consumer = AIOKafkaConsumer(
        names.raw,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.value == b"hello"


def test_stop_is_idempotent_and_the_process_is_gone() -> None:
    broker = EmbeddedBroker().start()
    pid = broker.pid
    assert pid is not None and broker.running()
    broker.stop()
    broker.stop()
    assert _wait_dead(pid)


def test_the_broker_dies_with_its_owner_even_on_sigkill() -> None:
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
            import sys, time
            from monitor.streaming.broker import EmbeddedBroker
            broker = EmbeddedBroker().start()
            print(broker.pid, flush=True)
            time.sleep(600)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    with owner:
        assert owner.stdout is not None
        broker_pid = int(owner.stdout.readline())
        assert _alive(broker_pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
    assert _wait_dead(broker_pid), "the broker outlived its owner"


async def test_an_unreachable_broker_is_a_clear_error() -> None:
    from monitor.streaming.broker import free_port

    with pytest.raises(BrokerError, match="cannot reach the Kafka broker"):
        await ensure_topics(f"127.0.0.1:{free_port()}", ["x"], KafkaSettings(), timeout_s=2)
