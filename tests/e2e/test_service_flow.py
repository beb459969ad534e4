"""The whole service in one process, as deployed: a feed served locally and a pushed document go
through the real broker, extractor and rules, and reach a subscribed webhook receiver (signature
checked with the reference ``standardwebhooks`` package), the alert API and the source health API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from standardwebhooks import Webhook

from monitor.api.keys import create_key
from monitor.delivery.testing import Receiver, bound_port, eventually
from monitor.ingest import load_sources
from monitor.settings import Settings, load_settings
from monitor.store import SqlAlertStore
from monitor.streaming.broker import EmbeddedBroker, free_port
from monitor.streaming.service import RunOptions, run_service

pytestmark = pytest.mark.slow

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Trade notices</title><link>https://example.org/</link>
<description>Export-control notices</description>
<item>
  <title>Zimbabwe bans exports of raw lithium ore</title>
  <link>https://example.org/notices/zw-lithium?utm_source=rss</link>
  <guid>zw-lithium-2022</guid>
  <pubDate>Wed, 21 Dec 2022 09:00:00 GMT</pubDate>
  <description>Zimbabwe has banned the export of raw lithium ore with immediate effect, the mines
  minister said, to encourage local processing of the battery metal.</description>
</item>
<item>
  <title>Copper prices steady</title>
  <link>https://example.org/notices/copper-prices</link>
  <guid>copper-prices-1</guid>
  <pubDate>Wed, 21 Dec 2022 10:00:00 GMT</pubDate>
  <description>Copper prices were little changed on the London Metal Exchange on Wednesday.</description>
</item>
</channel></rss>
"""

PUSHED = {
    "id": "push-ban-1",
    "title": "DR Congo suspends cobalt exports for four months",
    "text": "The Democratic Republic of Congo suspended cobalt exports for four months from February 22, "
    "the strategic minerals regulator ARECOMS said, to reduce a global oversupply.",
    "url": "https://example.org/drc-cobalt",
    "published": "2025-02-22T10:00:00Z",
}


@pytest.fixture
async def feed_server() -> AsyncIterator[str]:
    """Serves one RSS feed on loopback."""

    async def rss(_: web.Request) -> web.Response:
        return web.Response(text=RSS, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/rss.xml", rss)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{bound_port(site)}/rss.xml"
    await runner.cleanup()


def _settings(broker: EmbeddedBroker, prefix: str, tmp_path: Path, port: int) -> Settings:
    os.environ["MONITOR_KAFKA__BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
    try:
        return load_settings(
            overrides={
                "kafka": {
                    "topic_prefix": prefix,
                    "consumer_group": f"{prefix}-group",
                    "rebalance_timeout_s": 2.0,
                    "session_timeout_s": 6.0,
                    "heartbeat_interval_s": 1.0,
                    "fetch_max_wait_ms": 10,
                },
                "http": {"port": port},
                "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite'}"},
                "delivery": {
                    "allow_private_networks": ["127.0.0.1/32"],
                    "poll_interval_s": 0.2,
                    "initial_backoff_s": 0.1,
                },
            }
        )
    finally:
        del os.environ["MONITOR_KAFKA__BOOTSTRAP_SERVERS"]


async def test_feed_and_push_reach_a_signed_webhook_and_the_api(
    kafka_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, feed_server: str
) -> None:
    port = free_port()
    settings = _settings(kafka_broker, topic_prefix, tmp_path, port)
    async with SqlAlertStore(settings.store.url) as store:
        admin, _ = await create_key(store, "ops", ["admin"])
        ingest_key, _ = await create_key(store, "pusher", ["ingest"])
        reader, _ = await create_key(store, "dashboard", ["read"])
    sources_file = tmp_path / "sources.yaml"
    sources_file.write_text(
        f"sources:\n  - id: local-notices\n    kind: feed\n    url: {feed_server}\n    interval: 30s\n"
        "    tags: {authority: test}\n",
        encoding="utf-8",
    )
    receiver = Receiver()
    await receiver.up()
    served: list[web.Application] = []
    options = RunOptions(poll_sources=load_sources([sources_file]), route_installers=[served.append])
    service = asyncio.create_task(run_service(settings, options))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{base}/readyz") as response:
                        return response.status == 200
                return False

            await eventually(ready, timeout=60, interval=0.2)
            subscription = {
                "name": "supply team",
                "filters": {"min_severity": "low"},
                "channel": {"type": "webhook", "url": receiver.url, "secret": SECRET},
            }
            async with http.post(
                f"{base}/api/v1/subscriptions",
                json=subscription,
                headers={"Authorization": f"Bearer {admin}"},
            ) as response:
                assert response.status == 201, await response.text()

            async with http.post(
                f"{base}/api/v1/ingest", json=PUSHED, headers={"Authorization": f"Bearer {reader}"}
            ) as response:
                assert response.status == 403  # a read key cannot ingest
            async with http.post(
                f"{base}/api/v1/ingest", json=PUSHED, headers={"Authorization": f"Bearer {ingest_key}"}
            ) as response:
                assert response.status == 202, await response.text()
                assert (await response.json())["ids"] == ["push-ban-1"]

            # Both the pushed notice and the polled feed item become alerts delivered by webhook.
            def delivered_documents() -> set[str]:
                ids: set[str] = set()
                for headers, body in receiver.requests:
                    payload = Webhook(SECRET).verify(body, headers)
                    ids.update(payload["data"]["alert"]["document_ids"])
                return ids

            await eventually(lambda: len(delivered_documents()) >= 2, timeout=60, interval=0.2)
            documents = delivered_documents()
            assert "push-ban-1" in documents
            assert any(d.startswith("local-notices") for d in documents), documents

            headers = {"Authorization": f"Bearer {reader}"}
            async with http.get(f"{base}/api/v1/alerts", headers=headers) as response:
                assert response.status == 200
                alerts = (await response.json())["items"]
            measures = {(a["measure"], tuple(a["minerals"])) for a in alerts}
            assert ("export_ban", ("cobalt",)) in measures
            assert ("export_ban", ("lithium",)) in measures
            assert len(alerts) == 2  # the copper price item raises nothing

            async with http.get(f"{base}/api/v1/sources", headers=headers) as response:
                health = (await response.json())["sources"]
            assert health[0]["source"] == "local-notices"
            assert health[0]["documents_produced"] == 2
            assert health[0]["consecutive_failures"] == 0

            # Analysts see every tagged event, the price item included, with its spans.
            async with http.get(f"{base}/api/v1/events", headers=headers) as response:
                assert response.status == 200
                events = (await response.json())["items"]

            async def all_recorded() -> bool:
                async with http.get(f"{base}/api/v1/events?limit=10", headers=headers) as r:
                    return len((await r.json())["items"]) >= 3

            await eventually(all_recorded, timeout=10)
            async with http.get(f"{base}/api/v1/events?measure=none", headers=headers) as response:
                events = (await response.json())["items"]
            assert [e["title"] for e in events] == ["Copper prices steady"]
            async with http.get(f"{base}/api/v1/events?mineral=cobalt", headers=headers) as response:
                events = (await response.json())["items"]
            assert [e["document_id"] for e in events] == ["push-ban-1"]
            assert events[0]["spans"]

            # The OpenAPI document describes exactly the routes the service serves.
            spec = yaml.safe_load(await (await http.get(f"{base}/api/v1/openapi.yaml")).text())
            documented = {
                (method.upper(), path)
                for path, item in spec["paths"].items()
                for method in item
                if method in ("get", "post", "put", "patch", "delete")
            }
            live = {
                (route.method, route.resource.canonical)
                for route in served[0].router.routes()
                if route.method != "HEAD" and route.resource is not None
            }
            assert live == documented

            async with http.get(f"{base}/metrics") as response:
                text = await response.text()
            assert 'monitor_ingest_documents_total{outcome="produced",source="local-notices"}' in text
            assert 'monitor_delivery_attempts_total{channel="webhook",outcome="delivered"}' in text
    finally:
        service.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await service
        await receiver.down()
    assert json.dumps(alerts)  # the API's answer is plain JSON
