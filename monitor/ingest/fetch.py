"""HTTP (and ``file:``) fetching for the connectors: bounded, polite, conditional.

- at most one request in flight per host, and at least ``min_host_gap_s`` between two requests to it;
- a total timeout, a size limit on the (decompressed) body, a bounded number of redirects;
- conditional GET with ``If-None-Match`` / ``If-Modified-Since``;
- failures raised as :class:`FetchError` with a bounded ``reason`` (the metric label) and the
  server's ``Retry-After`` when it gave one.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import aiohttp

from monitor.errors import MonitorError
from monitor.settings import IngestSettings

__all__ = [
    "FetchError",
    "FetchPolicy",
    "Fetcher",
    "HostGate",
    "Response",
    "fetch_policy",
    "parse_max_age",
    "parse_retry_after",
]


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one request and politeness towards a host."""

    user_agent: str = "critical-minerals-monitor/0.1"
    timeout_s: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    min_host_gap_s: float = 2.0


class FetchError(MonitorError):
    """A fetch failed. ``reason`` is one of timeout, http_4xx, http_5xx, connection, too_large, parse.

    ``status`` is the HTTP status when there was one; ``retry_after`` the delay in seconds the server
    asked for (429, 403 and 503 responses), when it gave one.
    """

    def __init__(
        self, reason: str, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Response:
    """A successful fetch. ``not_modified`` is true for a 304 answer (``body`` is then empty)."""

    url: str
    status: int
    body: bytes
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    max_age: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        """True when the server answered 304 Not Modified."""
        return self.status == 304


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def parse_max_age(cache_control: str | None) -> float | None:
    """``max-age`` of a ``Cache-Control`` header in seconds, or None (also for ``no-cache``/``no-store``)."""
    if not cache_control:
        return None
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return None
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None


class HostGate:
    """Per-host politeness: one request in flight per host and a minimum gap between requests."""

    def __init__(self, min_gap_s: float) -> None:
        self._min_gap = min_gap_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    def lock(self, host: str) -> asyncio.Lock:
        """The lock serialising requests to ``host``."""
        return self._locks.setdefault(host, asyncio.Lock())

    async def wait_turn(self, host: str) -> None:
        """Sleep until ``min_gap_s`` has passed since the last request to ``host`` ended (hold the lock)."""
        loop = asyncio.get_running_loop()
        last = self._last.get(host)
        if last is not None:
            delay = last + self._min_gap - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    def done(self, host: str) -> None:
        """Record that a request to ``host`` just ended."""
        self._last[host] = asyncio.get_running_loop().time()


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.lower() if parts.scheme in ("http", "https") else parts.scheme


class Fetcher:
    """Fetches URLs through one shared :class:`aiohttp.ClientSession` under a :class:`FetchPolicy`."""

    def __init__(
        self, session: aiohttp.ClientSession, policy: FetchPolicy, gate: HostGate | None = None
    ) -> None:
        self.session = session
        self.policy = policy
        self.gate = gate or HostGate(policy.min_host_gap_s)

    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
    ) -> Response:
        """GET ``url`` (http(s) or file), conditionally when ``etag``/``last_modified`` are given.

        Raises :class:`FetchError` on timeouts, connection errors, non-2xx/304 answers and oversize bodies.
        """
        if url.startswith("file:"):
            return await asyncio.to_thread(self._read_file, url, etag)
        request_headers = {"User-Agent": self.policy.user_agent, "Accept": accept}
        request_headers.update(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        host = _host(url)
        async with self.gate.lock(host):
            await self.gate.wait_turn(host)
            try:
                async with asyncio.timeout(self.policy.timeout_s):
                    return await self._get(url, request_headers)
            except TimeoutError as err:
                raise FetchError("timeout", f"no complete answer within {self.policy.timeout_s:g}s") from err
            finally:
                self.gate.done(host)

    async def _get(self, url: str, headers: dict[str, str]) -> Response:
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout_s)
        try:
            async with self.session.get(
                url,
                headers=headers,
                timeout=timeout,
                allow_redirects=True,
                max_redirects=self.policy.max_redirects,
            ) as resp:
                if resp.status == 304:
                    return Response(
                        url=str(resp.url),
                        status=304,
                        body=b"",
                        etag=resp.headers.get("ETag"),
                        last_modified=resp.headers.get("Last-Modified"),
                        max_age=parse_max_age(resp.headers.get("Cache-Control")),
                    )
                if resp.status >= 400 or resp.status < 200:
                    raise _status_error(resp.status, resp.headers)
                length = resp.content_length
                if length is not None and length > self.policy.max_bytes:
                    raise FetchError(
                        "too_large", f"body of {length} bytes over the {self.policy.max_bytes} limit"
                    )
                body = await self._read_bounded(resp)
                return Response(
                    url=str(resp.url),
                    status=resp.status,
                    body=body,
                    content_type=resp.headers.get("Content-Type"),
                    etag=resp.headers.get("ETag"),
                    last_modified=resp.headers.get("Last-Modified"),
                    max_age=parse_max_age(resp.headers.get("Cache-Control")),
                    headers=dict(resp.headers),
                )
        except TimeoutError:
            raise
        except aiohttp.TooManyRedirects as err:
            raise FetchError("http_4xx", f"more than {self.policy.max_redirects} redirects") from err
        except aiohttp.ClientResponseError as err:
            raise FetchError("connection", f"bad response: {err.message}", status=err.status) from err
        except (aiohttp.ClientError, OSError) as err:
            raise FetchError("connection", f"{type(err).__name__}: {err}") from err

    async def _read_bounded(self, resp: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.policy.max_bytes:
                raise FetchError("too_large", f"body over the {self.policy.max_bytes} bytes limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def _read_file(self, url: str, etag: str | None) -> Response:
        parts = urlsplit(url)
        path = Path(url2pathname(unquote(parts.path)))
        try:
            stat = path.stat()
            tag = '"' + hashlib.sha256(f"{stat.st_mtime_ns}:{stat.st_size}".encode()).hexdigest()[:16] + '"'
            if etag == tag:
                return Response(url=url, status=304, body=b"", etag=tag)
            if stat.st_size > self.policy.max_bytes:
                raise FetchError(
                    "too_large", f"{path}: {stat.st_size} bytes over the {self.policy.max_bytes} limit"
                )
            body = path.read_bytes()
        except OSError as err:
            raise FetchError("connection", f"{path}: {err.strerror or err}") from err
        return Response(url=url, status=200, body=body, etag=tag)


def _status_error(status: int, headers: Mapping[str, str]) -> FetchError:
    retry_after = parse_retry_after(headers.get("Retry-After")) if status in (403, 429, 503) else None
    reason = "http_5xx" if status >= 500 else "http_4xx"
    return FetchError(reason, f"HTTP {status}", status=status, retry_after=retry_after)


def fetch_policy(settings: IngestSettings, **overrides: Any) -> FetchPolicy:
    """The :class:`FetchPolicy` of the service's ingest settings (User-Agent ...), with ``overrides``."""
    return replace(FetchPolicy(user_agent=settings.user_agent), **overrides)
