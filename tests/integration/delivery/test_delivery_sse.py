"""The live stream, read by an independent SSE client (httpx-sse): order, filters, heartbeats, resume."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from monitor.api.testing import Harness
from monitor.delivery.testing import eventually, make_alert


async def _collect(
    events: AsyncIterator[ServerSentEvent], n: int, timeout: float = 10.0
) -> list[ServerSentEvent]:
    out: list[ServerSentEvent] = []

    async def read() -> None:
        async for sse in events:
            out.append(sse)
            if len(out) == n:
                return

    await asyncio.wait_for(read(), timeout)
    return out


async def test_stream_in_order_then_resume_with_last_event_id(harness: Harness) -> None:
    h = harness
    url = f"{h.base_url}/api/v1/alerts/stream"
    first = [make_alert() for _ in range(3)]
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
        async with aconnect_sse(client, "GET", url, headers=h.auth("read")) as source:
            assert source.response.status_code == 200
            assert source.response.headers["content-type"].startswith("text/event-stream")
            events = source.aiter_sse()
            await eventually(lambda: h.metrics.sse_clients._value.get() == 1)
            for alert in first:
                await h.dispatcher.handle(alert)
            got = await _collect(events, 3)
        assert [json.loads(e.data)["id"] for e in got] == [a.id for a in first]
        assert all(e.event == "alert" for e in got)
        ids = [int(e.id) for e in got]
        assert ids == sorted(ids) and len(set(ids)) == 3
        await eventually(lambda: h.metrics.sse_clients._value.get() == 0)

        # While disconnected: new alerts and a new revision of an old one.
        later = [make_alert() for _ in range(2)]
        for alert in later:
            await h.dispatcher.handle(alert)
        update = make_alert(id=first[0].id, fingerprint=first[0].fingerprint, revision=2, title="Updated")
        await h.dispatcher.handle(update)

        headers = {**h.auth("read"), "Last-Event-ID": got[-1].id}
        async with aconnect_sse(client, "GET", url, headers=headers) as source:
            resumed = await _collect(source.aiter_sse(), 3)
    data = [json.loads(e.data) for e in resumed]
    assert [(d["id"], d["revision"]) for d in data] == [(later[0].id, 1), (later[1].id, 1), (first[0].id, 2)]
    resumed_ids = [int(e.id) for e in resumed]
    assert resumed_ids == sorted(resumed_ids) and resumed_ids[0] > ids[-1]


async def test_stream_filters_and_replay_from_zero(harness: Harness) -> None:
    h = harness
    await h.dispatcher.handle(make_alert(id="cobalt-1", minerals=["cobalt"], severity="critical"))
    await h.dispatcher.handle(make_alert(id="lithium-low", minerals=["lithium"], severity="low"))
    await h.dispatcher.handle(make_alert(id="lithium-high", minerals=["lithium"], severity="high"))
    url = f"{h.base_url}/api/v1/alerts/stream?mineral=lithium&severity=medium&last_event_id=0"
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client,
        aconnect_sse(client, "GET", url, headers=h.auth("read")) as source,
    ):
        events = source.aiter_sse()
        (first,) = await _collect(events, 1)
        await h.dispatcher.handle(make_alert(id="lithium-crit", minerals=["lithium"], severity="critical"))
        (second,) = await _collect(events, 1)
    assert json.loads(first.data)["id"] == "lithium-high"
    assert json.loads(second.data)["id"] == "lithium-crit"


async def test_stream_sends_heartbeats_and_shows_acknowledgements(harness: Harness) -> None:
    h = harness  # heartbeat every 0.5 s in the test settings
    alert = make_alert()
    await h.dispatcher.handle(alert)
    url = f"{h.base_url}/api/v1/alerts/stream"
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client,
        client.stream("GET", url, headers=h.auth("read")) as response,
    ):
        lines = response.aiter_lines()

        async def until(predicate: str) -> list[str]:
            seen = []
            async for line in lines:
                seen.append(line)
                if line.startswith(predicate):
                    return seen
            raise AssertionError("stream ended")

        await asyncio.wait_for(until(": heartbeat"), 5)
        async with h.http.post(f"{h.base_url}/api/v1/alerts/{alert.id}/ack", headers=h.auth()) as resp:
            assert resp.status == 200
        seen = await asyncio.wait_for(until("data:"), 5)
    assert json.loads(seen[-1][len("data:") :])["status"] == "acknowledged"
    assert any(line.startswith("id: ") for line in seen)


async def test_stream_requires_read_scope(harness: Harness) -> None:
    h = harness
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{h.base_url}/api/v1/alerts/stream")
        assert resp.status_code == 401
        resp = await client.get(f"{h.base_url}/api/v1/alerts/stream", headers=h.auth("ingest"))
        assert resp.status_code == 403
        resp = await client.get(
            f"{h.base_url}/api/v1/alerts/stream", headers={**h.auth("read"), "Last-Event-ID": "abc"}
        )
        assert resp.status_code == 400
