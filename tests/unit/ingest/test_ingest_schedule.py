"""Poll scheduling: jitter, server floors, backoff, Retry-After; and header parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.ingest.fetch import parse_max_age, parse_retry_after
from monitor.ingest.schedule import SchedulePolicy, initial_delay, next_delay

NO_JITTER = SchedulePolicy(jitter=0.0)


def test_success_polls_at_the_interval() -> None:
    assert next_delay(900, failures=0, policy=NO_JITTER) == 900


def test_jitter_stays_within_bounds() -> None:
    policy = SchedulePolicy(jitter=0.1)
    assert next_delay(100, failures=0, policy=policy, rand=lambda: 0.0) == pytest.approx(90)
    assert next_delay(100, failures=0, policy=policy, rand=lambda: 1.0) == pytest.approx(110)
    assert next_delay(100, failures=0, policy=policy, rand=lambda: 0.5) == pytest.approx(100)


def test_server_floor_raises_the_interval_but_is_capped() -> None:
    assert next_delay(60, failures=0, policy=NO_JITTER, floor_s=1800) == 1800
    assert next_delay(3600, failures=0, policy=NO_JITTER, floor_s=60) == 3600
    capped = SchedulePolicy(jitter=0.0, max_floor_s=7200)
    assert next_delay(60, failures=0, policy=capped, floor_s=10**9) == 7200


def test_backoff_doubles_and_is_capped_never_abandoned() -> None:
    policy = SchedulePolicy(jitter=0.0, max_backoff_s=3600)
    delays = [next_delay(300, failures=n, policy=policy) for n in range(1, 8)]
    assert delays[:3] == [600, 1200, 2400]
    assert delays[3:] == [3600] * 4
    assert next_delay(300, failures=10_000, policy=policy) == 3600


def test_backoff_never_below_the_interval_when_the_cap_is_small() -> None:
    policy = SchedulePolicy(jitter=0.0, max_backoff_s=60)
    assert next_delay(3600, failures=3, policy=policy) == 3600


def test_retry_after_is_honoured_and_capped() -> None:
    assert next_delay(60, failures=1, policy=NO_JITTER, retry_after=900) == 900
    assert next_delay(60, failures=1, policy=NO_JITTER, retry_after=5) == 120
    capped = SchedulePolicy(jitter=0.0, max_retry_after_s=3600)
    assert next_delay(60, failures=1, policy=capped, retry_after=10**7) == 3600


def test_initial_delay_spreads_start_up() -> None:
    policy = SchedulePolicy(initial_spread_s=10)
    assert initial_delay(900, policy, rand=lambda: 0.5) == 5
    assert initial_delay(4, policy, rand=lambda: 1.0) == 4
    assert initial_delay(900, SchedulePolicy(initial_spread_s=0)) == 0


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 01 Jan 2025 12:05:00 GMT", now=now) == 300
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("max-age=600", 600),
        ("public, max-age=3600, must-revalidate", 3600),
        ("s-maxage=5", None),
        ("no-store, max-age=600", None),
        ("no-cache", None),
        (None, None),
        ('max-age="60"', 60),
    ],
)
def test_parse_max_age(header: str | None, seconds: float | None) -> None:
    assert parse_max_age(header) == seconds
