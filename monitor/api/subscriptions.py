"""``/api/v1/subscriptions``: create, list, read, patch and delete (scope ``admin``).

Receiver URLs pass the SSRF guard at creation (a 400 naming ``channel.url``). A webhook's secret is
generated when omitted and shown only in the answer to the POST (or to a PATCH that sets it).
A refused body (400 or 415) is counted in ``monitor_input_rejected_total{kind="api", reason=<code>}``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from monitor.api import params
from monitor.api.auth import require_scope
from monitor.api.deps import DeliveryApiDeps, deps_of
from monitor.api.errors import api_error, read_json_object, validation_error
from monitor.delivery.signing import generate_secret
from monitor.delivery.ssrf import UnsafeUrlError, check_url
from monitor.delivery.subscription import SubscriptionSpec, WebhookChannel
from monitor.store.base import SubscriptionRecord


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def subscription_view(record: SubscriptionRecord, *, show_secret: bool = False) -> dict[str, Any]:
    """A subscription as the API shows it; the webhook secret only when ``show_secret``."""
    spec = record.spec.model_dump(mode="json")
    channel = spec["channel"]
    if channel.get("type") == "webhook":
        channel["secret_set"] = bool(channel.get("secret"))
        if not show_secret:
            channel.pop("secret", None)
    if record.disabled_reason:
        state = "disabled"
    elif not record.spec.enabled:
        state = "paused"
    else:
        state = "active"
    return {
        "id": record.id,
        **spec,
        "state": state,
        "disabled_reason": record.disabled_reason,
        "disabled_at": _iso(record.disabled_at),
        "next_digest_at": _iso(record.next_digest_at),
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
    }


async def _guard(deps: DeliveryApiDeps, spec: SubscriptionSpec) -> None:
    try:
        await check_url(spec.channel.url, deps.settings.allow_private_networks, resolve=deps.resolve)
    except UnsafeUrlError as err:
        raise api_error(400, "unsafe_url", f"channel.url: {err}", field="channel.url") from err
    except ValueError as err:  # the resolver's IDNA encoding refuses the host ("a..b", a 64-letter label)
        message = f"channel.url: host is not a valid domain name: {err}"
        raise api_error(400, "unsafe_url", message, field="channel.url") from err


def _count_rejected(deps: DeliveryApiDeps, err: web.HTTPException) -> None:
    """Count a refused request body in ``monitor_input_rejected_total{kind="api", reason=<error code>}``."""
    try:
        code = str(json.loads(err.text or "{}")["error"]["code"])
    except (ValueError, KeyError, TypeError):
        code = "invalid"
    deps.metrics.inputs_rejected.labels("api", code).inc()


async def _validated(request: web.Request, deps: DeliveryApiDeps) -> SubscriptionSpec:
    """The POST body as a guarded :class:`SubscriptionSpec`; a 400/415 (counted) when it is not one."""
    try:
        body = await read_json_object(request)
        try:
            spec = SubscriptionSpec.model_validate(body)
        except ValidationError as err:
            raise validation_error(err) from err
        await _guard(deps, spec)
    except web.HTTPException as err:
        _count_rejected(deps, err)
        raise
    return spec


def _with_secret(spec: SubscriptionSpec) -> tuple[SubscriptionSpec, bool]:
    if isinstance(spec.channel, WebhookChannel) and spec.channel.secret is None:
        channel = spec.channel.model_copy(update={"secret": generate_secret()})
        return spec.model_copy(update={"channel": channel}), True
    return spec, False


async def create_subscription(request: web.Request) -> web.Response:
    """POST /api/v1/subscriptions."""
    await require_scope(request, "admin")
    deps = deps_of(request)
    spec = await _validated(request, deps)
    spec, _ = _with_secret(spec)
    record = await deps.store.create_subscription(spec, now=deps.clock())
    return web.json_response(
        subscription_view(record, show_secret=True),
        status=201,
        headers={"Location": f"/api/v1/subscriptions/{record.id}"},
    )


async def list_subscriptions(request: web.Request) -> web.Response:
    """GET /api/v1/subscriptions."""
    await require_scope(request, "admin")
    deps = deps_of(request)
    try:
        page = await deps.store.list_subscriptions(
            limit=params.limit(request.query, default=100, maximum=1000), cursor=request.query.get("cursor")
        )
    except ValueError as err:
        raise api_error(400, "invalid", "cursor: invalid cursor", field="cursor") from err
    return web.json_response(
        {"items": [subscription_view(s) for s in page.items], "next_cursor": page.next_cursor}
    )


async def _found(deps: DeliveryApiDeps, request: web.Request) -> SubscriptionRecord:
    sub_id = request.match_info["id"]
    record = await deps.store.get_subscription(sub_id)
    if record is None:
        raise api_error(404, "not_found", f"no subscription {sub_id!r}")
    return record


async def get_subscription(request: web.Request) -> web.Response:
    """GET /api/v1/subscriptions/{id}."""
    await require_scope(request, "admin")
    deps = deps_of(request)
    return web.json_response(subscription_view(await _found(deps, request)))


def _merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in patch.items():
        old = merged.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            # A changed channel type or delivery mode replaces the object; otherwise fields merge.
            kind = "type" if key == "channel" else "mode" if key == "delivery" else None
            if kind and value.get(kind, old.get(kind)) != old.get(kind):
                merged[key] = value
            else:
                merged[key] = {**old, **value}
        else:
            merged[key] = value
    return merged


async def patch_subscription(request: web.Request) -> web.Response:
    """PATCH /api/v1/subscriptions/{id}: merge the given fields; ``enabled: true`` lifts a 410 disable."""
    await require_scope(request, "admin")
    deps = deps_of(request)
    record = await _found(deps, request)
    try:
        patch = await read_json_object(request)
        current = record.spec.model_dump(mode="json")
        try:
            spec = SubscriptionSpec.model_validate(_merge(current, patch))
        except ValidationError as err:
            raise validation_error(err) from err
        if spec.channel.url != record.spec.channel.url:
            await _guard(deps, spec)
    except web.HTTPException as err:
        _count_rejected(deps, err)
        raise
    spec, generated = _with_secret(spec)
    shown = generated or (isinstance(patch.get("channel"), dict) and "secret" in patch["channel"])
    updated = await deps.store.update_subscription(
        record.id, spec, now=deps.clock(), clear_disabled=patch.get("enabled") is True
    )
    if updated is None:
        raise api_error(404, "not_found", f"no subscription {record.id!r}")
    return web.json_response(subscription_view(updated, show_secret=bool(shown)))


async def delete_subscription(request: web.Request) -> web.Response:
    """DELETE /api/v1/subscriptions/{id}: its pending deliveries are cancelled."""
    await require_scope(request, "admin")
    deps = deps_of(request)
    sub_id = request.match_info["id"]
    if not await deps.store.delete_subscription(sub_id, now=deps.clock()):
        raise api_error(404, "not_found", f"no subscription {sub_id!r}")
    return web.Response(status=204)
