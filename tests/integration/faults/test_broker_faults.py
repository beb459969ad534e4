"""Broker faults: a worker never hangs silently when its broker goes away.

The embedded broker keeps data in memory only, so a restarted broker has lost every topic. A worker
must notice and exit with a clear reason and code 3, for a supervisor to restart it; the same when
the broker stays unreachable.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from monitor.records import Alert, Document
from monitor.settings import Settings, load_settings
from monitor.streaming.broker import EmbeddedBroker
from monitor.streaming.service import EXIT_BROKER_LOST, RunOptions, run_service

pytestmark = pytest.mark.slow


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, since the test stops and restarts it."""
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


def _settings(broker: EmbeddedBroker, lost_after_s: float) -> Settings:
    os.environ["MONITOR_KAFKA__BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
    try:
        return load_settings(
            overrides={
                "kafka": {
                    "rebalance_timeout_s": 2.0,
                    "session_timeout_s": 6.0,
                    "heartbeat_interval_s": 1.0,
                    "fetch_max_wait_ms": 10,
                    "topic_check_interval_s": 0.5,
                    "broker_lost_after_s": lost_after_s,
                },
                "http": {"port": 0},
            }
        )
    finally:
        del os.environ["MONITOR_KAFKA__BOOTSTRAP_SERVERS"]


DOC = Document(
    id="fault-1",
    title="Indonesia bans nickel ore exports",
    text="Indonesia will ban exports of nickel ore from January 2020, the energy ministry said.",
    source="t",
    fetched=datetime.now(UTC),
)


async def _run_until_first_alert(settings: Settings) -> tuple[asyncio.Task[object], asyncio.Event]:
    first = asyncio.Event()

    async def sink(_: Alert) -> None:
        first.set()

    task = asyncio.create_task(run_service(settings, RunOptions(documents=[DOC], once=False, sinks=[sink])))
    await asyncio.wait_for(first.wait(), 60)
    return task, first  # type: ignore[return-value]


async def test_a_restarted_embedded_broker_that_lost_its_topics_makes_the_worker_exit_with_code_3(
    own_broker: EmbeddedBroker,
) -> None:
    settings = _settings(own_broker, lost_after_s=30)
    task, _ = await _run_until_first_alert(settings)
    port = own_broker.port
    await asyncio.to_thread(own_broker.stop)
    own_broker.port = port
    await asyncio.to_thread(own_broker.start)  # same address, empty memory
    result = await asyncio.wait_for(task, 60)
    assert result.exit_code == EXIT_BROKER_LOST  # type: ignore[attr-defined]
    assert "lost the topics" in result.reason  # type: ignore[attr-defined]


async def test_an_unreachable_broker_makes_the_worker_exit_with_code_3(own_broker: EmbeddedBroker) -> None:
    settings = _settings(own_broker, lost_after_s=3)
    task, _ = await _run_until_first_alert(settings)
    await asyncio.to_thread(own_broker.stop)
    result = await asyncio.wait_for(task, 60)
    assert result.exit_code == EXIT_BROKER_LOST  # type: ignore[attr-defined]
    assert "unreachable" in result.reason  # type: ignore[attr-defined]
