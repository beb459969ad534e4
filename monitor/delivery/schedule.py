"""When a digest is due: daily or weekly at a local time of an IANA time zone. Pure (zoneinfo only)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.delivery.subscription import DigestDelivery


def _local_instant(day: date, schedule: DigestDelivery, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``schedule.at`` on local ``day``.

    A wall time skipped by a DST change (spring forward) is moved forward by the gap; a repeated one
    (fall back) is taken at its first occurrence.
    """
    # PEP 495: with fold=0 a skipped time takes the offset from before the gap (so it lands after
    # the gap) and a repeated time is its first occurrence.
    return datetime.combine(day, schedule.at, tzinfo=zone).replace(fold=0).astimezone(UTC)


def next_digest_at(schedule: DigestDelivery, after: datetime) -> datetime:
    """The first scheduled instant strictly after ``after`` (an aware datetime), in UTC."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    zone = ZoneInfo(schedule.timezone)
    day = after.astimezone(zone).date() - timedelta(days=1)
    for _ in range(16):
        if schedule.frequency == "daily" or day.weekday() == schedule.weekday:
            candidate = _local_instant(day, schedule, zone)
            if candidate > after:
                return candidate
        day += timedelta(days=1)
    raise AssertionError("unreachable: a week always contains the weekday")  # pragma: no cover


def digest_period_start(schedule: DigestDelivery, end: datetime) -> datetime:
    """The nominal start of the period that ends at ``end`` (one day or one week before)."""
    return end - timedelta(days=1 if schedule.frequency == "daily" else 7)
