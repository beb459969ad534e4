"""Build the worker's aiohttp application: ``/healthz``, ``/readyz``, ``/metrics`` and the API routes.

The application is made by :func:`create_app` from the settings and the collaborators it needs
(:class:`ApiDeps`); the stages register their own routes through the ``route_installers`` hooks,
so this module only wires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.observability.metrics import Metrics

#: Returns (ready, reasons-not-ready).
ReadinessCheck = Callable[[], Awaitable[tuple[bool, list[str]]]]
RouteInstaller = Callable[[web.Application], None]

METRICS_KEY: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


@dataclass
class ApiDeps:
    """What the HTTP layer needs from the running service."""

    metrics: Metrics
    readiness: ReadinessCheck
    route_installers: list[RouteInstaller] = field(default_factory=list)


def create_app(deps: ApiDeps, *, client_max_size: int = 2 * 1024 * 1024) -> web.Application:
    """Return the aiohttp application serving health, metrics and every installed route."""
    app = web.Application(client_max_size=client_max_size)
    app[METRICS_KEY] = deps.metrics

    async def healthz(_: web.Request) -> web.Response:
        # Liveness only: the process answers. Readiness says whether it can do its work.
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ready, reasons = await deps.readiness()
        body = {"status": "ready" if ready else "not ready", "reasons": reasons}
        return web.json_response(body, status=200 if ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        payload = generate_latest(deps.metrics.registry)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    for install in deps.route_installers:
        install(app)
    return app
