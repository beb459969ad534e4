"""API keys: ``Authorization: Bearer <key>`` with scopes ``read``, ``ingest`` and ``admin``.

Only a key's SHA-256 hash is stored (keys are 256-bit random tokens, so a fast hash is enough).
``admin`` implies every scope. :func:`require_scope` is the one check every guarded handler calls;
``/healthz``, ``/readyz`` and ``/metrics`` stay open.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Protocol

from aiohttp import web

from monitor.api.errors import api_error
from monitor.store.base import SCOPES, ApiKeyRecord

KEY_PREFIX = "cmm_"


class ApiKeyLookup(Protocol):
    """What authentication needs from the store."""

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash, or None."""


API_KEYS_KEY: web.AppKey[ApiKeyLookup] = web.AppKey("api_keys", ApiKeyLookup)
#: The caller's key, set on the request by :func:`require_scope`.
API_KEY_RECORD: web.RequestKey[ApiKeyRecord] = web.RequestKey("api_key", ApiKeyRecord)


def generate_key() -> str:
    """A new API key (shown once to its owner)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def install_auth(app: web.Application, keys: ApiKeyLookup) -> None:
    """Make :func:`require_scope` work in ``app`` (done by the delivery routes' installer)."""
    app[API_KEYS_KEY] = keys


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def require_scope(request: web.Request, scope: str) -> ApiKeyRecord:
    """Return the caller's key when it grants ``scope``; else raise 401 (no or unknown key) or 403."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    token = _bearer(request)
    challenge = {"WWW-Authenticate": f'Bearer realm="monitor", scope="{scope}"'}
    if token is None:
        raise api_error(
            401, "unauthorized", "an API key is required: Authorization: Bearer <key>", headers=challenge
        )
    try:
        keys = request.app[API_KEYS_KEY]
    except KeyError as err:
        raise RuntimeError("install_auth(app, store) was not called") from err
    digest = hash_key(token)
    record = await keys.find_api_key(digest)
    if record is None or record.revoked_at is not None:
        raise api_error(401, "unauthorized", "unknown or revoked API key", headers=challenge)
    if not record.allows(scope):
        raise api_error(
            403, "forbidden", f"this key lacks the {scope!r} scope (it has {sorted(record.scopes)})"
        )
    request[API_KEY_RECORD] = record
    return record
