"""Backoff: growth, cap, jitter, Retry-After, the retry period."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from monitor.delivery.backoff import BackoffPolicy, parse_retry_after

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_exponential_growth_is_capped() -> None:
    policy = BackoffPolicy(initial_s=1, maximum_s=10, multiplier=2, jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_jitter_stays_within_bounds_and_varies() -> None:
    policy = BackoffPolicy(initial_s=10, maximum_s=100, jitter=0.2)
    rng = random.Random(7)
    delays = [policy.delay(1, rng=rng) for _ in range(200)]
    assert all(8 <= d <= 12 for d in delays)
    assert len(set(delays)) > 100


def test_retry_after_is_honoured_but_capped() -> None:
    policy = BackoffPolicy(initial_s=1, jitter=0, max_retry_after_s=60)
    assert policy.delay(1, retry_after=30) == 30
    assert policy.delay(1, retry_after=10_000) == 60
    assert policy.delay(5, retry_after=0) == 16  # the backoff when it is longer


def test_next_attempt_is_pulled_in_to_the_deadline_then_none() -> None:
    policy = BackoffPolicy(initial_s=100, jitter=0, period_s=150)
    assert policy.next_attempt(started=NOW, now=NOW, attempt=1) == NOW + timedelta(seconds=100)
    late = NOW + timedelta(seconds=120)
    assert policy.next_attempt(started=NOW, now=late, attempt=2) == NOW + timedelta(seconds=150)
    assert policy.next_attempt(started=NOW, now=NOW + timedelta(seconds=150), attempt=3) is None


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Sun, 01 Jun 2025 12:01:00 GMT", NOW) == 60
    assert parse_retry_after("Sun, 01 Jun 2025 11:00:00 GMT", NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
