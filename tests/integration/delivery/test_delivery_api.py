"""The HTTP API: authorization, alert filters and pagination, subscriptions, deliveries, OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from monitor.api.keys import create_key, format_keys, list_keys, revoke_key
from monitor.api.routes import OPENAPI_FILE
from monitor.api.testing import Harness
from monitor.delivery.testing import Receiver, make_alert
from monitor.errors import InputError

HarnessFactory = Callable[..., Awaitable[Harness]]


async def _status(
    h: Harness, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
) -> int:
    async with h.http.request(method, f"{h.base_url}{path}", headers=headers or {}, **kw) as resp:
        await resp.read()
        return resp.status


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v1/alerts", "read"),
        ("GET", "/api/v1/deliveries", "read"),
        ("GET", "/api/v1/subscriptions", "admin"),
        ("POST", "/api/v1/deliveries/replay", "admin"),
    ],
)
async def test_authorization(harness: Harness, method: str, path: str, scope: str) -> None:
    h = harness
    assert await _status(h, method, path) == 401
    assert await _status(h, method, path, {"Authorization": "Bearer cmm_not-a-key"}) == 401
    wrong = "ingest" if scope == "read" else "read"
    assert await _status(h, method, path, h.auth(wrong)) == 403
    assert await _status(h, method, path, h.auth(scope)) == 200
    assert await _status(h, method, path, h.auth("admin")) == 200  # admin implies all
    for open_path in ("/healthz", "/readyz", "/metrics", "/api/v1/openapi.yaml"):
        assert await _status(h, "GET", open_path) == 200


async def test_key_life_cycle(harness: Harness) -> None:
    h = harness
    key, record = await create_key(h.store, "ops", ["read"])
    assert key.startswith("cmm_") and record.scopes == {"read"}
    with pytest.raises(InputError):
        await create_key(h.store, "ops", ["read"])
    with pytest.raises(InputError):
        await create_key(h.store, "other", ["root"])
    assert await _status(h, "GET", "/api/v1/alerts", {"Authorization": f"Bearer {key}"}) == 200
    assert key not in format_keys(await list_keys(h.store))
    assert "ops" in format_keys(await list_keys(h.store))
    assert await revoke_key(h.store, "ops") is True
    assert await revoke_key(h.store, "ops") is False
    assert await _status(h, "GET", "/api/v1/alerts", {"Authorization": f"Bearer {key}"}) == 401


async def test_alert_filters_and_pagination(harness: Harness) -> None:
    h = harness
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(7):
        await h.dispatcher.handle(
            make_alert(
                id=f"li-{i}",
                minerals=["lithium"],
                countries=["CL"],
                imposing_country=None,
                severity="critical" if i % 2 else "low",
                updated_at=t0 + timedelta(days=i),
                raised_at=t0,
            )
        )
    await h.dispatcher.handle(make_alert(id="ga-1", measure="export_licence", updated_at=t0))
    seen: list[str] = []
    cursor = None
    while True:
        path = "/api/v1/alerts?mineral=lithium&limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = await h.get(path, scope="read")
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"li-{i}" for i in reversed(range(7))]  # latest change first, no repeats
    page = await h.get("/api/v1/alerts?severity=high&country=cl", scope="read")
    assert [a["id"] for a in page["items"]] == ["li-5", "li-3", "li-1"]
    page = await h.get("/api/v1/alerts?measure=export_licence", scope="read")
    assert [a["id"] for a in page["items"]] == ["ga-1"]
    since = (t0 + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    until = (t0 + timedelta(days=4)).isoformat().replace("+00:00", "Z")
    page = await h.get(f"/api/v1/alerts?mineral=lithium&since={since}&until={until}", scope="read")
    assert [a["id"] for a in page["items"]] == ["li-4", "li-3", "li-2"]
    for bad in ("severity=huge", "since=yesterday", "limit=0", "cursor=%%%", "measure=embargo"):
        assert await _status(h, "GET", f"/api/v1/alerts?{bad}", h.auth("read")) == 400


async def test_alert_detail_ack_and_resolve(harness: Harness) -> None:
    h = harness
    alert = make_alert(document_ids=["d1", "d2"], sources=["mofcom", "reuters"], urls=["https://a.example/1"])
    await h.dispatcher.handle(alert)
    view = await h.get(f"/api/v1/alerts/{alert.id}", scope="read")
    assert view["evidence"] == {
        "documents": ["d1", "d2"],
        "sources": ["mofcom", "reuters"],
        "urls": ["https://a.example/1"],
    }
    assert await _status(h, "GET", "/api/v1/alerts/nope", h.auth("read")) == 404
    assert await _status(h, "POST", f"/api/v1/alerts/{alert.id}/ack", h.auth("read")) == 403
    async with h.http.post(f"{h.base_url}/api/v1/alerts/{alert.id}/ack", headers=h.auth()) as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "acknowledged"
    assert h.metrics.open_alerts.labels(severity="high")._value.get() == 1
    # New evidence keeps the acknowledgement.
    await h.dispatcher.handle(make_alert(id=alert.id, revision=2, fingerprint=alert.fingerprint))
    assert (await h.get(f"/api/v1/alerts/{alert.id}", scope="read"))["status"] == "acknowledged"
    async with h.http.post(f"{h.base_url}/api/v1/alerts/{alert.id}/resolve", headers=h.auth()) as resp:
        assert (await resp.json())["status"] == "resolved"
    assert h.metrics.open_alerts.labels(severity="high")._value.get() == 0
    page = await h.get("/api/v1/alerts?status=resolved", scope="read")
    assert [a["id"] for a in page["items"]] == [alert.id]


async def test_subscription_crud_and_validation(harness: Harness, receiver: Receiver) -> None:
    h = harness
    body = {
        "name": "battery metals",
        "filters": {"minerals": ["Lithium", "cobalt"], "min_severity": "high", "countries": ["cl"]},
        "channel": {"type": "slack", "url": receiver.url},
        "delivery": {"mode": "digest", "frequency": "weekly", "at": "09:30", "timezone": "Europe/Paris"},
    }
    created = await h.create_subscription(body)
    assert created["filters"]["minerals"] == ["lithium", "cobalt"]
    assert created["state"] == "active" and created["next_digest_at"]
    sub_id = created["id"]
    assert (await h.get(f"/api/v1/subscriptions/{sub_id}"))["name"] == "battery metals"
    async with h.http.patch(
        f"{h.base_url}/api/v1/subscriptions/{sub_id}",
        json={"name": "renamed", "filters": {"min_severity": "critical"}},
        headers=h.auth(),
    ) as resp:
        patched = await resp.json()
        assert resp.status == 200, patched
    assert patched["name"] == "renamed"
    assert patched["filters"]["min_severity"] == "critical"
    assert patched["filters"]["minerals"] == ["lithium", "cobalt"]  # merged, not replaced
    listed = await h.get("/api/v1/subscriptions")
    assert [s["id"] for s in listed["items"]] == [sub_id]
    assert await _status(h, "DELETE", f"/api/v1/subscriptions/{sub_id}", h.auth()) == 204
    assert await _status(h, "GET", f"/api/v1/subscriptions/{sub_id}", h.auth()) == 404

    async def error_of(payload: dict[str, Any]) -> dict[str, Any]:
        async with h.http.post(f"{h.base_url}/api/v1/subscriptions", json=payload, headers=h.auth()) as resp:
            assert resp.status == 400
            error: dict[str, Any] = (await resp.json())["error"]
            return error

    assert (await error_of({"name": "x", "channel": {"type": "webhook", "url": "ftp://x"}}))[
        "field"
    ] == "channel.url"
    bad_zone = {
        "name": "x",
        "channel": {"type": "teams", "url": receiver.url},
        "delivery": {"mode": "digest", "timezone": "Mars/Olympus"},
    }
    assert (await error_of(bad_zone))["field"] == "delivery.timezone"
    assert (
        await error_of(
            {
                "name": "x",
                "channel": {"type": "webhook", "url": receiver.url},
                "filters": {"measures": ["embargo"]},
            }
        )
    )["field"] == "filters.measures"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://127.0.0.2:1/hook",  # loopback outside the allowed 127.0.0.1/32
        "http://192.168.1.1/x",
    ],
)
async def test_ssrf_guard_refuses_private_receivers_with_400(harness: Harness, url: str) -> None:
    h = harness
    async with h.http.post(
        f"{h.base_url}/api/v1/subscriptions",
        json={"name": "x", "channel": {"type": "webhook", "url": url}},
        headers=h.auth(),
    ) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["code"] == "unsafe_url" and error["field"] == "channel.url"


async def test_openapi_documents_exactly_the_live_routes(harness: Harness) -> None:
    spec = yaml.safe_load(Path(OPENAPI_FILE).read_text(encoding="utf-8"))
    assert spec["openapi"].startswith("3.")
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    # Build the same application the harness serves, and read its router.
    from monitor.api.app import ApiDeps, create_app
    from monitor.api.deps import DeliveryApiDeps
    from monitor.api.routes import delivery_routes

    h = harness
    deps = DeliveryApiDeps(store=h.store, feed=h.dispatcher.feed, metrics=h.metrics, settings=h.settings)

    async def ready() -> tuple[bool, list[str]]:
        return True, []

    app: web.Application = create_app(ApiDeps(h.metrics, ready, [delivery_routes(deps)]))
    live = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    # Routes the service adds beside the delivery routes; tests/e2e/test_service_flow.py checks the
    # whole service's routes against the same document.
    service_routes = {
        ("POST", "/api/v1/ingest"),
        ("GET", "/api/v1/sources"),
        ("GET", "/api/v1/events"),
        ("POST", "/api/v1/rules/reload"),
    }
    assert live - documented == set(), "routes missing from openapi.yaml"
    assert documented - live == service_routes, "openapi.yaml documents routes the app does not serve"
    # Every guarded operation names its scope.
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if op.get("security"):
                assert "Scope:" in op.get("description", ""), (method, path)
