"""Benchmark start-up: ``monitor demo --once --jsonl`` from process start to the first alert printed.

Run: ``python bench/startup.py [--json] [--runs 3]``.

Each run starts ``monitor demo --once --jsonl --http-port 0`` as a fresh process (with
``MONITOR_LOG__FORMAT=json``, an alert store in a temporary folder) and times the first alert line
on its stdout; the run then goes on to its end, whose time is reported too. Without
``KAFKA_BOOTSTRAP_SERVERS`` the demo starts its own embedded broker (part of what is measured);
with it set, the demo uses that cluster. Reported: the median of ``--runs`` (target < 10 s).

Baseline, in the same run: the simplest program that prints the same kind of alert: a fresh Python
process that imports the extractor and the rules, loads them, and evaluates the demo corpus in order
until its first alert: the floor of imports and model/rule loading, with no broker, no Faust and
no store.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import child_env, emit, machine, ratio, spawn, stop_process, store_url, verdict

TARGET_S = 10.0

BASELINE = """
import json, sys
from monitor.extract import Extractor
from monitor.records import Document, TaggedEvent
from monitor.rules import RuleSet, RuleState, evaluate
from monitor.settings import PACKAGE_DATA, load_settings

settings = load_settings()
extractor = Extractor(max_chars=settings.extract.max_chars)
rules = RuleSet.load(settings.rules.paths)
states = {}
for line in (PACKAGE_DATA / "demo" / "corpus.jsonl").read_text().splitlines():
    document = Document.from_data({**json.loads(line), "fetched": "2026-01-01T00:00:00Z"})
    event = TaggedEvent.from_document(document, extractor.extract(document.text, document.title))
    for key in rules.routing_keys(event):
        states[key], alerts = evaluate(rules, states.get(key) or RuleState(), event, key,
                                       event.published or event.fetched)
        if alerts:
            print(alerts[0].dumps().decode(), flush=True)
            sys.exit(0)
"""


def _time_first_line(command: list[str], env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """Seconds from spawning ``command`` to its first JSON line on stdout, and to its exit."""
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = spawn(command, env, stdout=subprocess.PIPE, stderr=stderr)
        first: list[float] = []
        lines = 0

        def read() -> None:
            nonlocal lines
            assert process.stdout is not None
            for raw in process.stdout:
                if raw.lstrip().startswith(b"{"):
                    lines += 1
                    if not first:
                        first.append(time.perf_counter() - started)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        finally:
            stop_process(process)
            reader.join(timeout=5)
        total = time.perf_counter() - started
        if not first:
            stderr.seek(0)
            tail = stderr.read().decode("utf-8", "replace")[-3000:]
            raise RuntimeError(
                f"no alert printed by {' '.join(command)} (exit {process.returncode}):\n{tail}"
            )
        return {
            "first_alert_s": round(first[0], 3),
            "exit_s": round(total, 3),
            "exit_code": process.returncode,
            "alert_lines": lines,
        }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs of each (default 3; the median is reported)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds allowed to one run (default 60)")
    args = parser.parse_args(argv)
    demo_runs, baseline_runs = [], []
    for index in range(max(1, args.runs)):
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
            env = child_env(MONITOR_LOG__FORMAT="json", MONITOR_STORE__URL=store_url(Path(tmp)))
            command = [sys.executable, "-m", "monitor", "demo", "--once", "--jsonl", "--http-port", "0"]
            demo_runs.append(_time_first_line(command, env, args.timeout))
        baseline_runs.append(_time_first_line([sys.executable, "-c", BASELINE], child_env(), args.timeout))
        print(
            f"[startup] run {index + 1}: demo first alert {demo_runs[-1]['first_alert_s']} s, "
            f"baseline {baseline_runs[-1]['first_alert_s']} s",
            file=sys.stderr,
            flush=True,
        )
    demo = statistics.median(r["first_alert_s"] for r in demo_runs)
    baseline = statistics.median(r["first_alert_s"] for r in baseline_runs)
    result = {
        "benchmark": "startup",
        "machine": machine(),
        "broker": "external"
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        else "embedded (Tansu), started by the demo",
        "demo_first_alert_median_s": demo,
        "demo_exit_median_s": statistics.median(r["exit_s"] for r in demo_runs),
        "baseline_first_alert_median_s": baseline,
        "ratio_demo_over_baseline": ratio(demo, baseline),
        "runs": {"demo": demo_runs, "baseline": baseline_runs},
        "target_s": TARGET_S,
        "verdict": verdict(demo, TARGET_S, higher_is_better=False),
    }
    table = "\n".join(
        [
            f"start-up to first alert, median of {len(demo_runs)} runs, {result['machine']['cpus']} CPUs",
            f"{'':<58}{'first alert s':>14}{'exit s':>9}",
            f"{'monitor demo --once --jsonl (broker, Faust, store, API)':<58}{demo:>14.2f}"
            f"{result['demo_exit_median_s']:>9.2f}",
            f"{'baseline: python + extractor + rules, no broker':<58}{baseline:>14.2f}{'-':>9}",
            f"demo / baseline {result['ratio_demo_over_baseline']}; "
            f"target < {TARGET_S:g} s: {result['verdict']}",
        ]
    )
    with contextlib.suppress(BrokenPipeError):
        emit(result, table, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
