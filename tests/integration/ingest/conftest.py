"""Fixtures of the ingest integration tests: a scripted local HTTP server, a client session, waiting.

Tests get everything through fixtures (pytest runs with ``--import-mode=importlib``, so this module
is not importable by name); the classes are named here for the type annotations of the tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

FEEDS = Path(__file__).resolve().parents[2] / "data" / "feeds"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    started: float
    ended: float = 0.0


@dataclass
class FeedServer:
    """Routes paths to scripted handlers and records every request."""

    server: TestServer | None = None
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def serve_file(
        self, path: str, name: str, content_type: str = "application/rss+xml", **headers: str
    ) -> None:
        body = (FEEDS / name).read_bytes()

        async def handler(_: web.Request) -> web.Response:
            return web.Response(body=body, content_type=content_type, headers=headers)

        self.route(path, handler)

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        seen = Seen(request.path, dict(request.headers), loop.time())
        self.requests.append(seen)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            handler = self.routes.get(request.path)
            if handler is None:
                return web.Response(status=404)
            return await handler(request)
        finally:
            self.in_flight -= 1
            seen.ended = loop.time()


async def eventually(condition: Callable[[], bool], timeout: float = 5.0, message: str = "condition") -> None:
    """Poll ``condition`` until it holds or ``timeout`` passes (then raise AssertionError)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A started :class:`FeedServer` on 127.0.0.1."""
    feed_server = FeedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", feed_server.dispatch)
    feed_server.server = TestServer(app, host="127.0.0.1")
    await feed_server.server.start_server()
    try:
        yield feed_server
    finally:
        await feed_server.server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One client session per test, as the service builds one at start-up."""
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    """:func:`eventually` as a fixture."""
    return eventually


@pytest.fixture
def feeds() -> Path:
    """The folder of real-world-shaped feed files."""
    return FEEDS
