"""``monitor keys create|list|revoke``: async functions over the store, wired into the CLI by the lead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from monitor.api.auth import generate_key, hash_key
from monitor.errors import InputError
from monitor.store.base import SCOPES, ApiKeyRecord


class KeyStore(Protocol):
    """The part of the store that keeps API keys."""

    async def create_api_key(
        self, name: str, scopes: Sequence[str], key_hash: str, *, now: datetime
    ) -> ApiKeyRecord: ...

    async def list_api_keys(self) -> list[ApiKeyRecord]: ...

    async def revoke_api_key(self, name: str, *, now: datetime) -> bool: ...


async def create_key(store: KeyStore, name: str, scopes: Sequence[str]) -> tuple[str, ApiKeyRecord]:
    """Create a key; return ``(key, record)``. Print the key once: only its hash is stored."""
    name = name.strip()
    if not name:
        raise InputError("keys create: NAME must not be empty")
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise InputError(f"keys create: --scope must be among {list(SCOPES)}, got {list(scopes)}")
    key = generate_key()
    try:
        record = await store.create_api_key(name, scopes, hash_key(key), now=datetime.now(UTC))
    except ValueError as err:
        raise InputError(f"keys create: {err}") from err
    return key, record


async def list_keys(store: KeyStore) -> list[ApiKeyRecord]:
    """Every key (never the key itself): name, scopes, created, revoked."""
    return await store.list_api_keys()


async def revoke_key(store: KeyStore, name: str) -> bool:
    """Revoke the active key named ``name``; False when there is none."""
    return await store.revoke_api_key(name, now=datetime.now(UTC))


def format_keys(records: Sequence[ApiKeyRecord]) -> str:
    """A plain table for ``keys list``."""
    lines = [f"{'NAME':<24} {'SCOPES':<20} {'CREATED':<20} STATUS"]
    for r in records:
        status = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
        lines.append(
            f"{r.name:<24} {','.join(sorted(r.scopes)):<20} {r.created_at:%Y-%m-%d %H:%M:%S}  {status}"
        )
    return "\n".join(lines)
