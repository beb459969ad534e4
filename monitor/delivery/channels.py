"""Sending one message over HTTP (aiohttp), and telling success from retryable and final failures.

Every channel is an HTTP POST of a JSON body: :func:`send` raises :class:`DeliveryError` with
``retryable`` set for timeouts, connection errors, 408, 429 (with ``Retry-After``) and 5xx, and
:class:`EndpointGone` for 410, after which the subscription's endpoint is disabled. Redirects are
not followed (a redirect could lead past the SSRF guard); they count as final failures.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from monitor.delivery.backoff import parse_retry_after
from monitor.delivery.ssrf import Network, forbidden_reason
from monitor.errors import DeliveryError

USER_AGENT = "critical-minerals-monitor-delivery/0.1"
#: At most this much of a receiver's answer is read (for the error message).
_MAX_ERROR_BODY = 512


class ReceiverError(DeliveryError):
    """The receiver answered with a non-2xx HTTP ``status``."""

    def __init__(
        self, message: str, *, status: int, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after)
        self.status = status


class EndpointGone(ReceiverError):
    """The receiver answered 410 Gone: stop sending to this endpoint."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=410, retryable=False)


def classify(status: int, retry_after: str | None, reason: str = "", *, now: datetime | None = None) -> None:
    """Raise the :class:`DeliveryError` that an HTTP status means; return for 2xx."""
    if 200 <= status < 300:
        return
    text = f"HTTP {status}" + (f": {reason}" if reason else "")
    if status == 410:
        raise EndpointGone(text)
    if status in (408, 429) or status >= 500:
        wait = parse_retry_after(retry_after, now or datetime.now(UTC)) if status in (429, 503) else None
        raise ReceiverError(text, status=status, retryable=True, retry_after=wait)
    raise ReceiverError(text, status=status, retryable=False)


async def send(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], *, timeout_s: float
) -> int:
    """POST ``body`` to ``url``; return the 2xx status or raise :class:`DeliveryError`."""
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        async with session.post(
            url,
            data=body,
            headers=all_headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            snippet = ""
            if response.status >= 300:
                raw = await response.content.read(_MAX_ERROR_BODY)
                snippet = raw.decode("utf-8", "replace").strip().replace("\n", " ")
            else:
                await response.read()
            classify(response.status, response.headers.get("Retry-After"), snippet)
            return response.status
    except DeliveryError:
        raise
    except TimeoutError as err:
        raise DeliveryError(f"timed out after {timeout_s:g} s", retryable=True) from err
    except aiohttp.ClientError as err:
        raise DeliveryError(f"connection failed: {type(err).__name__}: {err}", retryable=True) from err
    except OSError as err:
        raise DeliveryError(f"connection failed: {err}", retryable=True) from err


class GuardedResolver(AbstractResolver):
    """A resolver that drops forbidden addresses, so the connection itself obeys the SSRF guard."""

    def __init__(self, allowed: Sequence[Network] = (), inner: AbstractResolver | None = None) -> None:
        self._allowed = list(allowed)
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        from ipaddress import ip_address

        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if forbidden_reason(ip_address(r["host"]), self._allowed) is None]
        if not kept:
            raise OSError(f"{host} resolves only to addresses refused by the SSRF guard")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def create_http_session(allowed: Sequence[Network] = (), **kwargs: Any) -> aiohttp.ClientSession:
    """An aiohttp session for delivery whose connector resolves through :class:`GuardedResolver`.

    (Literal IP hosts bypass resolvers; the dispatcher checks every URL before sending as well.)
    Must be called inside a running event loop.
    """
    asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allowed), limit=100, limit_per_host=10)
    return aiohttp.ClientSession(connector=connector, **kwargs)
