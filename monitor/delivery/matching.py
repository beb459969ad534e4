"""Which alerts a subscription or a query wants. Pure: records in, booleans out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitor.delivery.subscription import SubscriptionFilters
from monitor.records import Alert, severity_rank


def alert_countries(alert: Alert) -> set[str]:
    """The countries an alert concerns: its tagged countries plus the imposing and target countries."""
    out = {c.upper() for c in alert.countries}
    for extra in (alert.imposing_country, alert.target_country):
        if extra:
            out.add(extra.upper())
    return out


def _severity_at_least(alert: Alert, minimum: str) -> bool:
    try:
        return severity_rank(alert.severity) >= severity_rank(minimum)
    except ValueError:  # an unknown severity never passes a threshold above the lowest
        return minimum == "low"


def subscription_matches(filters: SubscriptionFilters, alert: Alert) -> bool:
    """True when ``alert`` passes every filter (empty filter lists match everything)."""
    if filters.minerals and not set(filters.minerals) & {m.lower() for m in alert.minerals}:
        return False
    if filters.countries and not set(filters.countries) & alert_countries(alert):
        return False
    if filters.measures and alert.measure not in filters.measures:
        return False
    if filters.directions and alert.direction not in filters.directions:
        return False
    return _severity_at_least(alert, filters.min_severity)


@dataclass(frozen=True)
class AlertQuery:
    """The filters of ``GET /api/v1/alerts`` and of the live stream; every field is optional.

    ``since`` and ``until`` bound the alert's ``updated_at`` (inclusive), so a window shows the
    alerts raised or updated in it.
    """

    minerals: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()
    min_severity: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    statuses: tuple[str, ...] = field(default=())

    def matches(self, alert: Alert, status: str | None = None) -> bool:
        """True when ``alert`` (with its stored ``status`` when given) passes the query."""
        if self.minerals and not set(self.minerals) & {m.lower() for m in alert.minerals}:
            return False
        if self.countries and not set(self.countries) & alert_countries(alert):
            return False
        if self.measures and alert.measure not in self.measures:
            return False
        if self.min_severity and not _severity_at_least(alert, self.min_severity):
            return False
        if self.since and alert.updated_at < self.since:
            return False
        if self.until and alert.updated_at > self.until:
            return False
        return not (self.statuses and (status or alert.status) not in self.statuses)
