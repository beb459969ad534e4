"""Every dashboard query and alerting rule runs on a real Prometheus scraping a real worker, and every
SQL panel on the real PostgreSQL alert store.

The Prometheus test starts the Debian ``prometheus`` binary on a free loopback port with a temporary
configuration that scrapes an in-process worker (``run_service`` on the session's embedded broker,
fed the demo corpus, with the :class:`~monitor.observability.risk.RiskTracker` as a sink so that the
risk gauges carry data) and loads ``dashboards/alerts/*.yml``. Once Prometheus has scraped the
processed corpus, each PromQL expression of each panel, variable and rule (variables substituted:
``$mineral`` -> ``.*``, ``$__rate_interval`` -> ``1m``, ...) must run without error as an instant and
as a range query, and select only metric names the worker's ``/metrics`` exposes; every rule must
evaluate with health ``ok``. The Prometheus process is always killed at the end.

Skipped only when ``/usr/bin/prometheus`` is absent (``deploy/install-prometheus.sh``; CI installs it).
The SQL test skips when PostgreSQL is unreachable, like the store's tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import text

from monitor.ingest.payload import read_jsonl
from monitor.observability.metrics import Metrics
from monitor.observability.risk import RiskTracker
from monitor.records import Alert, Document
from monitor.settings import PACKAGE_DATA, Settings
from monitor.store import SqlAlertStore
from monitor.store.testing import postgres_available, temporary_store
from monitor.streaming.service import RunOptions, RunResult, run_service

PROMETHEUS = Path("/usr/bin/prometheus")
DEMO_CORPUS = PACKAGE_DATA / "demo" / "corpus.jsonl"

#: Bounds of the waits (polled with deadlines, never slept through).
WORKER_DEADLINE_S = 150.0
PROMETHEUS_READY_DEADLINE_S = 60.0
SCRAPE_DEADLINE_S = 60.0

needs_prometheus = pytest.mark.skipif(
    not PROMETHEUS.exists(),
    reason="/usr/bin/prometheus is absent: run deploy/install-prometheus.sh (apt-get install prometheus)",
)


def _support() -> ModuleType:
    name = "monitor_tests_dashboard_queries"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "unit" / "observability" / "dashboard_queries.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


dq = _support()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _poll(
    what: str, check: Callable[[], Awaitable[bool]], deadline_s: float, interval_s: float = 0.5
) -> None:
    """Call ``check`` until it returns True; fail naming ``what`` after ``deadline_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while True:
        if await check():
            return
        if loop.time() >= deadline:
            pytest.fail(f"timed out after {deadline_s:g} s waiting for {what}")
        await asyncio.sleep(interval_s)


# -- Prometheus ---------------------------------------------------------------------------------------


class PrometheusServer:
    """A Prometheus process on loopback with its own config and TSDB directory."""

    def __init__(self, workdir: Path, scrape_target: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / "prometheus.log"
        self.config_path = workdir / "prometheus.yml"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in dq.RULE_FILES],
            "scrape_configs": [
                {"job_name": "monitor", "static_configs": [{"targets": [scrape_target]}]},
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(PROMETHEUS),
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def stop(self) -> None:
        """Terminate, then kill if it does not exit within 10 s. Safe to call twice."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]


@pytest.fixture
def prometheus_dir(tmp_path: Path) -> Path:
    path = tmp_path / "prometheus"
    path.mkdir()
    return path


@pytest.fixture
def worker_port() -> int:
    return _free_port()


@pytest.fixture
def prometheus(prometheus_dir: Path, worker_port: int) -> Iterator[PrometheusServer]:
    """A running Prometheus scraping 127.0.0.1:<worker_port>; always stopped, even on failure."""
    server = PrometheusServer(prometheus_dir, f"127.0.0.1:{worker_port}")
    try:
        server.start()
        yield server
    finally:
        server.stop()
    assert server.process is not None and server.process.poll() is not None, "Prometheus survived the test"


async def _api(session: aiohttp.ClientSession, server: PrometheusServer, path: str, **params: str) -> Any:
    async with session.get(f"{server.url}{path}", params=params) as response:
        body = await response.json(content_type=None)
    return body


# -- the worker ---------------------------------------------------------------------------------------


def _corpus() -> list[Document]:
    documents = [item for item in read_jsonl(DEMO_CORPUS) if isinstance(item, Document)]
    assert len(documents) >= 10
    return documents


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, metrics: Metrics, documents: list[Document]
) -> AsyncIterator[asyncio.Task[RunResult]]:
    """``run_service`` without ``once`` in a background task, cancelled (and awaited) on exit."""
    options = RunOptions(
        documents=documents,
        once=False,
        # As the service wires it: the dispatcher sets monitor_rules_open_alerts from the store.
        sinks=[RiskTracker(metrics, count_open_alerts=False)],
        group_id=f"{settings.kafka.consumer_group}-live-{uuid.uuid4().hex[:6]}",
    )
    task = asyncio.create_task(run_service(settings, options, metrics))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=60)


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


# -- the test -----------------------------------------------------------------------------------------


@needs_prometheus
@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_every_dashboard_query_and_alert_rule_runs_on_a_live_prometheus(
    broker_settings: Settings, prometheus: PrometheusServer, worker_port: int
) -> None:
    settings = broker_settings.model_copy(
        update={"http": broker_settings.http.model_copy(update={"port": worker_port})}
    )
    metrics = Metrics()
    documents = _corpus()
    worker_url = f"http://127.0.0.1:{worker_port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def prometheus_ready() -> bool:
            assert prometheus.process is not None
            if prometheus.process.poll() is not None:
                pytest.fail(f"Prometheus exited with {prometheus.process.returncode}:\n{prometheus.log()}")
            try:
                async with session.get(f"{prometheus.url}/-/ready") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await _poll("Prometheus to be ready", prometheus_ready, PROMETHEUS_READY_DEADLINE_S)

        async with running_worker(settings, metrics, documents) as worker:

            async def corpus_processed() -> bool:
                if worker.done():
                    pytest.fail(f"the worker stopped early: {worker.result()!r}")
                extracted = _sample(metrics, "monitor_stream_messages_total", stage="extract", outcome="ok")
                notified = _sample(metrics, "monitor_stream_messages_total", stage="notify", outcome="ok")
                # The lag gauge is measured by a 5 s timer: wait for its first run too.
                lag_measured = "monitor_stream_consumer_lag_messages" in {
                    s.name for f in metrics.registry.collect() for s in f.samples
                }
                return extracted >= len(documents) and notified > 0 and lag_measured

            await _poll("the worker to process the demo corpus", corpus_processed, WORKER_DEADLINE_S)
            # Let the pipeline drain what is in flight (alerts emitted by the last documents).
            processed = {"notify": -1.0}

            async def settled() -> bool:
                now = _sample(metrics, "monitor_stream_messages_total", stage="notify", outcome="ok")
                stable = now == processed["notify"]
                processed["notify"] = now
                return stable

            await _poll("the notify stage to settle", settled, 30.0, interval_s=2.0)
            assert any(v > 0 for v in _risk_scores(metrics).values()), "the risk tracker scored nothing"

            async with session.get(f"{worker_url}/metrics") as response:
                assert response.status == 200
                exposition = await response.text()
            exported = dq.exposed_names(exposition) | dq.PROMETHEUS_SYNTHETIC
            extracted = _sample(metrics, "monitor_stream_messages_total", stage="extract", outcome="ok")

            async def scraped() -> bool:
                # The processed corpus is in Prometheus, with enough samples for rate() over 1m.
                body = await _api(
                    session,
                    prometheus,
                    "/api/v1/query",
                    query=(
                        f'sum(monitor_stream_messages_total{{job="monitor",stage="extract",outcome="ok"}}) '
                        f">= {extracted} and on() "
                        'count_over_time(up{job="monitor"}[1m]) >= 5 and on() '
                        'count(monitor_stream_consumer_lag_messages{job="monitor"}) > 0'
                    ),
                )
                return body.get("status") == "success" and bool(body["data"]["result"])

            await _poll("Prometheus to scrape the worker", scraped, SCRAPE_DEADLINE_S)

            async def rules_evaluated() -> bool:
                body = await _api(session, prometheus, "/api/v1/rules")
                rules = [r for g in body["data"]["groups"] for r in g["rules"]]
                return bool(rules) and all(not r["lastEvaluation"].startswith("0001") for r in rules)

            await _poll("every rule to be evaluated once", rules_evaluated, SCRAPE_DEADLINE_S)

            failures = await _run_every_query(session, prometheus, exported)
            failures += await _check_rule_health(session, prometheus)
            failures += await _check_panels_with_data(session, prometheus)
            assert not failures, "\n".join(failures)


def _risk_scores(metrics: Metrics) -> dict[str, float]:
    scores: dict[str, float] = {}
    for family in metrics.registry.collect():
        if family.name == "monitor_rules_supply_risk_score":
            scores.update({s.labels["mineral"]: s.value for s in family.samples})
    return scores


def _promql_values() -> dict[str, str]:
    values = dict(dq.PROMQL_BUILTINS)
    for path in dq.dashboard_files():
        for variable in dq.variables(dq.load_dashboard(path)):
            values[variable["name"]] = ".*"
    return values


async def _run_every_query(
    session: aiohttp.ClientSession, prometheus: PrometheusServer, exported: set[str]
) -> list[str]:
    values = _promql_values()
    queries = [q for q in dq.all_dashboard_queries() + dq.rule_queries() if q.language == "promql"]
    assert len(queries) > 30
    now = time.time()
    failures: list[str] = []
    for query in queries:
        expr = dq.substitute(query.text, values)
        unknown = dq.metric_names(expr) - exported
        if unknown:
            failures.append(f"{query.where}: selects {sorted(unknown)}, not exported by the worker")
        instant = await _api(session, prometheus, "/api/v1/query", query=expr, time=f"{now:.3f}")
        if instant.get("status") != "success":
            failures.append(f"{query.where}: instant query failed: {instant.get('error')}\n  {expr}")
            continue
        ranged = await _api(
            session,
            prometheus,
            "/api/v1/query_range",
            query=expr,
            start=f"{now - 300:.3f}",
            end=f"{now:.3f}",
            step="15",
        )
        if ranged.get("status") != "success":
            failures.append(f"{query.where}: range query failed: {ranged.get('error')}\n  {expr}")
    return failures


async def _check_rule_health(session: aiohttp.ClientSession, prometheus: PrometheusServer) -> list[str]:
    body = await _api(session, prometheus, "/api/v1/rules")
    loaded = {r["name"] for g in body["data"]["groups"] for r in g["rules"]}
    expected = {rule["alert"] for path in dq.RULE_FILES for rule in dq.load_rules(path)}
    failures = [f"rule {name} is not loaded by Prometheus" for name in sorted(expected - loaded)]
    for group in body["data"]["groups"]:
        for rule in group["rules"]:
            if rule.get("health") != "ok":
                failures.append(f"rule {rule['name']}: health {rule.get('health')}: {rule.get('lastError')}")
    return failures


async def _check_panels_with_data(session: aiohttp.ClientSession, prometheus: PrometheusServer) -> list[str]:
    """The panels the demo corpus feeds return series (not just no error)."""
    values = _promql_values()
    wanted = {
        ("pipeline-health.json", "Messages per stage"),
        ("pipeline-health.json", "Extraction latency"),
        ("pipeline-health.json", "End-to-end latency"),
        ("pipeline-health.json", "Consumer lag per topic"),
        ("supply-risk.json", "Supply-risk score per mineral"),
        ("supply-risk.json", "Open alerts by severity"),
        ("supply-risk.json", "Alerts raised by severity"),
        ("supply-risk.json", "Alerts by measure (range)"),
    }
    failures = []
    seen = set()
    for path in dq.dashboard_files():
        for panel in dq.iter_panels(dq.load_dashboard(path)):
            if (path.name, panel.get("title")) not in wanted:
                continue
            seen.add((path.name, panel["title"]))
            expr = dq.substitute(panel["targets"][0]["expr"], values)
            body = await _api(session, prometheus, "/api/v1/query", query=expr)
            if not body.get("data", {}).get("result"):
                failures.append(f"{path.name}: panel {panel['title']!r} shows no data: {expr}")
    failures += [f"{p}: panel {t!r} not found" for p, t in sorted(wanted - seen)]
    # The variables offer values: the minerals of the alerts raised.
    body = await _api(
        session, prometheus, "/api/v1/query", query="count by (mineral) (monitor_rules_alerts_total)"
    )
    if not body["data"]["result"]:
        failures.append("variable $mineral would offer no value")
    return failures


# -- SQL panels on the alert store --------------------------------------------------------------------

T0 = datetime.now(UTC) - timedelta(hours=2)


def _alert(alert_id: str, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "id": alert_id,
        "fingerprint": f"fp-{alert_id}",
        "rule": "export-controls",
        "severity": "critical",
        "title": f"MOFCOM announces export controls ({alert_id})",
        "measure": "export_licence",
        "direction": "tighten",
        "minerals": ["gallium", "germanium"],
        "countries": ["CN"],
        "imposing_country": "CN",
        "raised_at": T0,
        "updated_at": T0,
        "severity_reason": "gallium: strictness of export_licence 1; ...; total 5 -> critical",
        "document_ids": [f"doc-{alert_id}"],
        "sources": ["mofcom"],
        "urls": [f"https://example.org/{alert_id}", f"https://example.org/{alert_id}/en"],
    }
    values.update(fields)
    return Alert(**values)


ALERTS = [
    _alert("crit-ga"),
    _alert(
        "crit-co",
        minerals=["cobalt"],
        countries=["CD"],
        imposing_country="CD",
        measure="export_ban",
        title="DR Congo suspends cobalt exports",
        urls=["https://example.org/drc"],
    ),
    _alert("high-li", severity="high", minerals=["lithium"], countries=["NA"], imposing_country="NA"),
    _alert("lift-ga", severity="low", direction="loosen", urls=[]),
]


@pytest.fixture
async def postgres_store(tmp_path: Path) -> AsyncIterator[SqlAlertStore]:
    """A migrated store in a unique schema of the test PostgreSQL, holding ALERTS; dropped after."""
    if not await postgres_available():
        pytest.skip("PostgreSQL is not reachable (MONITOR_TEST_POSTGRES_URL or 127.0.0.1:5432)")
    async with temporary_store("postgresql", tmp_path) as store:
        for alert in ALERTS:
            await store.upsert_alert(alert, now=T0 + timedelta(minutes=1))
        yield store


async def _rows(store: SqlAlertStore, sql: str) -> list[dict[str, Any]]:
    return await store.run_sync(lambda conn: [dict(row._mapping) for row in conn.execute(text(sql))])


@pytest.mark.parametrize(
    "selection",
    [{"mineral": ".*", "country": ".*"}, {"mineral": "gallium", "country": "CN"}],
    ids=["all", "gallium-CN"],
)
async def test_every_sql_query_runs_on_the_postgresql_store(
    postgres_store: SqlAlertStore, selection: dict[str, str]
) -> None:
    queries = [q for q in dq.all_dashboard_queries() if q.language == "sql"]
    assert len(queries) >= 3
    results: dict[str, list[dict[str, Any]]] = {}
    failures = []
    for query in queries:
        sql = dq.substitute(dq.expand_sql_macros(query.text), {**selection, **dq.PROMQL_BUILTINS})
        assert not re.search(r"\$[\w{\[]", sql), f"{query.where}: a variable or macro is left: {sql}"
        try:
            results[query.where] = await _rows(postgres_store, sql)
        except Exception as err:  # report every failing query, not just the first
            failures.append(f"{query.where}: {type(err).__name__}: {err}\n{sql}")
    assert not failures, "\n".join(failures)

    def result(panel: str) -> list[dict[str, Any]]:
        return next(rows for where, rows in results.items() if f"panel {panel!r}" in where)

    critical = result("Latest critical alerts")
    ids = [row["alert id"] for row in critical]
    assert "crit-ga" in ids and "high-li" not in ids and "lift-ga" not in ids
    assert ("crit-co" in ids) == (selection["mineral"] == ".*")
    gallium = next(row for row in critical if row["alert id"] == "crit-ga")
    assert gallium["evidence"] == "https://example.org/crit-ga"
    assert gallium["all evidence"] == "https://example.org/crit-ga https://example.org/crit-ga/en"
    assert gallium["minerals"] == "gallium, germanium"
    assert gallium["title"] == "MOFCOM announces export controls (crit-ga)"
    assert gallium["documents"] == 1
    by_country = {row["country"]: row for row in result("Alerts by country (range)")}
    assert by_country["CN"]["critical"] == 1 and by_country["CN"]["alerts"] == 2
    over_time = result("Alerts raised by country")
    assert {row["metric"] for row in over_time} >= {"CN"}
    assert all(row["time"] is not None and row["alerts"] >= 1 for row in over_time)
    countries = next(rows for where, rows in results.items() if "variable $country" in where)
    assert {row["value"] for row in countries} == {"CD", "CN", "NA"}
