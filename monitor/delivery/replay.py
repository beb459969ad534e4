"""``monitor deliveries replay``: send dead letters again.

Replaying only puts the dead deliveries back to ``pending`` in the store with a fresh retry period;
the running workers' pollers send them (so the CLI works from another process).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from monitor.store.base import AlertStore, DeliveryRecord


async def replay_dead_letters(
    store: AlertStore,
    *,
    subscription_id: str | None = None,
    delivery_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> list[DeliveryRecord]:
    """Put dead deliveries (all, one subscription's, or the given ids) back in the queue; return them."""
    return await store.replay_dead(
        now=now or datetime.now(UTC), subscription_id=subscription_id, delivery_ids=delivery_ids
    )
