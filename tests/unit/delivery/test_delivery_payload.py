"""Channel bodies: webhook, Slack Block Kit, Teams Adaptive Card (size limit), Alertmanager."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from monitor.delivery.channels import EndpointGone, ReceiverError, classify
from monitor.delivery.payload import alertmanager_url, build_body, teams_body
from monitor.delivery.testing import make_alert
from monitor.errors import DeliveryError

NOW = datetime(2025, 6, 1, tzinfo=UTC)
BASE = "https://monitor.example"


def test_webhook_body() -> None:
    alert = make_alert(id="a/1")
    body = json.loads(build_body("webhook", [alert], base_url=BASE, now=NOW))
    assert body["type"] == "alert.raised" and body["timestamp"] == "2025-06-01T00:00:00Z"
    assert body["data"]["alert"]["id"] == "a/1"
    assert body["data"]["links"] == {"self": f"{BASE}/api/v1/alerts/a%2F1", "evidence": alert.urls}
    resolved = make_alert(status="resolved", revision=3)
    assert json.loads(build_body("webhook", [resolved], base_url=BASE, now=NOW))["type"] == "alert.resolved"
    digest = json.loads(build_body("webhook", [alert, resolved], base_url=BASE, now=NOW, period=(NOW, NOW)))
    assert digest["type"] == "alert.digest" and len(digest["data"]["alerts"]) == 2


def test_slack_blocks_escape_and_limit() -> None:
    alert = make_alert(title="<script> & co" + "x" * 300)
    body = json.loads(build_body("slack", [alert], base_url=BASE, now=NOW))
    assert body["text"]
    header = body["blocks"][0]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150
    assert "&lt;script&gt; &amp; co" in body["blocks"][1]["text"]["text"]
    many = [make_alert() for _ in range(80)]
    digest = json.loads(build_body("slack", many, base_url=BASE, now=NOW, period=(NOW, NOW)))
    assert len(digest["blocks"]) <= 50
    assert "more" in digest["blocks"][-1]["elements"][0]["text"]


@pytest.mark.parametrize("count", [1, 5, 200])
def test_teams_card_fits_the_size_limit(count: int) -> None:
    alerts = [make_alert(summary="s" * 5000, title="t" * 400) for _ in range(count)]
    period = (NOW, NOW) if count > 1 else None
    body = teams_body(alerts, base_url=BASE, max_bytes=28_000, period=period)
    assert len(body) <= 28_000
    card = json.loads(body)["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"


def test_alertmanager_body() -> None:
    firing = make_alert(labels={"team": "supply"})
    resolved = make_alert(status="resolved")
    items = json.loads(build_body("alertmanager", [firing, resolved], base_url=BASE, now=NOW))
    assert items[0]["labels"]["alertname"] == "export-ban"
    assert items[0]["labels"]["team"] == "supply"
    assert "endsAt" not in items[0] and "endsAt" in items[1]
    assert items[0]["generatorURL"].startswith(BASE)
    assert alertmanager_url("http://am:9093") == "http://am:9093/api/v2/alerts"
    assert alertmanager_url("http://am:9093/api/v2/alerts") == "http://am:9093/api/v2/alerts"


def test_classify_statuses() -> None:
    classify(200, None)
    classify(204, None)
    with pytest.raises(EndpointGone):
        classify(410, None)
    for status in (408, 429, 500, 502, 503):
        with pytest.raises(DeliveryError) as err:
            classify(status, "7")
        assert err.value.retryable
    with pytest.raises(ReceiverError) as err:
        classify(429, "7")
    assert err.value.retry_after == 7 and err.value.status == 429
    for status in (301, 400, 401, 404, 413):
        with pytest.raises(DeliveryError) as err:
            classify(status, None)
        assert not err.value.retryable
