"""JSON error answers of the API: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

_STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    415: web.HTTPUnsupportedMediaType,
    503: web.HTTPServiceUnavailable,
}


def api_error(
    status: int, code: str, message: str, *, field: str | None = None, headers: dict[str, str] | None = None
) -> web.HTTPException:
    """An exception to raise that answers with the JSON error body."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return _STATUS[status](
        text=json.dumps({"error": error}), content_type="application/json", headers=headers
    )


def validation_error(err: ValidationError) -> web.HTTPException:
    """A 400 naming the first invalid field (``channel.url``, ``delivery.timezone`` ...)."""
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    # Drop the discriminator tags pydantic puts in the path (channel.webhook.url -> channel.url).
    tags = {"webhook", "slack", "teams", "alertmanager", "immediate", "digest"}
    loc = [
        p for i, p in enumerate(loc) if not (i > 0 and p in tags and loc[i - 1] in ("channel", "delivery"))
    ]
    # No location: pydantic could not read the body itself (a key holding a lone surrogate).
    field = ".".join(loc) or "(body)"
    return api_error(400, "invalid", f"{field}: {first['msg']}", field=field)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/415."""
    if request.content_type != "application/json":
        raise api_error(415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise api_error(400, "invalid_json", f"the body is not valid JSON: {err}", field="(body)") from err
    except (ValueError, RecursionError) as err:  # an integer over 4300 digits, nesting too deep
        reason = "nested too deeply" if isinstance(err, RecursionError) else f"a number is too large ({err})"
        raise api_error(400, "invalid_json", f"the body is not valid JSON: {reason}", field="(body)") from err
    if not isinstance(body, dict):
        raise api_error(400, "invalid", "the body must be a JSON object", field="(body)")
    return body
