"""Shared fixtures: one real embedded Kafka-compatible broker (Tansu) for the whole session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.settings import Settings, load_settings
from monitor.streaming.broker import EmbeddedBroker

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's MONITOR_* or KAFKA_* variables."""
    for name in list(os.environ):
        if name.startswith("MONITOR_") or name == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[EmbeddedBroker]:
    """A real Tansu broker on a free loopback port, stopped at the end of the session."""
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()
        # No broker process may survive the session.
        assert not broker.running()


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic prefix per test, so tests sharing the broker never see each other's messages."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker_settings(kafka_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> Settings:
    """Settings pointing at the session broker (so no embedded broker is started by the code under test)."""
    os.environ["MONITOR_KAFKA__BOOTSTRAP_SERVERS"] = kafka_broker.bootstrap_servers
    try:
        settings = load_settings(
            overrides={
                "kafka": {
                    "topic_prefix": topic_prefix,
                    "consumer_group": f"{topic_prefix}-group",
                    "rebalance_timeout_s": 2.0,
                    "session_timeout_s": 6.0,
                    "heartbeat_interval_s": 1.0,
                    "fetch_max_wait_ms": 10,
                },
                "http": {"port": 0},
                "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite'}"},
            }
        )
    finally:
        del os.environ["MONITOR_KAFKA__BOOTSTRAP_SERVERS"]
    return settings
