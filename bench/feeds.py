"""Benchmark feed polling: 500 local RSS feeds polled by ``monitor.ingest.Poller`` on one worker.

Run: ``python bench/feeds.py [--json] [--feeds 500] [--interval 60] [--duration 75] [--hosts N]``.

A feed server (its own process, so its CPU is not counted) serves ``--feeds`` realistic RSS 2.0
feeds on loopback: 20 items of about 60 words each, ``ETag`` and ``Last-Modified`` with conditional
GET (``304 Not Modified``), and each feed gains a new item every 5 to 15 polling intervals (so most
polls after the first are answered 304, as with real feeds).

Politeness: the Poller allows one request at a time per host and a 2 s gap between two requests to
one host, and it keys hosts by ``host:port``. The server therefore listens on ``--hosts`` ports of
127.0.0.1 (default: one port per feed, as 500 feeds of 500 sites would be); the FetchPolicy is the
service's own, unchanged. ``--hosts 50`` puts 10 feeds behind each port (the 2 s gap then spreads
each round over ~20 s).

Contenders, each in its own process, one after the other, for ``--duration`` seconds:

- ``poller``: the service's Poller (schedules with jitter, conditional GET, politeness, normalise,
  dedupe, near-duplicate clustering, metrics), emitting documents to a counting callable;
- ``baseline``: the simplest loop a user might write: every interval, fetch all feeds at once with
  one aiohttp session (no conditional GET) and parse each body with feedparser, keeping seen ids.

Reported for each: CPU share (process CPU time / wall time), peak RSS, requests, 200/304 answers,
bytes received, new documents; then, in a second short run of each (``--trace-duration``, interval
scaled to fit two rounds), the Python heap measured by tracemalloc (peak and retained), which is
kept apart because tracemalloc slows the process and would distort the CPU share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Child,
    cpu_seconds,
    emit,
    generated_item,
    machine,
    max_rss_mb,
    python_command,
    ratio,
    say,
)

SCRIPT = Path(__file__).resolve()
ITEMS_PER_FEED = 20


# ====================================================================================================
# the feed server
# ====================================================================================================


class FeedSet:
    """The feeds: feed ``i`` gains an item every ``period[i]`` seconds; bodies are built once per version."""

    def __init__(self, feeds: int, interval: float, seed: int = 5) -> None:
        rng = random.Random(seed)
        self.start = time.time()
        self.period = [interval * rng.uniform(5.0, 15.0) for _ in range(feeds)]
        self.phase = [rng.random() for _ in range(feeds)]
        self.texts = [generated_item(rng) for _ in range(400)]
        self._cache: dict[int, tuple[int, bytes]] = {}
        self.stats = {"requests": 0, "ok": 0, "not_modified": 0, "bytes": 0}

    def version(self, feed: int) -> int:
        return int((time.time() - self.start) / self.period[feed] + self.phase[feed]) + ITEMS_PER_FEED

    def body(self, feed: int, version: int) -> bytes:
        cached = self._cache.get(feed)
        if cached is not None and cached[0] == version:
            return cached[1]
        base = datetime(2026, 1, 1, tzinfo=UTC)
        items = []
        for k in range(version, version - ITEMS_PER_FEED, -1):
            title, text = self.texts[(feed * 31 + k) % len(self.texts)]
            published = format_datetime(base + timedelta(minutes=7 * k + feed), usegmt=True)
            items.append(
                "<item>"
                f"<title>{escape(title)}</title>"
                f"<link>https://news{feed}.example.org/{k}</link>"
                f'<guid isPermaLink="false">feed{feed}-item{k}</guid>'
                f"<pubDate>{published}</pubDate>"
                f"<description>{escape(text)}</description>"
                "</item>"
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>Critical minerals news {feed}</title><link>https://news{feed}.example.org/</link>"
            f"<description>Trade and supply news, feed {feed}</description><language>en</language>"
            + "".join(items)
            + "</channel></rss>"
        ).encode()
        self._cache[feed] = (version, body)
        return body

    def last_modified(self, feed: int, version: int) -> str:
        at = self.start + (version - ITEMS_PER_FEED - self.phase[feed]) * self.period[feed]
        return format_datetime(datetime.fromtimestamp(max(at, self.start - 86400), UTC), usegmt=True)


async def _serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    feeds = FeedSet(args.feeds, args.interval)

    async def feed(request: web.Request) -> web.StreamResponse:
        index = int(request.match_info["index"])
        feeds.stats["requests"] += 1
        version = feeds.version(index)
        etag = f'"f{index}-v{version}"'
        headers = {"ETag": etag, "Last-Modified": feeds.last_modified(index, version)}
        if request.headers.get("If-None-Match") == etag:
            feeds.stats["not_modified"] += 1
            return web.Response(status=304, headers=headers)
        body = feeds.body(index, version)
        feeds.stats["ok"] += 1
        feeds.stats["bytes"] += len(body)
        return web.Response(body=body, headers=headers, content_type="application/rss+xml", charset="utf-8")

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(feeds.stats)

    app = web.Application()
    app.router.add_get("/feed/{index}.xml", feed)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    ports = []
    for _ in range(args.hosts):
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=512)
        await site.start()
        server = site._server  # the bound port of a port-0 site
        sockets = getattr(server, "sockets", None) or []
        ports.append(int(sockets[0].getsockname()[1]))
    say(event="serving", ports=ports)
    try:
        await asyncio.Event().wait()  # until SIGTERM
    finally:
        await runner.cleanup()


def feed_urls(ports: list[int], feeds: int) -> list[str]:
    """Feed ``i`` on port ``i mod len(ports)``."""
    return [f"http://127.0.0.1:{ports[i % len(ports)]}/feed/{i}.xml" for i in range(feeds)]


# ====================================================================================================
# contenders
# ====================================================================================================


async def _run_poller(urls: list[str], interval: float, duration: float) -> dict[str, Any]:
    import aiohttp

    from monitor.ingest import FeedSource, Poller, fetch_policy
    from monitor.observability.metrics import Metrics
    from monitor.records import Document
    from monitor.settings import load_settings

    settings = load_settings()
    sources = [
        FeedSource(id=f"bench-feed-{i}", kind="feed", url=url, interval=interval)
        for i, url in enumerate(urls)
    ]
    documents = 0

    async def emit_document(_: Document) -> None:
        nonlocal documents
        documents += 1

    async with aiohttp.ClientSession() as session:
        poller = Poller(
            sources,
            emit=emit_document,
            session=session,
            metrics=Metrics(),
            fetch_policy=fetch_policy(settings.ingest),
        )
        await poller.start()
        await asyncio.sleep(duration)
        await poller.stop()
        failures = sum(1 for h in poller.health() if h.consecutive_failures)
    return {"documents": documents, "sources_failing": failures}


async def _run_baseline(urls: list[str], interval: float, duration: float) -> dict[str, Any]:
    import aiohttp
    import feedparser

    seen: set[str] = set()
    documents = failures = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + duration

    async with aiohttp.ClientSession() as session:

        async def fetch(url: str) -> bytes | None:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as response:
                    response.raise_for_status()
                    return await response.read()
            except (aiohttp.ClientError, TimeoutError):
                return None

        while loop.time() < end:
            started = loop.time()
            bodies = await asyncio.gather(*(fetch(url) for url in urls))
            for body in bodies:
                if body is None:
                    failures += 1
                    continue
                for entry in feedparser.parse(body).entries:
                    key = entry.get("id") or entry.get("link")
                    if key and key not in seen:
                        seen.add(key)
                        documents += 1
            await asyncio.sleep(max(0.0, min(end, started + interval) - loop.time()))
    return {"documents": documents, "failed_fetches": failures}


def _child_main(args: argparse.Namespace) -> int:
    if args.child == "serve":
        asyncio.run(_serve(args))
        return 0
    urls = feed_urls(json.loads(args.ports), args.feeds)
    run = _run_poller if args.child == "poller" else _run_baseline
    rss_before = max_rss_mb()
    if args.trace:
        tracemalloc.start()
    say(event="started")
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    figures = asyncio.run(run(urls, args.interval, args.duration))
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    result: dict[str, Any] = {
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "cpu_share_percent": round(100.0 * cpu / wall, 2),
        "rss_peak_mb": max_rss_mb(),
        "rss_after_imports_mb": rss_before,
        **figures,
    }
    if args.trace:
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result.update(
            tracemalloc_peak_mb=round(peak / 2**20, 1), tracemalloc_retained_mb=round(current / 2**20, 1)
        )
    say(result=result)
    return 0


# ====================================================================================================
# parent
# ====================================================================================================


def _server_stats(port: int) -> dict[str, int]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as response:
        stats: dict[str, int] = json.loads(response.read())
    return stats


def _contender(
    args: argparse.Namespace, name: str, ports: list[int], interval: float, duration: float, trace: bool
) -> dict[str, Any]:
    before = _server_stats(ports[0])
    command = python_command(
        SCRIPT,
        "--child",
        name,
        "--ports",
        json.dumps(ports),
        "--feeds",
        str(args.feeds),
        "--interval",
        str(interval),
        "--duration",
        str(duration),
        *(["--trace"] if trace else []),
    )
    with Child(command, name=name) as child:
        result = dict(child.wait_result(duration + args.timeout))
    after = _server_stats(ports[0])
    result.update(
        requests=after["requests"] - before["requests"],
        answers_200=after["ok"] - before["ok"],
        answers_304=after["not_modified"] - before["not_modified"],
        mb_received=round((after["bytes"] - before["bytes"]) / 2**20, 2),
    )
    return result


def run_parent(args: argparse.Namespace) -> dict[str, Any]:
    """Start the feed server, run each contender (full run, then a tracemalloc run), gather figures."""
    serve = python_command(
        SCRIPT,
        "--child",
        "serve",
        "--feeds",
        str(args.feeds),
        "--hosts",
        str(args.hosts),
        "--interval",
        str(args.interval),
    )
    results: dict[str, Any] = {}
    with Child(serve, name="feed-server") as server:
        ports = list(server.wait_for("serving", 60)["ports"])
        trace_interval = max(1.0, args.trace_duration / 2.2)
        for name in ("poller", "baseline"):
            log(f"{name}: {args.feeds} feeds every {args.interval:g} s for {args.duration:g} s ...")
            results[name] = _contender(args, name, ports, args.interval, args.duration, trace=False)
            if args.trace_duration > 0:
                log(f"{name}: tracemalloc run, every {trace_interval:g} s for {args.trace_duration:g} s ...")
                traced = _contender(args, name, ports, trace_interval, args.trace_duration, trace=True)
                results[name]["tracemalloc"] = {
                    "interval_s": round(trace_interval, 2),
                    "duration_s": args.trace_duration,
                    "peak_mb": traced["tracemalloc_peak_mb"],
                    "retained_mb": traced["tracemalloc_retained_mb"],
                    "requests": traced["requests"],
                }
    poller, baseline = results["poller"], results["baseline"]
    return {
        "benchmark": "feeds",
        "machine": machine(),
        "feeds": args.feeds,
        "hosts": args.hosts,
        "interval_s": args.interval,
        "duration_s": args.duration,
        "politeness": "Poller's FetchPolicy unchanged (one request in flight and a 2 s gap per host:port); "
        f"feeds spread over {args.hosts} ports of 127.0.0.1",
        "results": results,
        "ratios_poller_over_baseline": {
            "cpu_share": ratio(poller["cpu_share_percent"], baseline["cpu_share_percent"]),
            "rss_peak": ratio(poller["rss_peak_mb"], baseline["rss_peak_mb"]),
            "tracemalloc_peak": ratio(
                poller.get("tracemalloc", {}).get("peak_mb", 0),
                baseline.get("tracemalloc", {}).get("peak_mb", 0),
            ),
        },
    }


def log(message: str) -> None:
    """Progress on stderr (stdout carries the result)."""
    print(f"[feeds] {message}", file=sys.stderr, flush=True)


def table(result: dict[str, Any]) -> str:
    """The human-readable table."""
    rows = [
        f"{result['feeds']} feeds on {result['hosts']} loopback ports, "
        f"polled every {result['interval_s']:g} s for {result['duration_s']:g} s, "
        f"{result['machine']['cpus']} CPUs",
        f"{'':<34}{'cpu share %':>12}{'RSS peak MB':>13}{'heap peak MB':>14}"
        f"{'requests':>10}{'200':>6}{'304':>6}{'MB in':>8}{'new docs':>10}",
    ]
    labels = {"poller": "monitor.ingest.Poller", "baseline": "baseline: aiohttp loop + feedparser"}
    for name, r in result["results"].items():
        heap = r.get("tracemalloc", {}).get("peak_mb", "-")
        rows.append(
            f"{labels[name]:<34}{r['cpu_share_percent']:>12.2f}{r['rss_peak_mb']:>13.1f}{heap!s:>14}"
            f"{r['requests']:>10}{r['answers_200']:>6}{r['answers_304']:>6}{r['mb_received']:>8.1f}"
            f"{r['documents']:>10}"
        )
    ratios = result["ratios_poller_over_baseline"]
    rows.append(
        f"poller / baseline: cpu share {ratios['cpu_share']}, RSS peak {ratios['rss_peak']}, "
        f"heap peak {ratios['tracemalloc_peak']}"
    )
    rows.append(result["politeness"])
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--json", action="store_true", help="print only the JSON result")
    add("--feeds", type=int, default=500, help="number of feeds (default 500)")
    add("--hosts", type=int, default=None, help="loopback ports serving them (default: one per feed)")
    add("--interval", type=float, default=60.0, help="polling interval in seconds (default 60)")
    add("--duration", type=float, default=70.0, help="seconds each contender runs (default 70)")
    add("--trace-duration", type=float, default=8.0, help="seconds of the tracemalloc run (0: skip)")
    add("--timeout", type=float, default=120.0, help="extra seconds allowed to each child")
    # internal
    add("--child", choices=("serve", "poller", "baseline"), help=argparse.SUPPRESS)
    add("--ports", help=argparse.SUPPRESS)
    add("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.hosts = args.hosts or args.feeds
    if args.child:
        return _child_main(args)
    result = run_parent(args)
    emit(result, table(result), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
