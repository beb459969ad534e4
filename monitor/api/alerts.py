"""``/api/v1/alerts``: list with filters and cursor pagination, one alert with its evidence, ack, resolve."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from monitor.api import params
from monitor.api.auth import require_scope
from monitor.api.deps import deps_of
from monitor.api.errors import api_error
from monitor.delivery.payload import alert_json, alert_url
from monitor.store.base import StoredAlert


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def alert_view(stored: StoredAlert, base_url: str) -> dict[str, Any]:
    """An alert as the API shows it: the record plus store metadata and links."""
    view = alert_json(stored.alert)
    view.update(
        {
            "seq": stored.seq,
            "stored_at": _iso(stored.stored_at),
            "acknowledged_at": _iso(stored.acknowledged_at),
            "resolved_at": _iso(stored.resolved_at),
            "links": {"self": alert_url(stored.alert.id, base_url)},
        }
    )
    return view


async def list_alerts(request: web.Request) -> web.Response:
    """GET /api/v1/alerts."""
    await require_scope(request, "read")
    deps = deps_of(request)
    query = params.alert_query(request)
    try:
        page = await deps.store.list_alerts(
            query, limit=params.limit(request.query), cursor=request.query.get("cursor")
        )
    except ValueError as err:
        raise api_error(400, "invalid", "cursor: invalid cursor", field="cursor") from err
    base = deps.settings.public_base_url
    return web.json_response(
        {"items": [alert_view(a, base) for a in page.items], "next_cursor": page.next_cursor}
    )


async def get_alert(request: web.Request) -> web.Response:
    """GET /api/v1/alerts/{id}: the alert with its evidence."""
    await require_scope(request, "read")
    deps = deps_of(request)
    alert_id = request.match_info["id"]
    stored = await deps.store.get_alert(alert_id)
    if stored is None:
        raise api_error(404, "not_found", f"no alert {alert_id!r}")
    view = alert_view(stored, deps.settings.public_base_url)
    rows = await deps.store.get_evidence(alert_id)
    view["evidence"] = {
        "documents": [r["value"] for r in rows if r["kind"] == "document"],
        "sources": [r["value"] for r in rows if r["kind"] == "source"],
        "urls": [r["value"] for r in rows if r["kind"] == "url"],
    }
    return web.json_response(view)


async def _set_status(request: web.Request, status: str) -> web.Response:
    await require_scope(request, "admin")
    deps = deps_of(request)
    alert_id = request.match_info["id"]
    stored = await deps.store.set_alert_status(alert_id, status, now=deps.clock())
    if stored is None:
        raise api_error(404, "not_found", f"no alert {alert_id!r}")
    deps.feed.publish()
    await deps.refresh_open_alerts()
    return web.json_response(alert_view(stored, deps.settings.public_base_url))


async def ack_alert(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/{id}/ack."""
    return await _set_status(request, "acknowledged")


async def resolve_alert(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/{id}/resolve."""
    return await _set_status(request, "resolved")
