"""The SSRF guard: receivers must not resolve to loopback, link-local, private or metadata addresses.

Checked when a subscription is created (a 400 naming the field) and again before every send,
because DNS can change between the two. ``allowed`` (``DeliverySettings.allow_private_networks``)
lists the networks that are let through all the same.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

from monitor.errors import InputError

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
#: Resolves (host, port) to IP address strings.
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: Cloud metadata services, named so that the refusal says why.
METADATA_ADDRESSES = frozenset(
    {
        ip_address("169.254.169.254"),
        ip_address("169.254.170.2"),
        ip_address("100.100.100.200"),
        ip_address("fd00:ec2::254"),
    }
)


class UnsafeUrlError(InputError):
    """A receiver URL resolves to an address that the SSRF guard refuses (or does not resolve)."""


class UnresolvableHostError(UnsafeUrlError):
    """The receiver's host does not resolve (perhaps only for now: senders retry it)."""


def forbidden_reason(address: Address, allowed: Sequence[Network] = ()) -> str | None:
    """Why ``address`` may not be a receiver (``"loopback"``, ``"private"`` ...), or None when it may."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address.version == net.version and address in net for net in allowed):
        return None
    if address in METADATA_ADDRESSES:
        return "metadata"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"
    return None


async def system_resolve(host: str, port: int) -> list[str]:
    """Resolve with the system resolver, as the HTTP client will."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def check_url(
    url: str, allowed: Sequence[Network] = (), *, resolve: Resolver = system_resolve
) -> list[Address]:
    """Resolve ``url``'s host and refuse it when any address is forbidden; return the addresses."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeUrlError(f"{url!r} is not an absolute http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses: list[Address] = [ip_address(host)]
    except ValueError:
        try:
            addresses = [ip_address(a.split("%", 1)[0]) for a in await resolve(host, port)]
        except OSError as err:
            raise UnresolvableHostError(f"host {host!r} does not resolve: {err}") from err
    if not addresses:
        raise UnresolvableHostError(f"host {host!r} does not resolve")
    for address in addresses:
        reason = forbidden_reason(address, allowed)
        if reason:
            raise UnsafeUrlError(
                f"host {host!r} resolves to {address}, a {reason} address; "
                "allow its network in delivery.allow_private_networks to use it"
            )
    return addresses
