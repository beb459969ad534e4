"""The ``monitor`` command as a user runs it: a real process, the embedded broker, real output."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from monitor.streaming.broker import free_port

pytestmark = pytest.mark.slow

COMMANDS = ["run", "demo", "replay", "extract", "eval"]


def _env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MONITOR_") and k != "KAFKA_BOOTSTRAP_SERVERS"
    }
    env["MONITOR_LOG__FORMAT"] = "json"
    # Never the repository's var/ folder: each test process gets its own throw-away store.
    env["MONITOR_STORE__URL"] = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='monitor-e2e-')}/store.sqlite"
    return env


def _monitor(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


def _broker_listening(port: int) -> bool:
    """True while a Tansu broker process for 127.0.0.1:``port`` exists (other tests may run brokers too)."""
    found = subprocess.run(
        ["pgrep", "-f", f"tansu.*broker.*tcp://127.0.0.1:{port}"], capture_output=True, text=True
    )
    return bool(found.stdout.strip())


def _broker_port(stderr: str) -> int:
    """The embedded broker's port, from the service's log line about it."""
    match = re.search(r"Tansu\) started on 127\.0\.0\.1:(\d+)", stderr)
    assert match, f"no embedded broker log line in: {stderr[-2000:]}"
    return int(match.group(1))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command: str) -> None:
    done = _monitor(command, "--help")
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    assert len(done.stdout.splitlines()) > 4


def test_demo_once_runs_to_completion_and_leaves_no_broker_behind() -> None:
    done = _monitor("demo", "--once", "--jsonl", "--http-port", "0")
    assert done.returncode == 0, done.stderr[-3000:]
    alerts = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(alerts) >= 5
    for alert in alerts:
        assert {
            "id",
            "severity",
            "measure",
            "minerals",
            "countries",
            "direction",
            "rule",
            "document_ids",
        } <= set(alert)
        assert alert["severity"] in {"low", "medium", "high", "critical"}
    assert "IN MEMORY ONLY" in done.stderr
    assert not _broker_listening(_broker_port(done.stderr))


def test_replay_reports_bad_lines_processes_the_good_ones_and_exits_non_zero(tmp_path: Path) -> None:
    good = {
        "id": "r-1",
        "title": "DR Congo suspends cobalt exports for four months",
        "text": "The Democratic Republic of Congo suspended cobalt exports for four months to curb "
        "oversupply, the strategic minerals regulator ARECOMS said on Saturday.",
        "published": "2025-02-22T10:00:00Z",
    }
    lines = [json.dumps(good), "{not json", json.dumps({"id": "r-2", "title": "no text"}), ""]
    file = tmp_path / "docs.jsonl"
    file.write_text("\n".join(lines), encoding="utf-8")
    done = _monitor("replay", str(file), "--once", "--jsonl", "--http-port", "0")
    assert done.returncode == 1
    assert f"{file}:2:" in done.stderr and "invalid JSON" in done.stderr
    assert f"{file}:3:" in done.stderr and "text" in done.stderr
    alerts = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [a["document_ids"] for a in alerts] == [["r-1"]]
    assert alerts[0]["measure"] == "export_ban" and "cobalt" in alerts[0]["minerals"]
    assert "2 invalid lines" in done.stderr


def test_extract_jsonl_keeps_order_and_ids() -> None:
    docs = [
        {"id": "a", "title": "", "text": "Indonesia banned nickel ore exports from January 2020."},
        {"id": "b", "title": "Prices", "text": "Copper prices rose on Monday."},
    ]
    stdin = "\n".join(json.dumps(d) for d in docs) + "\nnot json\n"
    done = _monitor("extract", "--jsonl", stdin=stdin)
    assert done.returncode == 1
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o.get("id") for o in out] == ["a", "b", None]
    assert out[0]["minerals"] == ["nickel"] and out[0]["countries"] == ["ID"]
    assert "error" in out[2]


def test_run_serves_health_metrics_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "run.log"
    env = _env()
    env["MONITOR_STORE__URL"] = f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite'}"
    env["MONITOR_INGEST__POLL"] = "false"  # no network: the real sources are not polled in tests
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--http-port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=out,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                    ready = response.status == 200
            except OSError:
                time.sleep(0.2)
        assert ready, "the service did not become ready"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            assert json.loads(response.read())["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            assert b"# TYPE monitor_stream_messages_total counter" in response.read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not _broker_listening(_broker_port(log.read_text(errors="replace")))
