"""Benchmark scaling: the pipeline on 1 and on 2 workers (separate ``monitor run`` processes, one group).

Run: ``python bench/scale.py [--json] [--docs N] [--partitions P] [--workers 1,2] [--store-url URL]``.

For each worker count: fresh topics (``--partitions``, default 4) under a unique prefix, that many
``monitor run`` processes in one consumer group, each with its own HTTP port (for ``/readyz`` and
``/metrics``) and polling disabled; once every worker is ready and the group has settled, ``--docs``
documents are produced to the raw topic and the clock runs until every stage of every worker has
handled every message (read from the workers' ``/metrics`` against the topics' end offsets).
Reported: documents/s for each count, the ratio 2 workers / 1 worker, and CPU use of the workers
and of the broker.

Alert store: each worker gets its own SQLite file by default (SQLite is the single-node store; the
README says PostgreSQL for several workers); ``--store-url`` gives all workers one shared store,
e.g. ``postgresql+asyncpg://...``.

This machine has 2 cores shared by the workers, the broker and the load generator: two workers
cannot get two free cores here, which the CPU columns make visible.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Deadline,
    bench_settings,
    broker,
    child_env,
    document_mix,
    emit,
    kafka_env,
    machine,
    ratio,
    spawn,
    stop_process,
    unique_prefix,
    verdict,
)
from prometheus_client.parser import text_string_to_metric_families

from monitor.records import Document
from monitor.streaming.broker import free_port
from monitor.streaming.topics import TopicNames, ensure_topics

TARGET_RATIO = 1.6
STAGES = ("ingest", "extract", "evaluate", "notify")


class Worker:
    """One ``monitor run`` process with its HTTP port; its stderr in a temporary file."""

    def __init__(self, index: int, env: dict[str, str]) -> None:
        self.index = index
        self.port = free_port()
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "-m", "monitor", "run", "--http-port", str(self.port)]
        self.process: subprocess.Popen[bytes] = spawn(
            command, env, stdout=subprocess.DEVNULL, stderr=self.stderr
        )

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        """Status and body of ``GET path`` on the worker (0 when it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except OSError as err:
            status = getattr(err, "code", 0)
            return int(status or 0), ""

    def ready(self) -> bool:
        return self.get("/readyz")[0] == 200

    def handled(self) -> dict[str, float]:
        """Messages handled per stage (ok + error), from ``/metrics``."""
        status, text = self.get("/metrics")
        counts = dict.fromkeys(STAGES, 0.0)
        if status != 200:
            return counts
        for family in text_string_to_metric_families(text):
            if family.name != "monitor_stream_messages":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("stage") in counts:
                    counts[sample.labels["stage"]] += sample.value
        return counts

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the worker so far (Linux /proc)."""
        return process_cpu_s(self.process.pid) or 0.0

    def tail(self) -> str:
        with contextlib.suppress(ValueError, OSError):
            self.stderr.seek(0)
            return self.stderr.read().decode("utf-8", "replace")[-3000:]
        return ""

    def stop(self) -> None:
        stop_process(self.process, timeout_s=30)
        self.stderr.close()


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _produce(bootstrap: str, topic: str, documents: list[Document]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        for document in documents:
            await producer.send(topic, document.dumps(), key=document.id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _end_offsets(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Sum of the end offsets of each topic's partitions."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in consumer.partitions_for_topic(topic) or ()
        ]
        if not all(consumer.partitions_for_topic(t) for t in topics):
            await consumer._client.force_metadata_update()  # fresh topics
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in consumer.partitions_for_topic(topic) or ()
            ]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    totals = dict.fromkeys(topics, 0)
    for tp, offset in ends.items():
        totals[tp.topic] += offset
    return totals


def run_count(
    args: argparse.Namespace,
    bootstrap: str,
    embedded: bool,
    broker_pid: int | None,
    count: int,
    documents: list[Document],
) -> dict[str, Any]:
    """Start ``count`` workers, produce the documents, time until all are handled; stop the workers."""
    prefix = unique_prefix(f"scale{count}")
    names = TopicNames.from_prefix(prefix)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        settings = bench_settings(
            bootstrap, prefix, embedded=embedded, store_dir=Path(tmp), partitions=args.partitions
        )
        asyncio.run(ensure_topics(bootstrap, names.all(), settings.kafka))
        workers: list[Worker] = []
        try:
            for index in range(count):
                store_dir = Path(tmp) / f"worker{index}"
                store_dir.mkdir()
                env = child_env(
                    **kafka_env(
                        bootstrap, prefix, embedded=embedded, store_dir=store_dir, partitions=args.partitions
                    ),
                    MONITOR_LOG__FORMAT="json",
                    MONITOR_LOG__LEVEL="WARNING",
                )
                if args.store_url:
                    env["MONITOR_STORE__URL"] = args.store_url
                workers.append(Worker(index, env))
            deadline = Deadline(args.timeout)
            while not all(w.ready() for w in workers):
                for w in workers:
                    if w.process.poll() is not None:
                        raise RuntimeError(f"worker {w.index} exited:\n{w.tail()}")
                if deadline.passed():
                    raise RuntimeError("workers not ready in time:\n" + "\n".join(w.tail() for w in workers))
                time.sleep(0.2)
            # Tansu completes each join only after the rebalance timeout (2 s): let the group settle.
            time.sleep(args.settle)
            log(f"{count} worker(s) ready; producing {len(documents):,} documents")
            cpu0 = [w.cpu_seconds() for w in workers]
            broker0 = process_cpu_s(broker_pid) if broker_pid else None
            started = time.perf_counter()
            asyncio.run(_produce(bootstrap, names.raw, documents))
            produced_s = time.perf_counter() - started
            finished = _wait_done(args, bootstrap, names, workers, len(documents), deadline)
            elapsed = finished - started
            cpu = [w.cpu_seconds() - c for w, c in zip(workers, cpu0, strict=True)]
            broker1 = process_cpu_s(broker_pid) if broker_pid else None
            per_worker = [w.handled() for w in workers]
        finally:
            for w in workers:
                w.stop()
    result: dict[str, Any] = {
        "workers": count,
        "docs": len(documents),
        "seconds": round(elapsed, 3),
        "docs_per_s": round(len(documents) / elapsed, 1),
        "produce_seconds": round(produced_s, 3),
        "documents_extracted_per_worker": [int(h["extract"]) for h in per_worker],
        "worker_cpu_percent": [round(100.0 * c / elapsed, 1) for c in cpu],
    }
    if broker0 is not None and broker1 is not None:
        result["broker_cpu_percent"] = round(100.0 * (broker1 - broker0) / elapsed, 1)
    log(f"{count} worker(s): {result['docs_per_s']:,.1f} docs/s")
    return result


def _wait_done(
    args: argparse.Namespace,
    bootstrap: str,
    names: TopicNames,
    workers: list[Worker],
    docs: int,
    deadline: Deadline,
) -> float:
    """The time at which every stage had handled every message of its input topic."""
    last_check = 0.0
    while not deadline.passed():
        for w in workers:
            if w.process.poll() is not None:
                raise RuntimeError(f"worker {w.index} exited:\n{w.tail()}")
        now = time.perf_counter()
        totals = dict.fromkeys(STAGES, 0.0)
        for w in workers:
            for stage, value in w.handled().items():
                totals[stage] += value
        if totals["ingest"] >= docs and totals["extract"] >= docs and now - last_check > 0.3:
            last_check = now
            ends = asyncio.run(_end_offsets(bootstrap, [names.events, names.alerts]))
            if totals["evaluate"] >= ends[names.events] and totals["notify"] >= ends[names.alerts]:
                return now
        time.sleep(0.1)
    raise RuntimeError(
        "the workers did not handle every message in time:\n" + "\n".join(w.tail() for w in workers)
    )


def log(message: str) -> None:
    """Progress on stderr (stdout carries the result)."""
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def table(result: dict[str, Any]) -> str:
    """The human-readable table."""
    rows = [
        f"scale on the {result['broker']} broker: {result['documents']:,} documents, "
        f"{result['partitions']} partitions, {result['machine']['cpus']} CPUs, store: {result['store']}",
        f"{'workers':<10}{'docs/s':>10}{'seconds':>10}{'docs per worker':>22}"
        f"{'worker cpu %':>18}{'broker cpu %':>14}",
    ]
    for r in result["runs"]:
        rows.append(
            f"{r['workers']:<10}{r['docs_per_s']:>10,.1f}{r['seconds']:>10.1f}"
            f"{'/'.join(str(n) for n in r['documents_extracted_per_worker']):>22}"
            f"{'/'.join(str(c) for c in r['worker_cpu_percent']):>18}"
            f"{r.get('broker_cpu_percent', '-')!s:>14}"
        )
    rows.append(
        f"ratio 2 workers / 1 worker: {result['ratio_2_over_1']} "
        f"(target >= {TARGET_RATIO}: {result['verdict']})"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--json", action="store_true", help="print only the JSON result")
    add("--docs", type=int, default=3000, help="documents produced for each worker count (default 3000)")
    add("--partitions", type=int, default=4, help="partitions of every topic (default 4, at least 4)")
    add("--workers", default="1,2", help="worker counts to run (default 1,2)")
    add("--settle", type=float, default=6.0, help="seconds to let the group settle after ready (default 6)")
    add("--spacing", type=float, default=3600.0, help="seconds between publication times (default 3600)")
    add("--store-url", default=None, help="one alert store for all workers (default: a SQLite file each)")
    add("--timeout", type=float, default=300.0, help="seconds allowed to each run (default 300)")
    args = parser.parse_args(argv)
    if args.partitions < 4:
        parser.error("--partitions must be at least 4")
    counts = [int(c) for c in args.workers.split(",") if c.strip()]
    runs = []
    with broker() as handle:
        embedded = handle.embedded is not None
        pid = handle.embedded.pid if handle.embedded is not None else None
        for count in counts:
            documents = document_mix(args.docs, spacing_s=args.spacing, tag=f"s{count}")
            runs.append(run_count(args, handle.bootstrap_servers, embedded, pid, count, documents))
        kind = handle.kind
    by_count = {r["workers"]: r["docs_per_s"] for r in runs}
    scale = ratio(by_count.get(2, 0), by_count.get(1, 0)) if 1 in by_count and 2 in by_count else None
    result = {
        "benchmark": "scale",
        "broker": kind,
        "machine": machine(),
        "documents": args.docs,
        "partitions": args.partitions,
        "store": "shared: " + args.store_url.split("@")[-1]
        if args.store_url
        else "one SQLite file per worker",
        "runs": runs,
        "ratio_2_over_1": scale,
        "target": TARGET_RATIO,
        "verdict": verdict(scale, TARGET_RATIO),
    }
    emit(result, table(result), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
