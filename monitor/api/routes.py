"""The delivery stage's routes, installed into :func:`monitor.api.app.create_app` by
:func:`install_delivery_routes` (see :func:`delivery_routes` for a ``RouteInstaller``).

==========================================  ======  =====================================
route                                       scope   what
==========================================  ======  =====================================
GET    /api/v1/alerts                       read    list, filters, cursor pagination
GET    /api/v1/alerts/stream                read    Server-Sent Events, Last-Event-ID
GET    /api/v1/alerts/{id}                  read    one alert with its evidence
POST   /api/v1/alerts/{id}/ack              admin   acknowledge
POST   /api/v1/alerts/{id}/resolve          admin   resolve
POST   /api/v1/subscriptions                admin   create (SSRF-checked)
GET    /api/v1/subscriptions                admin   list
GET    /api/v1/subscriptions/{id}           admin   one
PATCH  /api/v1/subscriptions/{id}           admin   change, re-enable
DELETE /api/v1/subscriptions/{id}           admin   delete
GET    /api/v1/deliveries                   read    status, ``?status=dead`` for dead letters
GET    /api/v1/deliveries/{id}              read    one, with attempts and body
POST   /api/v1/deliveries/replay            admin   send dead letters again
GET    /api/v1/openapi.yaml                 -       this API's OpenAPI 3 description
==========================================  ======  =====================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from monitor.api import alerts, deliveries, stream, subscriptions
from monitor.api.auth import install_auth
from monitor.api.deps import DEPS_KEY, DeliveryApiDeps
from monitor.store.base import AlertStore

OPENAPI_FILE = Path(__file__).with_name("openapi.yaml")


async def openapi(_: web.Request) -> web.FileResponse:
    """GET /api/v1/openapi.yaml."""
    return web.FileResponse(OPENAPI_FILE, headers={"Content-Type": "application/yaml"})


def install_delivery_routes(app: web.Application, deps: DeliveryApiDeps) -> None:
    """Add the alert, subscription, delivery and stream routes and the API-key check to ``app``."""
    app[DEPS_KEY] = deps
    install_auth(app, deps.store)
    r = app.router
    r.add_get("/api/v1/openapi.yaml", openapi)
    r.add_get("/api/v1/alerts", alerts.list_alerts)
    r.add_get("/api/v1/alerts/stream", stream.alert_stream)  # before {id}
    r.add_get("/api/v1/alerts/{id}", alerts.get_alert)
    r.add_post("/api/v1/alerts/{id}/ack", alerts.ack_alert)
    r.add_post("/api/v1/alerts/{id}/resolve", alerts.resolve_alert)
    r.add_post("/api/v1/subscriptions", subscriptions.create_subscription)
    r.add_get("/api/v1/subscriptions", subscriptions.list_subscriptions)
    r.add_get("/api/v1/subscriptions/{id}", subscriptions.get_subscription)
    r.add_patch("/api/v1/subscriptions/{id}", subscriptions.patch_subscription)
    r.add_delete("/api/v1/subscriptions/{id}", subscriptions.delete_subscription)
    r.add_get("/api/v1/deliveries", deliveries.list_deliveries)
    r.add_post("/api/v1/deliveries/replay", deliveries.replay_deliveries)
    r.add_get("/api/v1/deliveries/{id}", deliveries.get_delivery)

    async def _close_streams(_: web.Application) -> None:
        deps.feed.close()  # live streams end, so that shutdown does not wait for them

    app.on_shutdown.append(_close_streams)


async def store_ready(store: AlertStore) -> tuple[bool, list[str]]:
    """A readiness check for the store, to combine into ``ApiDeps.readiness``."""
    ok = await store.ping()
    return ok, [] if ok else ["alert store unreachable"]


def delivery_routes(deps: DeliveryApiDeps) -> Callable[[web.Application], None]:
    """A ``RouteInstaller`` for ``ApiDeps.route_installers``."""

    def install(app: web.Application) -> None:
        install_delivery_routes(app, deps)

    return install
