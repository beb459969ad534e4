"""Standard Webhooks signing (https://www.standardwebhooks.com/): ids, secrets and signatures. Pure.

A message is signed as ``base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))`` where ``key`` is the
base64-decoded part of the ``whsec_...`` secret, and sent as ``webhook-signature: v1,<signature>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def generate_secret(n_bytes: int = 24) -> str:
    """Return a new random secret in the ``whsec_<base64>`` form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(n_bytes)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """Decode a ``whsec_`` secret into the HMAC key (the prefix is optional, as in the reference library)."""
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    key = base64.b64decode(raw + "=" * (-len(raw) % 4))
    if not key:
        raise ValueError("empty webhook secret")
    return key


def message_id(*parts: object) -> str:
    """A stable message id from its parts, e.g. ``(alert id, revision, subscription id)``.

    The same alert revision sent to the same subscription always gets the same id, so that a
    receiver can drop the duplicates that at-least-once delivery may produce.
    """
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return f"msg_{digest[:32]}"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` header value (``v1,<base64>``) for one attempt."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (the timestamp is the attempt's time)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
