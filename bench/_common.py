"""Shared helpers of the benchmarks: broker, settings, document mix, statistics, output, processes.

Every benchmark runs on the embedded Tansu broker by default (started here, stopped on every exit
path) and on a real cluster when ``KAFKA_BOOTSTRAP_SERVERS`` is set. Topic names get a unique
prefix per run, so runs never see each other's messages and an existing cluster is not disturbed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import queue
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from monitor.records import Document  # noqa: E402
from monitor.settings import PACKAGE_DATA, Settings, load_settings  # noqa: E402
from monitor.streaming.broker import EmbeddedBroker  # noqa: E402

DEMO_CORPUS = PACKAGE_DATA / "demo" / "corpus.jsonl"


# -- broker ------------------------------------------------------------------------------------------


@dataclass
class BrokerHandle:
    """Where the benchmark's broker is; ``embedded`` is the broker this process started, if any."""

    bootstrap_servers: str
    embedded: EmbeddedBroker | None

    @property
    def kind(self) -> str:
        """``embedded (Tansu)`` or ``external``."""
        return "embedded (Tansu)" if self.embedded is not None else "external"


@contextlib.contextmanager
def broker() -> Iterator[BrokerHandle]:
    """The cluster of ``KAFKA_BOOTSTRAP_SERVERS``, else an embedded Tansu broker stopped on exit."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        yield BrokerHandle(external, None)
        return
    embedded = EmbeddedBroker().start()
    try:
        yield BrokerHandle(embedded.bootstrap_servers, embedded)
    finally:
        embedded.stop()


def unique_prefix(name: str) -> str:
    """A topic prefix (and consumer-group stem) unique to this run."""
    return f"bench-{name}-{uuid.uuid4().hex[:8]}"


def bench_settings(
    bootstrap: str, prefix: str, *, embedded: bool, store_dir: Path, partitions: int = 4
) -> Settings:
    """Settings pointing at ``bootstrap`` with topics under ``prefix`` and an alert store in ``store_dir``.

    The service treats any configured bootstrap address as a real cluster (60 s rebalance timeout);
    on the embedded broker, which completes a group join only after the rebalance timeout, the
    benchmarks use the embedded values (2 s), exactly as the service does with its own embedded broker.
    The alert store is a fresh SQLite file (never the default ``var/monitor.sqlite``).
    """
    kafka: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "topic_prefix": prefix,
        "consumer_group": f"{prefix}-group",
        "partitions": partitions,
    }
    if embedded:
        kafka.update(
            rebalance_timeout_s=2.0, session_timeout_s=6.0, heartbeat_interval_s=1.0, fetch_max_wait_ms=10
        )
    return load_settings(
        overrides={
            "kafka": kafka,
            "http": {"port": 0},
            "log": {"level": "WARNING", "format": "text"},
            "store": {"url": store_url(store_dir)},
        }
    )


def store_url(store_dir: Path) -> str:
    """A fresh SQLite alert store in ``store_dir``."""
    return f"sqlite+aiosqlite:///{store_dir / 'alerts.sqlite'}"


def kafka_env(
    bootstrap: str, prefix: str, *, embedded: bool, store_dir: Path, partitions: int = 4
) -> dict[str, str]:
    """The environment that gives a ``monitor`` command the settings of :func:`bench_settings`."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MONITOR_KAFKA__TOPIC_PREFIX": prefix,
        "MONITOR_KAFKA__CONSUMER_GROUP": f"{prefix}-group",
        "MONITOR_KAFKA__PARTITIONS": str(partitions),
        "MONITOR_STORE__URL": store_url(store_dir),
        "MONITOR_INGEST__POLL": "false",
    }
    if embedded:
        env.update(
            MONITOR_KAFKA__REBALANCE_TIMEOUT_S="2",
            MONITOR_KAFKA__SESSION_TIMEOUT_S="6",
            MONITOR_KAFKA__HEARTBEAT_INTERVAL_S="1",
            MONITOR_KAFKA__FETCH_MAX_WAIT_MS="10",
        )
    return env


# -- documents ---------------------------------------------------------------------------------------

_MINERALS = [
    "gallium",
    "germanium",
    "lithium",
    "cobalt",
    "rare earths",
    "graphite",
    "nickel",
    "antimony",
    "tungsten",
    "dysprosium",
    "copper",
    "palladium",
    "bauxite",
    "manganese",
    "indium",
]
_ACTORS = [
    "China",
    "Beijing",
    "Indonesia",
    "The DRC",
    "Zimbabwe",
    "The United States",
    "MOFCOM",
    "The EU",
    "Japan",
    "Chile",
    "India",
    "USTR",
    "Canada",
    "Australia",
    "Namibia",
    "Myanmar",
]
_TARGETS = ["the United States", "Japan", "all destinations", "China", "Russia", "the EU", "South Korea"]
_EVENTS = [
    "{a} will require export licences for {m} shipments to {t} from December 1, 2025.",
    "{a} said it would ban exports of {m} and {m2} to {t}, effective immediately.",
    "{a} suspended the ban on {m} exports to {t} until November 2026.",
    "{a} imposed 25% tariffs on imports of {m} from {t} after a trade investigation.",
    "Prices of {m} fell 5% this week as demand from battery makers in {t} slowed.",
    "{a} and {t} signed a critical minerals partnership covering {m} and {m2}.",
    "A new {m} mine opened in {t}, lifting output by a fifth, the company said.",
    "{a} is not considering an export quota on {m}, a spokesperson told reporters.",
]
_FILLER = [
    "Analysts said the decision would affect supply chains for electric vehicles and defence equipment.",
    "Traders reported thin volumes and wide spreads in the spot market on Tuesday.",
    "The company plans to expand capacity at its refinery next year, according to a statement.",
    "Officials did not give further details about the timing or scope of the measures.",
    "Shares of producers rose in early trading before paring gains in the afternoon session.",
    "Industry groups urged the government to consult exporters before the rules take effect.",
]


def generated_item(rng: random.Random) -> tuple[str, str]:
    """One generated (title, text) news item of about 60 words: measure news, market news or noise."""
    m, m2 = rng.sample(_MINERALS, 2)
    event = rng.choice(_EVENTS).format(a=rng.choice(_ACTORS), m=m, m2=m2, t=rng.choice(_TARGETS))
    text = " ".join([event, *rng.sample(_FILLER, 3)])
    return " ".join(event.split()[:9]), text


def demo_corpus() -> list[dict[str, Any]]:
    """The 40 documents of the demo corpus, as dicts."""
    return [json.loads(line) for line in DEMO_CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def document_mix(count: int, *, seed: int = 7, tag: str = "", spacing_s: float = 3600.0) -> list[Document]:
    """``count`` documents with unique ids: half the demo corpus cycled, half generated 60-word items.

    Publication times advance by ``spacing_s`` per document (ending now), as a real stream's do: a
    measure is reported a few times within the rules' 30-day suppression window, not thousands of
    times (``spacing_s=0`` stamps every document now, so that all copies of one story join one alert
    until its evidence cap). ``tag`` is added to the ids, so that two runs never share a document id.
    """
    rng = random.Random(seed)
    corpus = demo_corpus()
    now = datetime.now(UTC)
    start = now - timedelta(seconds=spacing_s * count)
    out: list[Document] = []
    for index in range(count):
        published = start + timedelta(seconds=spacing_s * index)
        if index % 2 == 0:
            item = corpus[(index // 2) % len(corpus)]
            out.append(
                Document(
                    id=f"bench{tag}-{index:07d}-{item['id']}",
                    title=item["title"],
                    text=item["text"],
                    source=item["source"],
                    fetched=now,
                    url=item.get("url"),
                    published=published,
                )
            )
        else:
            title, text = generated_item(rng)
            out.append(
                Document(
                    id=f"bench{tag}-{index:07d}-gen",
                    title=title,
                    text=text,
                    source="bench-generated",
                    fetched=now,
                    url=f"https://news.example.org/{index}",
                    published=published,
                )
            )
    return out


# -- statistics and output ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """p50/p95/p99/max in milliseconds and the sample count."""
    return {
        "samples": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 1),
        "p95_ms": round(percentile(seconds, 95) * 1000, 1),
        "p99_ms": round(percentile(seconds, 99) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1) if seconds else float("nan"),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 1) if seconds else float("nan"),
    }


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` rounded, or None when the denominator is zero."""
    return round(numerator / denominator, 3) if denominator else None


def emit(result: dict[str, Any], table: str, as_json: bool) -> None:
    """Print the JSON object (always) and, unless ``as_json``, the human table after it."""
    print(json.dumps(result, indent=2, default=str))
    if not as_json:
        print()
        print(table)


def verdict(value: float | None, target: float, *, higher_is_better: bool = True) -> str:
    """``ok`` or ``MISSED`` against a target."""
    if value is None or value != value:  # None or NaN
        return "n/a"
    met = value >= target if higher_is_better else value < target
    return "ok" if met else "MISSED"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": sys.platform,
        # Other work on the machine shares its cores: figures taken under load are lower.
        "load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()],
    }


def max_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(who).ru_maxrss / 1024.0, 1)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- child processes ---------------------------------------------------------------------------------


class Deadline:
    """A monotonic deadline."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.end - time.monotonic())

    def passed(self) -> bool:
        """True once the deadline has passed."""
        return time.monotonic() >= self.end


def python_command(script: Path, *args: str) -> list[str]:
    """The command that runs ``script`` with this interpreter."""
    return [sys.executable, str(script), *args]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: ours, the repository first on the path, then ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    env.update(extra)
    return env


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # A child must never outlive the benchmark, even when the benchmark is killed with SIGKILL.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(process: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """Stop a child we started: SIGTERM, then SIGKILL after ``timeout_s``. Safe when it already ended."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=timeout_s)


_WORKDIR: list[str] = []


def workdir() -> str:
    """A temporary working folder for our children, removed when we exit.

    Faust writes a ``<app id>-data`` folder into the working directory of every app, even with the
    memory store; the children run here so that no benchmark leaves folders in the repository.
    """
    if not _WORKDIR:
        _WORKDIR.append(tempfile.mkdtemp(prefix="bench-cwd-"))
        atexit.register(shutil.rmtree, _WORKDIR[0], True)
    return _WORKDIR[0]


def spawn(command: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a child process that dies with us (``PR_SET_PDEATHSIG``); stop it with :func:`stop_process`.

    It runs in :func:`workdir` unless ``cwd`` is given.
    """
    kwargs.setdefault("cwd", workdir())
    return subprocess.Popen(
        command, stdin=subprocess.DEVNULL, env=env or child_env(), preexec_fn=_die_with_parent, **kwargs
    )


class Child:
    """A child process speaking JSON lines on stdout: ``{"event": ...}`` marks and one ``{"result": ...}``.

    Its stderr goes to a temporary file, shown when it fails. :meth:`stop` (also on ``with`` exit)
    ends it; the kernel ends it too if we die.
    """

    def __init__(self, command: list[str], env: dict[str, str] | None = None, name: str = "child") -> None:
        self.name = name
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = spawn(command, env, stdout=subprocess.PIPE, stderr=self._stderr)
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: dict[str, dict[str, Any]] = {}
        threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True).start()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def _read(self) -> None:
        stdout = self.process.stdout
        if stdout is None:
            return
        with contextlib.suppress(ValueError, OSError):
            for raw in stdout:
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith("{"):
                    with contextlib.suppress(json.JSONDecodeError):
                        value = json.loads(line)
                        if isinstance(value, dict):
                            self._lines.put(value)
        self._lines.put(None)

    def wait_for(self, event: str, timeout_s: float) -> dict[str, Any]:
        """Wait for the line ``{"event": event}`` (``"result"``: the result).

        Raises RuntimeError when the child exits first or the timeout passes.
        """
        deadline = Deadline(timeout_s)
        while event not in self.events:
            try:
                item = self._lines.get(timeout=max(0.01, deadline.left()))
            except queue.Empty:
                message = f"{self.name}: no {event!r} within {timeout_s:.0f} s"
                raise RuntimeError(message + self.tail()) from None
            if item is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=10)
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode}{self.tail()}")
            if "result" in item:
                self.events["result"] = item["result"]
            elif "event" in item:
                self.events[str(item["event"])] = item
        return self.events[event]

    def wait_result(self, timeout_s: float) -> dict[str, Any]:
        """The child's result (waiting at most ``timeout_s``), after which the child is waited for."""
        result = self.wait_for("result", timeout_s)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        return result

    def tail(self) -> str:
        """The end of the child's stderr, for error messages."""
        with contextlib.suppress(ValueError, OSError):
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace")
            return f"\n--- {self.name} stderr (tail) ---\n{text[-4000:]}" if text else ""
        return ""

    def stop(self) -> None:
        """End the child (SIGTERM, then SIGKILL) and release its files."""
        stop_process(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def say(**item: Any) -> None:
    """In a child: print one JSON line for the parent (``event=...`` or ``result=...``)."""
    print(json.dumps(item, default=str), flush=True)
