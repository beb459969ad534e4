"""Connectors and the poller against a local HTTP server: conditional GET, failures, politeness, dedupe."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from monitor.ingest import (
    ClusterIndex,
    FetchPolicy,
    MemorySeenStore,
    Poller,
    PollResult,
    SchedulePolicy,
    load_sources,
    poll_once,
)
from monitor.ingest.sources import FederalRegisterSource, FeedSource, JsonApiSource
from monitor.observability.metrics import Metrics
from monitor.records import Document

if TYPE_CHECKING:  # the fixture's class, for annotations only (conftest is not importable)
    from conftest import FeedServer

FEEDS = Path(__file__).resolve().parents[2] / "data" / "feeds"
Wait = Callable[..., Awaitable[None]]
POLICY = FetchPolicy(user_agent="monitor-tests/1.0 (+https://example.org)", timeout_s=5, min_host_gap_s=0)
SCHEDULE = SchedulePolicy(jitter=0.0, initial_spread_s=0.0)


def feed(server: FeedServer, path: str, source_id: str = "src", **extra: Any) -> FeedSource:
    return FeedSource.model_validate({"id": source_id, "kind": "feed", "url": server.url(path), **extra})


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


class Collector:
    """An ``emit`` that records documents, optionally failing the first ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.documents: list[Document] = []
        self.fail = fail

    async def __call__(self, document: Document) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("broker unavailable")
        self.documents.append(document)


def make_poller(
    sources: list[Any],
    session: aiohttp.ClientSession,
    emit: Collector,
    metrics: Metrics | None = None,
    **kwargs: Any,
) -> Poller:
    return Poller(
        sources,
        emit=emit,
        session=session,
        metrics=metrics or Metrics(),
        fetch_policy=kwargs.pop("fetch_policy", POLICY),
        schedule=kwargs.pop("schedule", SCHEDULE),
        rand=lambda: 0.5,
        **kwargs,
    )


async def collect(results: Any) -> dict[str, PollResult]:
    return {r.source: r async for r in results}


async def test_conditional_get_and_user_agent(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    body = (FEEDS / "rss20.xml").read_bytes()

    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        headers = {"ETag": '"v1"', "Last-Modified": "Mon, 03 Jul 2023 00:00:00 GMT"}
        return web.Response(body=body, content_type="application/rss+xml", headers=headers)

    feed_server.route("/rss", handler)
    emit = Collector()
    metrics = Metrics()
    poller = make_poller([feed(feed_server, "/rss")], session, emit, metrics)
    first = await poller.poll_now("src")
    second = await poller.poll_now("src")
    assert first.ok and len(first.documents) == 3 and len(emit.documents) == 3
    assert second.ok and second.not_modified and second.documents == []
    one, two = feed_server.hits("/rss")
    assert one.headers["User-Agent"] == POLICY.user_agent and "If-None-Match" not in one.headers
    assert two.headers["If-None-Match"] == '"v1"'
    assert two.headers["If-Modified-Since"] == "Mon, 03 Jul 2023 00:00:00 GMT"
    assert sample(metrics, "monitor_ingest_documents_total", source="src", outcome="produced") == 3
    assert sample(metrics, "monitor_ingest_source_up", source="src") == 1
    assert sample(metrics, "monitor_ingest_source_last_success_timestamp_seconds", source="src") > 0


async def test_same_items_next_poll_changed_tracking_and_restart_are_not_produced_again(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    polls = 0

    async def handler(_: web.Request) -> web.Response:
        nonlocal polls
        polls += 1
        # No GUIDs and no validators: the id comes from the canonical link, whose tracking changes.
        text = (FEEDS / "relative-links.xml").read_text().replace("utm_source=x", f"utm_source=poll{polls}")
        return web.Response(text=text, content_type="application/rss+xml")

    feed_server.route("/rel", handler)
    seen = MemorySeenStore()
    metrics = Metrics()
    emit = Collector()
    source = feed(feed_server, "/rel")
    poller = make_poller([source], session, emit, metrics, seen=seen)
    assert len((await poller.poll_now("src")).documents) == 4
    again = await poller.poll_now("src")
    assert again.documents == [] and again.duplicates == 4
    restarted = make_poller([source], session, emit, metrics, seen=seen)
    assert (await restarted.poll_now("src")).documents == []
    assert len(emit.documents) == 4 and polls == 3
    assert sample(metrics, "monitor_ingest_documents_total", source="src", outcome="duplicate") == 8


async def test_server_error_is_counted_and_recovers(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    status = 500

    async def handler(_: web.Request) -> web.Response:
        if status != 200:
            return web.Response(status=status)
        return web.Response(body=(FEEDS / "rss10.rdf").read_bytes(), content_type="application/rdf+xml")

    feed_server.route("/flaky", handler)
    metrics = Metrics()
    poller = make_poller([feed(feed_server, "/flaky")], session, Collector(), metrics)
    failed = await poller.poll_now("src")
    assert failed.error is not None and failed.error.reason == "http_5xx" and failed.error.status == 500
    await poller.poll_now("src")
    (health,) = poller.health()
    assert health.up is False and health.consecutive_failures == 2 and health.last_error == "HTTP 500"
    assert sample(metrics, "monitor_ingest_poll_failures_total", source="src", reason="http_5xx") == 2
    assert sample(metrics, "monitor_ingest_source_consecutive_failures", source="src") == 2
    assert sample(metrics, "monitor_ingest_source_up", source="src") == 0
    status = 200
    assert len((await poller.poll_now("src")).documents) == 2
    (health,) = poller.health()
    assert health.up and health.consecutive_failures == 0 and health.last_success is not None
    assert health.as_dict()["last_success"].endswith("+00:00")
    assert sample(metrics, "monitor_ingest_source_consecutive_failures", source="src") == 0


async def test_429_retry_after_is_honoured_by_the_schedule(
    feed_server: FeedServer, session: aiohttp.ClientSession, wait_until: Wait
) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "120"})

    feed_server.route("/limited", handler)
    poller = make_poller([feed(feed_server, "/limited", interval="1s")], session, Collector())
    await poller.start()
    try:
        await wait_until(
            lambda: (
                poller.health()[0].consecutive_failures == 1
                and (poller.health()[0].next_poll or poller.health()[0].last_attempt)
                > poller.health()[0].last_attempt
            ),  # type: ignore[operator]
            message="the first failed poll to be rescheduled",
        )
    finally:
        await poller.stop()
    (health,) = poller.health()
    assert health.last_error_reason == "http_4xx"
    assert health.next_poll is not None and health.last_attempt is not None
    assert (health.next_poll - health.last_attempt).total_seconds() >= 119
    assert len(feed_server.hits("/limited")) == 1


async def test_failing_source_backs_off_exponentially(
    feed_server: FeedServer, session: aiohttp.ClientSession, wait_until: Wait
) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=503)

    feed_server.route("/down", handler)
    poller = make_poller([feed(feed_server, "/down", interval="1s")], session, Collector())
    await poller.start()
    try:
        await wait_until(lambda: poller.health()[0].consecutive_failures >= 1, message="a failed poll")
        await wait_until(
            lambda: (
                poller.health()[0].next_poll is not None
                and poller.health()[0].next_poll > poller.health()[0].last_attempt
            ),  # type: ignore[operator]
            message="the reschedule",
        )
    finally:
        await poller.stop()
    (health,) = poller.health()
    assert health.next_poll is not None and health.last_attempt is not None
    gap = (health.next_poll - health.last_attempt).total_seconds()
    assert 1.9 <= gap <= 2.5  # 1 s interval doubled after one failure (jitter off)


async def test_timeout(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    never = asyncio.Event()

    async def handler(_: web.Request) -> web.Response:
        await never.wait()
        return web.Response(status=200)

    feed_server.route("/slow", handler)
    policy = FetchPolicy(user_agent="t", timeout_s=0.3, min_host_gap_s=0)
    results = await collect(
        poll_once([feed(feed_server, "/slow")], session=session, metrics=Metrics(), fetch_policy=policy)
    )
    error = results["src"].error
    assert error is not None and error.reason == "timeout"


async def test_oversize_bodies_are_refused(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    big = b"<rss version='2.0'><channel>" + b"<!-- padding -->" * 200 + b"</channel></rss>"

    async def declared(_: web.Request) -> web.Response:
        return web.Response(body=big, content_type="application/rss+xml")

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(big[:500])
        await response.write_eof()
        return response

    feed_server.route("/big", declared)
    feed_server.route("/chunked", chunked)
    policy = FetchPolicy(user_agent="t", max_bytes=1000, min_host_gap_s=0)
    sources = [feed(feed_server, "/big", "big"), feed(feed_server, "/chunked", "chunked")]
    metrics = Metrics()
    results = await collect(poll_once(sources, session=session, metrics=metrics, fetch_policy=policy))
    assert {s: r.error.reason for s, r in results.items() if r.error} == {
        "big": "too_large",
        "chunked": "too_large",
    }
    assert sample(metrics, "monitor_ingest_poll_failures_total", source="big", reason="too_large") == 1


async def test_redirects_are_followed_but_bounded(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    feed_server.serve_file("/final", "rss10.rdf", "application/rdf+xml")

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(location="/final")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(location=request.path)

    feed_server.route("/moved", moved)
    feed_server.route("/loop", loop)
    policy = FetchPolicy(user_agent="t", max_redirects=3, min_host_gap_s=0)
    sources = [feed(feed_server, "/moved", "moved"), feed(feed_server, "/loop", "loop")]
    results = await collect(poll_once(sources, session=session, metrics=Metrics(), fetch_policy=policy))
    assert results["moved"].ok and len(results["moved"].documents) == 2
    assert results["loop"].error is not None and "redirects" in results["loop"].error.message
    assert len(feed_server.hits("/loop")) <= 4


async def test_malformed_feed_is_ingested_and_counted(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    feed_server.serve_file("/broken", "malformed.xml")
    feed_server.serve_file("/html", "not-a-feed.html", "text/html")
    metrics = Metrics()
    sources = [feed(feed_server, "/broken", "broken"), feed(feed_server, "/html", "html")]
    results = await collect(poll_once(sources, session=session, metrics=metrics, fetch_policy=POLICY))
    assert results["broken"].ok and results["broken"].malformed
    assert results["broken"].documents[0].title == "First item survives"
    assert sample(metrics, "monitor_ingest_feed_malformed_total", source="broken") == 1
    assert results["html"].error is not None and results["html"].error.reason == "parse"


async def test_one_request_in_flight_per_host_with_a_gap(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    body = (FEEDS / "rss10.rdf").read_bytes()

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(0.05)  # the server is slow; the test does not wait on it
        return web.Response(body=body, content_type="application/rdf+xml")

    for i in range(3):
        feed_server.route(f"/f{i}", slow)
    policy = FetchPolicy(user_agent="t", min_host_gap_s=0.2)
    sources = [feed(feed_server, f"/f{i}", f"s{i}") for i in range(3)]
    results = await collect(poll_once(sources, session=session, metrics=Metrics(), fetch_policy=policy))
    assert all(r.ok for r in results.values())
    assert feed_server.max_in_flight == 1
    ordered = sorted(feed_server.requests, key=lambda r: r.started)
    gaps = [b.started - a.ended for a, b in itertools.pairwise(ordered)]
    assert min(gaps) >= 0.18


async def test_poll_once_reports_errors_per_source_and_clusters(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    feed_server.route("/gone", lambda _: _respond(410))
    demo = Path(__file__).resolve().parents[3] / "monitor" / "data" / "feeds"
    wire = FeedSource.model_validate(
        {"id": "wire", "kind": "feed", "url": (demo / "mining-news.rdf").as_uri()}
    )
    feed_server.routes["/mofcom"] = _file_handler(demo / "mofcom-announcements.xml")
    sources = [feed(feed_server, "/mofcom", "mofcom"), wire, feed(feed_server, "/gone", "gone")]
    results = await collect(poll_once(sources, session=session, metrics=Metrics(), fetch_policy=POLICY))
    assert results["gone"].error is not None and results["gone"].error.reason == "http_4xx"
    gallium = [
        d for r in results.values() for d in r.documents if "gallium and germanium related items" in d.text
    ]
    assert {d.source for d in gallium} == {"mofcom", "wire"}
    assert len({d.cluster_id for d in gallium}) == 1 and gallium[0].cluster_id


async def _respond(status: int) -> web.Response:
    return web.Response(status=status)


def _file_handler(path: Path) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=path.read_bytes(), content_type="application/rss+xml")

    return handler


async def test_emit_failure_retries_at_next_poll(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    feed_server.serve_file("/rss", "rss20.xml", ETag='"same"')
    emit = Collector(fail=1)
    poller = make_poller([feed(feed_server, "/rss")], session, emit)
    failed = await poller.poll_now("src")
    assert failed.error is not None and failed.error.reason == "emit"
    retried = await poller.poll_now("src")
    assert retried.ok and len(retried.documents) == 3 and len(emit.documents) == 3
    assert "If-None-Match" not in feed_server.hits("/rss")[1].headers


async def test_poller_runs_on_schedule_and_stops_gracefully(
    feed_server: FeedServer, session: aiohttp.ClientSession, wait_until: Wait
) -> None:
    feed_server.serve_file("/a", "rss10.rdf")  # no <ttl>: polled at its 1 s interval
    release = asyncio.Event()

    async def held(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(body=(FEEDS / "atom.xml").read_bytes(), content_type="application/atom+xml")

    feed_server.route("/held", held)
    other_host = feed_server.url("/held").replace("127.0.0.1", "localhost")
    sources = [
        feed(feed_server, "/a", "a", interval="1s"),
        FeedSource.model_validate({"id": "held", "kind": "feed", "url": other_host, "interval": "1s"}),
        FeedSource.model_validate(
            {"id": "off", "kind": "feed", "url": feed_server.url("/off"), "enabled": False}
        ),
    ]
    emit = Collector()
    poller = make_poller(sources, session, emit)
    await poller.start()
    assert poller.running
    await wait_until(lambda: len(feed_server.hits("/a")) >= 2, message="two scheduled polls of /a")
    await wait_until(lambda: len(feed_server.hits("/held")) == 1, message="the held request")
    stopping = asyncio.create_task(poller.stop(timeout=5))
    await wait_until(lambda: poller.running is False, message="stop to begin")
    release.set()
    await stopping
    assert len([d for d in emit.documents if d.source == "a"]) == 2
    assert len([d for d in emit.documents if d.source == "held"]) == 2  # the in-flight poll finished
    assert not feed_server.hits("/off")
    assert {h.source: h.enabled for h in poller.health()} == {"a": True, "held": True, "off": False}


async def test_federal_register_paginates(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    async def documents(request: web.Request) -> web.Response:
        name = (
            "federal-register-page2.json"
            if request.query.get("page") == "2"
            else "federal-register-page1.json"
        )
        return web.Response(body=(FEEDS / name).read_bytes(), content_type="application/json")

    feed_server.route("/api/v1/documents.json", documents)
    source = FederalRegisterSource.model_validate(
        {
            "id": "fr",
            "kind": "federal_register",
            "url": feed_server.url("/api/v1/documents.json"),
            "term": "critical minerals",
            "agencies": ["industry-and-security-bureau"],
            "max_pages": 2,
        }
    )
    results = await collect(poll_once([source], session=session, metrics=Metrics(), fetch_policy=POLICY))
    assert [d.tags["document_number"] for d in results["fr"].documents] == [
        "2024-28270",
        "2025-07000",
        "2023-14000",
    ]
    first, _ = feed_server.hits("/api/v1/documents.json")
    assert first.headers["Accept"] == "application/json"
    one_page = source.model_copy(update={"max_pages": 1, "id": "fr1"})
    results = await collect(poll_once([one_page], session=session, metrics=Metrics(), fetch_policy=POLICY))
    assert len(results["fr1"].documents) == 2


async def test_json_api_mapping(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    async def notices(request: web.Request) -> web.Response:
        assert request.query["lang"] == "en" and request.headers["X-Api-Key"] == "k"
        return web.Response(body=(FEEDS / "json-api.json").read_bytes(), content_type="application/json")

    async def garbage(_: web.Request) -> web.Response:
        return web.Response(text="{not json", content_type="application/json")

    feed_server.route("/v1/notices", notices)
    feed_server.route("/v1/garbage", garbage)
    fields = {
        "id": "ref",
        "title": "attributes.headline",
        "text": "attributes.body",
        "url": "links.0.href",
        "published": "attributes.published_at",
    }
    spec = {
        "kind": "json_api",
        "items_path": "data.notices",
        "params": {"lang": "en"},
        "headers": {"X-Api-Key": "k"},
        "fields": fields,
    }
    sources = [
        JsonApiSource.model_validate({**spec, "id": "api", "url": feed_server.url("/v1/notices")}),
        JsonApiSource.model_validate({**spec, "id": "bad", "url": feed_server.url("/v1/garbage")}),
    ]
    metrics = Metrics()
    results = await collect(poll_once(sources, session=session, metrics=metrics, fetch_policy=POLICY))
    assert [d.title for d in results["api"].documents] == ["Lithium export permit regime", "Cobalt quota"]
    assert results["api"].documents[0].url == feed_server.url("/notices/N-1")
    assert sample(metrics, "monitor_ingest_documents_total", source="api", outcome="invalid") == 1
    assert results["bad"].error is not None and results["bad"].error.reason == "parse"


async def test_offline_pipeline_runs_without_network(session: aiohttp.ClientSession) -> None:
    root = Path(__file__).resolve().parents[3]
    sources = load_sources([root / "pipelines" / "offline.yaml"])
    cluster = ClusterIndex()
    results = await collect(poll_once(sources, session=session, metrics=Metrics(), cluster=cluster))
    assert all(r.ok for r in results.values()), {s: r.error for s, r in results.items()}
    assert sum(len(r.documents) for r in results.values()) >= 10
    assert all(
        d.tags == s.tags or set(s.tags) <= set(d.tags) for s in sources for d in results[s.id].documents
    )


async def test_ttl_and_max_age_are_floors_on_the_interval(
    feed_server: FeedServer, session: aiohttp.ClientSession, wait_until: Wait
) -> None:
    feed_server.serve_file("/ttl", "rss20.xml")  # <ttl>30</ttl>: 30 minutes
    feed_server.serve_file("/cached", "rss10.rdf", **{"Cache-Control": "public, max-age=600"})
    sources = [
        feed(feed_server, "/ttl", "ttl", interval="1s"),
        feed(feed_server, "/cached", "cached", interval="1s"),
    ]
    poller = make_poller(sources, session, Collector())
    await poller.start()

    def rescheduled() -> bool:
        return all(
            h.last_success is not None and h.next_poll and h.next_poll > h.last_success
            for h in poller.health()
        )

    try:
        await wait_until(rescheduled, message="both sources to be rescheduled")
    finally:
        await poller.stop()
    gaps = {h.source: (h.next_poll - h.last_success).total_seconds() for h in poller.health()}  # type: ignore[operator]
    assert 1790 <= gaps["ttl"] <= 1801 and 590 <= gaps["cached"] <= 601
