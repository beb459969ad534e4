"""Digest schedules in IANA time zones, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from monitor.delivery.schedule import next_digest_at
from monitor.delivery.subscription import DigestDelivery


def test_daily_at_local_time() -> None:
    s = DigestDelivery(frequency="daily", at=time(9, 0), timezone="Europe/Paris")
    # 07:00 UTC is 09:00 in Paris in summer (UTC+2): strictly after, so the next day.
    assert next_digest_at(s, datetime(2025, 7, 1, 7, 0, tzinfo=UTC)) == datetime(2025, 7, 2, 7, 0, tzinfo=UTC)
    assert next_digest_at(s, datetime(2025, 7, 1, 6, 59, tzinfo=UTC)) == datetime(
        2025, 7, 1, 7, 0, tzinfo=UTC
    )
    # In winter (UTC+1).
    assert next_digest_at(s, datetime(2025, 1, 10, 12, tzinfo=UTC)) == datetime(2025, 1, 11, 8, 0, tzinfo=UTC)


def test_weekly_on_a_weekday() -> None:
    s = DigestDelivery(frequency="weekly", at=time(8, 30), timezone="America/New_York", weekday=0)
    # Wednesday 2025-07-02 -> Monday 2025-07-07 08:30 EDT = 12:30 UTC.
    assert next_digest_at(s, datetime(2025, 7, 2, tzinfo=UTC)) == datetime(2025, 7, 7, 12, 30, tzinfo=UTC)


def test_dst_gap_and_overlap() -> None:
    gap = DigestDelivery(at=time(2, 30), timezone="Europe/Paris")
    # 2025-03-30 02:30 does not exist in Paris: it is taken after the gap (03:30 CEST = 01:30 UTC).
    got = next_digest_at(gap, datetime(2025, 3, 29, 12, tzinfo=UTC))
    assert got == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    overlap = DigestDelivery(at=time(2, 30), timezone="Europe/Paris")
    # 2025-10-26 02:30 happens twice: the first one (CEST, 00:30 UTC).
    got = next_digest_at(overlap, datetime(2025, 10, 25, 12, tzinfo=UTC))
    assert got == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)


def test_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError):
        next_digest_at(DigestDelivery(), datetime(2025, 1, 1))
