"""The push endpoint: ``POST /api/v1/ingest`` for partners and scripts that send documents to us.

Body: one JSON document, a JSON array of documents, or ``{"documents": [...]}``. Answers:

- 202 ``{"ids": [...]}`` when every document is valid (they are published as one batch);
- 400 ``{"error": ..., "details": [{"index", "field", "reason"}]}`` for invalid JSON or documents
  (nothing is published then);
- 401 without the bearer token or with a wrong one (and when no token is configured: the endpoint
  is closed by default);
- 413 over ``max_bytes``; 503 when publishing fails.

The auth check is :func:`authorised`, a small function that API keys can replace.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from monitor.api.auth import API_KEYS_KEY, require_scope
from monitor.ingest.payload import json_limit_reason, validate_batch
from monitor.observability.metrics import Metrics
from monitor.records import Document

__all__ = ["INGEST_PATH", "MAX_BATCH", "PUSH_SOURCE", "authorised", "install_ingest_routes"]

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"
#: Source of pushed documents that do not name one.
PUSH_SOURCE = "push"
#: Documents accepted in one request.
MAX_BATCH = 1_000

Publish = Callable[[list[Document]], Awaitable[None]]


def authorised(header: str | None, token: SecretStr | None) -> bool:
    """True when the ``Authorization`` header carries ``Bearer <token>``, compared in constant time.

    With no token configured nothing is authorised.
    """
    if token is None or not token.get_secret_value() or not header:
        return False
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode("utf-8"), token.get_secret_value().encode("utf-8"))


def _error(
    status: int,
    error: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"error": error}
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=status, headers=headers)


async def _read_bounded(request: web.Request, max_bytes: int) -> bytes | None:
    if request.content_length is not None and request.content_length > max_bytes:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def install_ingest_routes(
    app: web.Application,
    *,
    publish: Publish,
    token: SecretStr | None,
    metrics: Metrics,
    max_bytes: int,
) -> None:
    """Add ``POST /api/v1/ingest`` to ``app``: bearer-token guarded, validated, size-limited."""

    def reject(reason: str) -> None:
        metrics.inputs_rejected.labels("push", reason).inc()

    async def ingest(request: web.Request) -> web.Response:
        if not authorised(request.headers.get("Authorization"), token):
            if API_KEYS_KEY not in request.app:
                reject("unauthorized")
                return _error(401, "unauthorized", headers={"WWW-Authenticate": 'Bearer realm="ingest"'})
            try:
                # An API key with the ``ingest`` scope (``monitor keys create NAME --scope ingest``).
                await require_scope(request, "ingest")
            except web.HTTPException:
                reject("unauthorized")
                raise
        raw = await _read_bounded(request, max_bytes)
        if raw is None:
            reject("too_large")
            detail = {"index": None, "field": "(body)", "reason": f"over the limit of {max_bytes} bytes"}
            return _error(413, f"request body over {max_bytes} bytes", [detail])
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            reject("invalid_json")
            return _error(
                400, "invalid JSON", [{"index": None, "field": "(body)", "reason": f"invalid UTF-8: {err}"}]
            )
        except json.JSONDecodeError as err:
            reject("invalid_json")
            reason = f"{err.msg} at line {err.lineno} column {err.colno}"
            return _error(400, "invalid JSON", [{"index": None, "field": "(body)", "reason": reason}])
        except (ValueError, RecursionError) as err:  # an integer over 4300 digits, nesting too deep
            reject("invalid_json")
            detail = {"index": None, "field": "(body)", "reason": json_limit_reason(err)}
            return _error(400, "invalid JSON", [detail])
        if isinstance(data, dict) and "documents" in data:
            data = data["documents"]
            if not isinstance(data, list):
                reject("invalid")
                detail = {"index": None, "field": "documents", "reason": "must be a list"}
                return _error(400, "invalid document", [detail])
        items = data if isinstance(data, list) else [data]
        if not items:
            reject("invalid")
            return _error(
                400, "invalid document", [{"index": None, "field": "documents", "reason": "empty batch"}]
            )
        if len(items) > MAX_BATCH:
            reject("invalid")
            detail = {"index": None, "field": "documents", "reason": f"more than {MAX_BATCH} documents"}
            return _error(400, "invalid document", [detail])
        documents, errors = validate_batch(items, PUSH_SOURCE)
        if errors:
            reject("invalid")
            return _error(400, "invalid document", [e.as_dict() for e in errors])
        try:
            await publish(documents)
        except Exception:  # the push stage's one catch: the client is told to retry
            log.exception("publishing %d pushed documents failed", len(documents))
            return _error(
                503, "could not accept the documents now; retry later", headers={"Retry-After": "5"}
            )
        metrics.documents.labels(PUSH_SOURCE, "produced").inc(len(documents))
        return web.json_response({"ids": [d.id for d in documents]}, status=202)

    app.router.add_post(INGEST_PATH, ingest)
