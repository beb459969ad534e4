"""Benchmark the notify stage's store work: alerts/s of ``Dispatcher.handle`` one alert at a time
against ``Dispatcher.handle_many`` in batches of 1, 10 and 100, on SQLite and PostgreSQL.

Run: ``python bench/store.py [--json] [--alerts 1000] [--backends sqlite,postgresql]``.

Each case gets a fresh store (SQLite: a file in a temporary folder; PostgreSQL: a throw-away schema
of ``MONITOR_TEST_POSTGRES_URL``, default the local test database) and handles the same alerts: half
new ids, half new revisions of them (the rules' mix of raised and updated alerts), with a few
repeats. "with subscription" adds one matching webhook subscription: each changed alert then also
renders and enqueues a delivery. The dispatcher is not started, so nothing is sent over HTTP: what
is measured is upsert + live-feed + matching + enqueue, the part of the notify stage that holds
the pipeline. Target: the pipeline's 1,500 documents/s, of which ~60 % raise or update an alert.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, machine, verdict

from monitor.delivery.dispatcher import Dispatcher
from monitor.delivery.subscription import SubscriptionSpec
from monitor.delivery.testing import fast_settings, make_alert
from monitor.observability.metrics import Metrics
from monitor.records import Alert
from monitor.store.testing import postgres_available, temporary_store

#: Alerts per second the notify stage must sustain: 60 % of 1,500 documents/s.
TARGET_ALERTS_S = 900.0
MODES = ("handle", "batch 1", "batch 10", "batch 100")


def workload(count: int, seed: int = 7) -> list[Alert]:
    """``count`` alerts: new ids and later revisions of them, with ~5 % repeats, in a shuffled order
    that keeps each id's revisions increasing."""
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ids = max(1, count // 2)
    revisions = [1] * ids
    alerts: list[Alert] = []
    while len(alerts) < count:
        index = rng.randrange(ids)
        if rng.random() >= 0.05:  # else: a repeat of the current revision (a redelivered message)
            revisions[index] += 1
        revision = revisions[index] - 1 or 1
        alerts.append(
            make_alert(
                id=f"bench-{index}",
                fingerprint=f"fp-{index}",
                revision=revision,
                raised_at=t0,
                updated_at=t0 + timedelta(minutes=revision),
                minerals=rng.sample(["gallium", "germanium", "lithium", "cobalt", "antimony"], 2),
                document_ids=[f"doc-{index}-{r}" for r in range(1, revision + 1)],
                urls=[f"https://news.example/{index}/{r}" for r in range(1, revision + 1)],
            )
        )
    return alerts


async def run_case(backend: str, mode: str, subscribed: bool, alerts: list[Alert]) -> float:
    """Alerts/s of one case on a fresh store."""
    from prometheus_client import CollectorRegistry

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        async with temporary_store(backend, Path(tmp)) as store:
            if subscribed:
                spec = {"name": "hook", "channel": {"type": "webhook", "url": "https://hooks.example/x"}}
                await store.create_subscription(SubscriptionSpec.model_validate(spec), now=datetime.now(UTC))
            dispatcher = Dispatcher(store, None, Metrics(CollectorRegistry()), fast_settings())  # type: ignore[arg-type]
            started = time.perf_counter()
            if mode == "handle":
                for alert in alerts:
                    await dispatcher.handle(alert)
            else:
                size = int(mode.split()[1])
                for start in range(0, len(alerts), size):
                    await dispatcher.handle_many(alerts[start : start + size])
            elapsed = time.perf_counter() - started
            if dispatcher._gauge_refresh is not None:  # the gauge refresh it scheduled
                dispatcher._gauge_refresh.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await dispatcher._gauge_refresh
    return round(len(alerts) / elapsed, 1)


async def run(backends: list[str], count: int) -> dict[str, Any]:
    """Every case; PostgreSQL is skipped when it does not answer."""
    alerts = workload(count)
    modes = [m for m in MODES if m == "handle" or hasattr(Dispatcher, "handle_many")]
    cases: list[dict[str, Any]] = []
    for backend in backends:
        if backend == "postgresql" and not await postgres_available():
            print("[store] PostgreSQL is not reachable: skipped", file=sys.stderr)
            continue
        for subscribed in (False, True):
            for mode in modes:
                rate = await run_case(backend, mode, subscribed, alerts)
                cases.append({"backend": backend, "subscription": subscribed, "mode": mode, "alerts_s": rate})
                print(f"[store] {backend} {mode} subscription={subscribed}: {rate} alerts/s", file=sys.stderr)
    best = max((c["alerts_s"] for c in cases if c["backend"] == "sqlite" and c["subscription"]), default=None)
    return {
        "benchmark": "store",
        "machine": machine(),
        "alerts": count,
        "cases": cases,
        "target_alerts_s": TARGET_ALERTS_S,
        "verdict_sqlite_with_subscription_best": verdict(best, TARGET_ALERTS_S),
    }


def table(result: dict[str, Any]) -> str:
    """The human table: alerts/s per back end and subscription, one column per mode."""
    modes = list(dict.fromkeys(c["mode"] for c in result["cases"]))
    lines = [
        f"notify stage store work, {result['alerts']} alerts, alerts/s (target {TARGET_ALERTS_S:g})",
        f"{'':<34}" + "".join(f"{m:>12}" for m in modes),
    ]
    rows: dict[tuple[str, bool], dict[str, float]] = {}
    for c in result["cases"]:
        rows.setdefault((c["backend"], c["subscription"]), {})[c["mode"]] = c["alerts_s"]
    for (backend, subscribed), rates in rows.items():
        label = f"{backend}, {'1 webhook subscription' if subscribed else 'no subscription'}"
        lines.append(f"{label:<34}" + "".join(f"{rates.get(m, float('nan')):>12.0f}" for m in modes))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--alerts", type=int, default=1000, help="alerts per case (default 1000)")
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql (default both)"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(run([b.strip() for b in args.backends.split(",") if b.strip()], args.alerts))
    with contextlib.suppress(BrokenPipeError):
        emit(result, table(result), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
