"""``/api/v1/deliveries``: delivery status, dead letters (``?status=dead``) and their replay."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from monitor.api import params
from monitor.api.auth import require_scope
from monitor.api.deps import deps_of
from monitor.api.errors import api_error, read_json_object
from monitor.delivery.replay import replay_dead_letters
from monitor.store.base import DELIVERY_STATUSES, AttemptRecord, DeliveryQuery, DeliveryRecord


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def delivery_view(d: DeliveryRecord) -> dict[str, Any]:
    """A delivery as the API shows it (without its body)."""
    return {
        "id": d.id,
        "subscription_id": d.subscription_id,
        "channel": d.channel_type,
        "message_id": d.message_id,
        "kind": d.kind,
        "alert_id": d.alert_id,
        "revision": d.revision,
        "status": d.status,
        "attempts": d.attempts,
        "created_at": _iso(d.created_at),
        "next_attempt_at": _iso(d.next_attempt_at),
        "first_attempt_at": _iso(d.first_attempt_at),
        "last_attempt_at": _iso(d.last_attempt_at),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "delivered_at": _iso(d.delivered_at),
        "dead_at": _iso(d.dead_at),
        "dead_reason": d.dead_reason,
    }


def _attempt_view(a: AttemptRecord) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "at": _iso(a.at),
        "outcome": a.outcome,
        "duration_s": round(a.duration_s, 6),
        "status_code": a.status_code,
        "error": a.error,
    }


async def list_deliveries(request: web.Request) -> web.Response:
    """GET /api/v1/deliveries?status=&subscription_id=&alert_id=&limit=&cursor=."""
    await require_scope(request, "read")
    deps = deps_of(request)
    statuses = params.multi(request.query, "status")
    bad = [s for s in statuses if s not in DELIVERY_STATUSES]
    if bad:
        raise api_error(
            400,
            "invalid",
            f"status: unknown {bad}; expected any of {list(DELIVERY_STATUSES)}",
            field="status",
        )
    query = DeliveryQuery(
        statuses=statuses,
        subscription_id=request.query.get("subscription_id") or None,
        alert_id=request.query.get("alert_id") or None,
    )
    try:
        page = await deps.store.list_deliveries(
            query, limit=params.limit(request.query), cursor=request.query.get("cursor")
        )
    except ValueError as err:
        raise api_error(400, "invalid", "cursor: invalid cursor", field="cursor") from err
    return web.json_response(
        {"items": [delivery_view(d) for d in page.items], "next_cursor": page.next_cursor}
    )


async def get_delivery(request: web.Request) -> web.Response:
    """GET /api/v1/deliveries/{id}: with its attempts and the message body."""
    await require_scope(request, "read")
    deps = deps_of(request)
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise api_error(404, "not_found", f"no delivery {raw!r}")
    delivery = await deps.store.get_delivery(int(raw))
    if delivery is None:
        raise api_error(404, "not_found", f"no delivery {raw!r}")
    view = delivery_view(delivery)
    view["attempts_log"] = [_attempt_view(a) for a in await deps.store.list_attempts(delivery.id)]
    try:
        view["body"] = json.loads(delivery.body)
    except ValueError:
        view["body"] = delivery.body.decode("utf-8", "replace")
    return web.json_response(view)


async def replay_deliveries(request: web.Request) -> web.Response:
    """POST /api/v1/deliveries/replay ``{"subscription_id"?, "ids"?}``: dead letters are sent again."""
    await require_scope(request, "admin")
    deps = deps_of(request)
    body = await read_json_object(request) if request.can_read_body else {}
    sub_id = body.get("subscription_id")
    ids = body.get("ids", [])
    if sub_id is not None and not isinstance(sub_id, str):
        raise api_error(400, "invalid", "subscription_id: must be a string", field="subscription_id")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise api_error(400, "invalid", "ids: must be a list of delivery ids", field="ids")
    replayed = await replay_dead_letters(
        deps.store, subscription_id=sub_id, delivery_ids=ids, now=deps.clock()
    )
    return web.json_response({"replayed": len(replayed), "ids": [d.id for d in replayed]})
