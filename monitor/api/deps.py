"""What the delivery routes need, in one object stored on the application."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from monitor.delivery.feed import AlertFeed
from monitor.delivery.settings import DeliverySettings
from monitor.delivery.ssrf import Resolver, system_resolve
from monitor.observability.metrics import Metrics
from monitor.records import SEVERITIES
from monitor.store.base import AlertStore


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DeliveryApiDeps:
    """The store, the live feed (the dispatcher's), metrics and the delivery settings."""

    store: AlertStore
    feed: AlertFeed
    metrics: Metrics
    settings: DeliverySettings
    resolve: Resolver = system_resolve
    clock: Callable[[], datetime] = field(default=_utc_now)

    async def refresh_open_alerts(self) -> None:
        """Set the open-alerts gauge after a status change."""
        counts = await self.store.open_alerts_by_severity()
        for severity in SEVERITIES:
            self.metrics.open_alerts.labels(severity=severity).set(counts.get(severity, 0))


DEPS_KEY: web.AppKey[DeliveryApiDeps] = web.AppKey("delivery_api", DeliveryApiDeps)


def deps_of(request: web.Request) -> DeliveryApiDeps:
    """The deps installed by :func:`monitor.api.routes.install_delivery_routes`."""
    return request.app[DEPS_KEY]
