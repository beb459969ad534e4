"""The SSRF guard's address policy and URL check (with a fake resolver)."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from monitor.delivery.ssrf import UnresolvableHostError, UnsafeUrlError, check_url, forbidden_reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "reserved"),
        ("224.0.0.1", "multicast"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_forbidden_reason(address: str, reason: str | None) -> None:
    assert forbidden_reason(ip_address(address)) == reason


def test_allowed_networks_let_through() -> None:
    assert forbidden_reason(ip_address("10.1.2.3"), [ip_network("10.0.0.0/8")]) is None
    assert forbidden_reason(ip_address("10.1.2.3"), [ip_network("127.0.0.1/32")]) == "private"


async def test_check_url_resolves_and_refuses() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return {"public.example": ["93.184.215.14"], "rebound.example": ["93.184.215.14", "10.0.0.1"]}[host]

    assert await check_url("https://public.example/hook", resolve=resolve) == [ip_address("93.184.215.14")]
    with pytest.raises(UnsafeUrlError, match=r"10\.0\.0\.1, a private address"):
        await check_url("https://rebound.example/hook", resolve=resolve)
    with pytest.raises(UnsafeUrlError):
        await check_url("http://169.254.169.254/latest", resolve=resolve)
    with pytest.raises(UnsafeUrlError):
        await check_url("file:///etc/passwd", resolve=resolve)

    async def fails(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(UnresolvableHostError, match="does not resolve"):
        await check_url("https://nowhere.example", resolve=fails)
