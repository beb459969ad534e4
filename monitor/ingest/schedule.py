"""When to poll a source next: interval, server floors, backoff and jitter. Pure.

- after a success: the source's interval, raised to the server's floor (Cache-Control max-age,
  RSS ``<ttl>``, itself capped at ``max_floor_s``), with +/- ``jitter``;
- after ``n`` failures in a row: ``interval * 2**n`` capped at ``max_backoff_s`` (never abandoned),
  and never sooner than the server's ``Retry-After`` (capped at ``max_retry_after_s``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SchedulePolicy", "initial_delay", "next_delay"]


@dataclass(frozen=True)
class SchedulePolicy:
    """How polls are spread and slowed down."""

    jitter: float = 0.1
    initial_spread_s: float = 10.0
    max_backoff_s: float = 6 * 3600.0
    max_floor_s: float = 24 * 3600.0
    max_retry_after_s: float = 24 * 3600.0


def _jittered(delay: float, jitter: float, rand: Callable[[], float]) -> float:
    if jitter <= 0:
        return delay
    return max(0.0, delay * (1.0 + jitter * (2.0 * rand() - 1.0)))


def initial_delay(
    interval: float, policy: SchedulePolicy, rand: Callable[[], float] = random.random
) -> float:
    """Delay before a source's first poll, spread over ``initial_spread_s`` so that start-up is no burst."""
    return rand() * min(interval, policy.initial_spread_s)


def next_delay(
    interval: float,
    *,
    failures: int,
    policy: SchedulePolicy,
    floor_s: float | None = None,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds until the next poll of a source polled every ``interval`` seconds.

    ``failures`` is the number of failed polls in a row (0 after a success).
    """
    base = max(interval, min(floor_s or 0.0, policy.max_floor_s))
    if failures > 0:
        backoff = min(interval * 2.0 ** min(failures, 32), max(policy.max_backoff_s, interval))
        base = max(base, backoff)
    delay = _jittered(base, policy.jitter, rand)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, policy.max_retry_after_s))
    return delay
