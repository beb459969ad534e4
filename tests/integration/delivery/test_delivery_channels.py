"""Slack, Teams and Alertmanager channels, and digests, delivered to a real receiver."""

from __future__ import annotations

import json
from datetime import timedelta

from standardwebhooks.webhooks import Webhook

from monitor.api.testing import Harness
from monitor.delivery.testing import Receiver, eventually, make_alert


async def test_slack_teams_and_alertmanager_bodies_arrive(harness: Harness, receiver: Receiver) -> None:
    h = harness
    for kind, url in (("slack", receiver.url), ("teams", receiver.url), ("alertmanager", receiver.base_url)):
        await h.create_subscription({"name": kind, "channel": {"type": kind, "url": url}})
    alert = make_alert(severity="critical")
    await h.dispatcher.handle(alert)
    await eventually(lambda: len(receiver.requests) == 3)
    bodies = {}
    for headers, body in receiver.requests:
        assert "webhook-signature" not in headers  # only webhook channels are signed
        data = json.loads(body)
        if isinstance(data, list):
            bodies["alertmanager"] = data
        elif "blocks" in data:
            bodies["slack"] = data
        else:
            bodies["teams"] = data
    assert bodies["alertmanager"][0]["labels"]["alert_id"] == alert.id
    assert bodies["slack"]["blocks"][0]["type"] == "header"
    card = bodies["teams"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"


async def test_digest_lists_the_period_alerts_in_one_signed_message(
    harness: Harness, receiver: Receiver
) -> None:
    h = harness
    sub = await h.create_subscription(
        {
            "name": "daily",
            "channel": {"type": "webhook", "url": receiver.url},
            "filters": {"minerals": ["gallium"]},
            "delivery": {"mode": "digest", "frequency": "daily", "at": "08:00", "timezone": "Asia/Tokyo"},
        }
    )
    wanted = [make_alert(), make_alert()]
    for alert in wanted:
        await h.dispatcher.handle(alert)
    await h.dispatcher.handle(make_alert(minerals=["cobalt"]))
    assert await h.dispatcher.run_digests_once() == 0  # not due yet
    assert receiver.requests == []  # digest subscriptions get no immediate messages
    record = await h.store.get_subscription(sub["id"])
    assert record is not None and record.next_digest_at is not None
    # Make it due now, with the period starting before the alerts.
    now = h.dispatcher.clock()
    assert await h.store.advance_digest(
        sub["id"],
        expected=record.next_digest_at,
        next_at=now - timedelta(seconds=1),
        sent_at=record.created_at,
    )
    assert await h.dispatcher.run_digests_once() == 1
    assert await h.dispatcher.run_digests_once() == 0  # advanced to the next day
    await eventually(lambda: len(receiver.requests) == 1)
    headers, body = receiver.requests[0]
    payload = Webhook(sub["channel"]["secret"]).verify(body, headers)
    assert payload["type"] == "alert.digest"
    assert {item["alert"]["id"] for item in payload["data"]["alerts"]} == {a.id for a in wanted}
