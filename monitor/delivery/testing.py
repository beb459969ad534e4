"""Test support for delivery: alerts, short settings, polling with a deadline, a real HTTP receiver.

Used by ``tests/`` (the test suite imports helpers from the package, as with ``monitor.rules.testing``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from monitor.delivery.settings import DeliverySettings
from monitor.records import Alert

_ids = itertools.count(1)


def make_alert(**fields: Any) -> Alert:
    """An alert with plausible defaults (gallium export ban by CN); ``id`` is unique unless given."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": f"alert-{next(_ids)}-{uuid.uuid4().hex[:6]}",
        "fingerprint": uuid.uuid4().hex,
        "rule": "export-ban",
        "severity": "high",
        "title": "China bans gallium exports",
        "measure": "export_ban",
        "direction": "tighten",
        "raised_at": now,
        "updated_at": now,
        "minerals": ["gallium"],
        "countries": ["CN"],
        "imposing_country": "CN",
        "document_ids": ["doc-1"],
        "sources": ["mofcom"],
        "urls": ["https://example.org/notice/1"],
        "summary": "MOFCOM announced an export ban.",
    }
    values.update(fields)
    return Alert(**values)


def fast_settings(**overrides: Any) -> DeliverySettings:
    """Delivery settings with short delays for tests; 127.0.0.1 is allowed as a receiver."""
    values: dict[str, Any] = {
        "retry_period_s": 30.0,
        "initial_backoff_s": 0.05,
        "max_backoff_s": 0.2,
        "jitter": 0.1,
        "poll_interval_s": 0.05,
        "request_timeout_s": 2.0,
        "allow_private_networks": ["127.0.0.1/32"],
        "digest_check_interval_s": 3600.0,
        "drain_timeout_s": 2.0,
        "sse_heartbeat_s": 0.5,
        "sse_poll_interval_s": 0.2,
        "public_base_url": "http://monitor.test",
    }
    values.update(overrides)
    return DeliverySettings.model_validate(values)


async def eventually(
    predicate: Callable[[], Awaitable[bool] | bool], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll ``predicate`` until it is true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@dataclass
class Receiver:
    """A real HTTP receiver on 127.0.0.1 whose answers a test controls; it can go down and come back
    up on the same port. ``script`` lists statuses to answer first, one per request."""

    port: int = 0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    script: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The webhook URL."""
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def base_url(self) -> str:
        """The server's root (Alertmanager channels append /api/v2/alerts)."""
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers.items()), body))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.script.pop(0) if self.script else self.status
        return web.Response(status=status, headers=self.headers if status >= 300 else None, text="ok")

    async def up(self) -> None:
        """Start serving (on the same port as before, if any)."""
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        app.router.add_post("/api/v2/alerts", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = bound_port(site)

    async def down(self) -> None:
        """Stop serving: connections are refused until :meth:`up`."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def bound_port(site: web.TCPSite) -> int:
    """The port a site listening on port 0 got."""
    server = site._server
    assert isinstance(server, asyncio.Server) and server.sockets, "the site is not started"
    return int(server.sockets[0].getsockname()[1])
