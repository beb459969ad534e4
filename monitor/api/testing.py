"""Test support: a running :class:`Dispatcher` with the API served on a real loopback port."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor.api.app import ApiDeps, create_app
from monitor.api.deps import DeliveryApiDeps
from monitor.api.keys import create_key
from monitor.api.routes import delivery_routes
from monitor.delivery.dispatcher import Dispatcher
from monitor.delivery.testing import bound_port, fast_settings
from monitor.observability.metrics import Metrics
from monitor.records import DeadLetter
from monitor.store.sql import SqlAlertStore


@dataclass
class Harness:
    """A dispatcher, the API on ``base_url``, one key per scope, the dead letters produced."""

    store: SqlAlertStore
    dispatcher: Dispatcher
    metrics: Metrics
    settings: Any
    base_url: str
    http: aiohttp.ClientSession
    keys: dict[str, str] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def auth(self, scope: str = "admin") -> dict[str, str]:
        """The Authorization header of the key with ``scope``."""
        return {"Authorization": f"Bearer {self.keys[scope]}"}

    async def create_subscription(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a subscription; assert 201."""
        async with self.http.post(
            f"{self.base_url}/api/v1/subscriptions", json=body, headers=self.auth()
        ) as r:
            data: dict[str, Any] = await r.json()
            assert r.status == 201, data
            return data

    async def get(self, path: str, scope: str = "admin") -> Any:
        """GET a JSON resource; assert 200."""
        async with self.http.get(f"{self.base_url}{path}", headers=self.auth(scope)) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def close(self) -> None:
        """Stop everything, last started first."""
        for close in reversed(self.closers):
            await close()
        self.closers.clear()


async def start_harness(store: SqlAlertStore, **overrides: Any) -> Harness:
    """Start a dispatcher and the API (on 127.0.0.1, a free port) over ``store``."""
    settings = fast_settings(**overrides)
    metrics = Metrics(CollectorRegistry())
    http = aiohttp.ClientSession()
    harness = Harness(store, None, metrics, settings, "", http)  # type: ignore[arg-type]
    harness.closers.append(http.close)

    async def on_dead(letter: DeadLetter) -> None:
        harness.dead_letters.append(letter)

    dispatcher = Dispatcher(store, http, metrics, settings, on_dead)
    harness.dispatcher = dispatcher
    await dispatcher.start()
    harness.closers.append(dispatcher.stop)
    api_deps = DeliveryApiDeps(store=store, feed=dispatcher.feed, metrics=metrics, settings=settings)

    async def ready() -> tuple[bool, list[str]]:
        ok = await store.ping()
        return ok, [] if ok else ["store unreachable"]

    app = create_app(ApiDeps(metrics=metrics, readiness=ready, route_installers=[delivery_routes(api_deps)]))
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    harness.closers.append(runner.cleanup)
    harness.base_url = f"http://127.0.0.1:{bound_port(site)}"
    for scope in ("read", "ingest", "admin"):
        key, _ = await create_key(store, f"test-{scope}-{uuid.uuid4().hex[:6]}", [scope])
        harness.keys[scope] = key
    return harness
