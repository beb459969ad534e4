"""Topic names and their explicit creation.

Topics are created at start-up with the configured partitions and replication factor; the service
never relies on broker auto-creation (Tansu auto-creates with 4 partitions, which breaks Faust
tables whose changelogs must match their source topics). :func:`missing_topics` lets the worker
notice a broker that lost its topics (an embedded broker restarted) and stop with a clear error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from monitor.errors import BrokerError
from monitor.settings import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicNames:
    """The names of the service's topics: ``<prefix>.<stage>.<record>.v<N>``."""

    raw: str
    documents: str
    events: str
    alerts: str
    dead_letters: str

    @classmethod
    def from_prefix(cls, prefix: str) -> TopicNames:
        """Names under ``prefix`` (``monitor`` by default)."""
        return cls(
            raw=f"{prefix}.ingest.raw.v1",
            documents=f"{prefix}.ingest.documents.v1",
            events=f"{prefix}.extract.events.v1",
            alerts=f"{prefix}.rules.alerts.v1",
            dead_letters=f"{prefix}.deadletters.v1",
        )

    def all(self) -> list[str]:
        """Every topic of the pipeline, in flow order."""
        return [self.raw, self.documents, self.events, self.alerts, self.dead_letters]


async def ensure_topics(
    bootstrap_servers: str, names: list[str], kafka: KafkaSettings, timeout_s: float = 30.0
) -> None:
    """Create ``names`` with the configured partitions and replication factor when they do not exist.

    Existing topics are kept as they are (a partition count that differs is logged, not changed:
    repartitioning keyed topics is an operator's decision). Raises :class:`BrokerError`.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (KafkaError, OSError, TimeoutError) as err:
        raise BrokerError(f"cannot reach the Kafka broker at {bootstrap_servers}: {err!r}") from err
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name=name, num_partitions=kafka.partitions, replication_factor=kafka.replication_factor)
            for name in names
            if name not in existing
        ]
        if wanted:
            # Another worker may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000))
            log.info("created topics %s", ", ".join(t.name for t in wanted))
        for name in names:
            if name in existing:
                described = await admin.describe_topics([name])
                count = len(described[0].get("partitions", [])) if described else 0
                if count and count != kafka.partitions:
                    log.warning(
                        "topic %s has %d partitions, settings say %d: kept as is",
                        name,
                        count,
                        kafka.partitions,
                    )
    except KafkaError as err:
        raise BrokerError(f"cannot create topics on {bootstrap_servers}: {err!r}") from err
    finally:
        await admin.close()


async def missing_topics(bootstrap_servers: str, names: list[str], timeout_s: float = 10.0) -> list[str]:
    """Return the names that the broker does not know (empty when all exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        existing = set(await admin.list_topics())
    except (KafkaError, OSError, TimeoutError) as err:
        raise BrokerError(f"cannot reach the Kafka broker at {bootstrap_servers}: {err!r}") from err
    finally:
        await admin.close()
    return [name for name in names if name not in existing]
