"""Standard Webhooks signing, checked against the reference implementation."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from monitor.delivery.signing import generate_secret, message_id, secret_key, sign, signed_headers


def test_signature_verifies_with_the_reference_library() -> None:
    secret = generate_secret()
    body = b'{"type":"alert.raised","data":{"alert":{"id":"a"}}}'
    headers = signed_headers(secret, "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, headers) == {"type": "alert.raised", "data": {"alert": {"id": "a"}}}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)


def test_known_vector() -> None:
    # The example of the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_secret_form() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(secret_key(secret)) == 24
    with pytest.raises(ValueError):
        secret_key("whsec_")


def test_message_id_is_stable_per_alert_revision_and_subscription() -> None:
    assert message_id("a", 1, "sub_x") == message_id("a", 1, "sub_x")
    assert len({message_id("a", 1, "sub_x"), message_id("a", 2, "sub_x"), message_id("a", 1, "sub_y")}) == 3
    assert message_id("a", 1, "s").startswith("msg_")
