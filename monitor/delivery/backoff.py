"""When to try a failed delivery again, and when to give up. Pure: the random source is passed in."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with jitter, bounded by a retry period (after which a delivery is dead)."""

    initial_s: float = 1.0
    maximum_s: float = 600.0
    multiplier: float = 2.0
    jitter: float = 0.2
    period_s: float = 24 * 3600.0
    max_retry_after_s: float = 3600.0

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first attempt).

        A receiver's ``Retry-After`` (capped at ``max_retry_after_s``) is honoured when it asks for
        longer than the backoff; otherwise the delay is ``initial * multiplier**(attempt-1)``, capped at
        ``maximum_s`` and spread by +/- ``jitter`` so that many failed deliveries do not retry in lockstep.
        """
        base = min(self.maximum_s, self.initial_s * self.multiplier ** max(0, attempt - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        delay = max(0.0, base * (1.0 + spread))
        if retry_after is not None:
            delay = max(delay, min(max(0.0, retry_after), self.max_retry_after_s))
        return delay

    def next_attempt(
        self,
        *,
        started: datetime,
        now: datetime,
        attempt: int,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """When to try again after failed attempt ``attempt``, or None when the period is over.

        The last retry is pulled in to the end of the period, so that a receiver that recovers just
        before the deadline still gets the message.
        """
        deadline = started + timedelta(seconds=self.period_s)
        if now >= deadline:
            return None
        return min(now + timedelta(seconds=self.delay(attempt, retry_after=retry_after, rng=rng)), deadline)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
