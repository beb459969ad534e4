"""The ``monitor`` command. Thin: build the settings once, then call the right entry point."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.errors import ConfigError, InputError, MonitorError
from monitor.extract.cli_support import extraction_to_json
from monitor.ingest.payload import LineError, read_jsonl
from monitor.observability.logging import configure_logging
from monitor.output import alert_line, alert_to_json, print_json
from monitor.records import Alert, Document
from monitor.settings import PACKAGE_DATA, PROJECT_ROOT, Settings, load_settings

if TYPE_CHECKING:
    from monitor.observability.metrics import Metrics

DEMO_CORPUS = PACKAGE_DATA / "demo" / "corpus.jsonl"
OFFLINE_SOURCES = PROJECT_ROOT / "pipelines" / "offline.yaml"


def _settings(ctx: click.Context, **cli: Any) -> Settings:
    """Load the settings with the command line's options on top."""
    overrides: dict[str, dict[str, Any]] = {}
    if cli.get("http_host") is not None:
        overrides.setdefault("http", {})["host"] = cli["http_host"]
    if cli.get("http_port") is not None:
        overrides.setdefault("http", {})["port"] = cli["http_port"]
    if cli.get("log_level") is not None:
        overrides.setdefault("log", {})["level"] = cli["log_level"]
    if cli.get("rules"):
        overrides.setdefault("rules", {})["paths"] = [Path(p) for p in cli["rules"]]
    try:
        return load_settings(ctx.obj.get("config"), overrides)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err


def _http_options(func: Any) -> Any:
    func = click.option(
        "--http-port", type=int, default=None, help="HTTP port (default 8080; 0 picks a free one)."
    )(func)
    func = click.option("--http-host", default=None, help="HTTP address to bind (default 127.0.0.1).")(func)
    func = click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR.")(func)
    func = click.option(
        "--rules",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Rule file or folder (repeatable; default: the rules/ pack).",
    )(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="YAML settings file (also env MONITOR_CONFIG). Environment variables override it.",
)
@click.version_option(package_name="critical-minerals-monitor")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Supply-disruption monitoring for critical minerals.

    Ingests trade notices and news, tags minerals, countries and trade measures, and raises
    exposure-aware alerts. Without KAFKA_BOOTSTRAP_SERVERS the commands that stream start an
    embedded, memory-only Kafka-compatible broker.
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


class AlertPrinter:
    """Prints each alert as it reaches the notify stage: a readable line, or JSON with ``--jsonl``."""

    def __init__(self, jsonl: bool) -> None:
        self.jsonl = jsonl
        self.count = 0
        self.ids: set[str] = set()

    async def __call__(self, alert: Alert) -> None:
        self.count += 1
        self.ids.add(alert.id)
        if self.jsonl:
            print_json(alert_to_json(alert), sys.stdout)
        else:
            click.echo(alert_line(alert))


def _stream_documents(
    path: Path, errors: list[LineError], metrics: Metrics | None = None
) -> Iterator[Document]:
    for item in read_jsonl(path):
        if isinstance(item, LineError):
            errors.append(item)
            if metrics is not None:
                metrics.inputs_rejected.labels("replay", item.category).inc()
            click.echo(f"error: {item}", err=True)
        else:
            yield item


def _load_sources(paths: Sequence[Path]) -> list[Any]:
    from monitor.ingest import load_sources

    try:
        return list(load_sources(list(paths)))
    except ConfigError as err:
        raise click.ClickException(str(err)) from err


def _run_pipeline(
    settings: Settings,
    documents: Iterator[Document] | AsyncIterator[Document] | None,
    once: bool,
    jsonl: bool,
    poll_sources: Sequence[Any] = (),
    metrics: Metrics | None = None,
) -> tuple[int, AlertPrinter]:
    from monitor.streaming.service import RunOptions, run_service

    printer = AlertPrinter(jsonl)
    # A bounded run (demo, replay) gets its own consumer group, so that it reads every partition itself.
    group = None if documents is None else f"{settings.kafka.consumer_group}-run-{uuid.uuid4().hex[:8]}"
    options = RunOptions(
        documents=documents, once=once, sinks=[printer], group_id=group, poll_sources=poll_sources
    )
    try:
        result = asyncio.run(run_service(settings, options, metrics))
    except MonitorError as err:
        raise click.ClickException(str(err)) from err
    except KeyboardInterrupt:
        return 130, printer
    if result.reason:
        click.echo(f"error: {result.reason}", err=True)
    return result.exit_code, printer


@cli.command()
@_http_options
@click.pass_context
def run(ctx: click.Context, **cli_options: Any) -> None:
    """Run the long-lived service: poll sources, extract, evaluate rules, notify, serve HTTP.

    Serves /healthz, /readyz, /metrics and the API on --http-host:--http-port until Ctrl-C or SIGTERM.
    """
    settings = _settings(ctx, **cli_options)
    configure_logging(settings.log)
    sources = _load_sources(settings.ingest.sources) if settings.ingest.poll else []
    code, _ = _run_pipeline(settings, None, once=False, jsonl=False, poll_sources=sources)
    sys.exit(code)


@cli.command()
@click.option("--once", is_flag=True, help="Exit when every sample document has been processed.")
@click.option("--jsonl", is_flag=True, help="Print each alert as one JSON object per line.")
@_http_options
@click.pass_context
def demo(ctx: click.Context, once: bool, jsonl: bool, **cli_options: Any) -> None:
    """Run the whole pipeline on the bundled sample corpus and print the alerts.

    Starts the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set), replays the sample notices
    through ingest -> extract -> evaluate -> notify, and prints one line per alert. /metrics and the
    API are served while it runs; without --once it keeps running until Ctrl-C.
    """
    settings = _settings(ctx, **cli_options)
    configure_logging(settings.log)
    errors: list[LineError] = []
    sources = _load_sources([OFFLINE_SOURCES])

    async def corpus_and_feeds() -> AsyncIterator[Document]:
        for document in _stream_documents(DEMO_CORPUS, errors):
            yield document
        async for document in _backfill(settings, sources):
            yield document

    code, printer = _run_pipeline(settings, corpus_and_feeds(), once, jsonl)
    click.echo(
        f"demo: {len(printer.ids)} alerts ({printer.count} alert messages) from {DEMO_CORPUS.name} "
        f"and the offline feeds of {OFFLINE_SOURCES.name}",
        err=True,
    )
    sys.exit(code or (1 if errors else 0))


async def _backfill(
    settings: Settings, sources: Sequence[Any], failures: list[str] | None = None
) -> AsyncIterator[Document]:
    """Poll each source once; a failing source is reported on stderr and the others go on."""
    import aiohttp

    from monitor.ingest import fetch_policy, poll_once
    from monitor.observability.metrics import Metrics

    async with aiohttp.ClientSession() as session:
        results = poll_once(
            sources, session=session, metrics=Metrics(), fetch_policy=fetch_policy(settings.ingest)
        )
        async for result in results:
            if result.error is not None:
                message = f"source {result.source}: {result.error.reason}: {result.error.message}"
                click.echo(f"error: {message}", err=True)
                if failures is not None:
                    failures.append(message)
            for document in result.documents:
                yield document


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--once", is_flag=True, help="Exit when every document of FILE has been processed.")
@click.option("--jsonl", is_flag=True, help="Print each alert as one JSON object per line.")
@_http_options
@click.pass_context
def replay(ctx: click.Context, file: Path, once: bool, jsonl: bool, **cli_options: Any) -> None:
    """Run the pipeline on a JSON Lines FILE of documents and print the alerts.

    Each line is an object with id, title, text and optional url, published, source. A malformed
    line is reported with file and line; the valid lines are still processed, and the exit code is
    non-zero with a summary at the end. An alert that gathers new evidence is printed again with
    the same id and all its document_ids.
    """
    settings = _settings(ctx, **cli_options)
    configure_logging(settings.log)
    from monitor.observability.metrics import Metrics

    errors: list[LineError] = []
    metrics = Metrics()  # the run's /metrics counts the rejected lines too
    code, printer = _run_pipeline(
        settings, _stream_documents(file, errors, metrics), once, jsonl, metrics=metrics
    )
    summary = f"replay: {file}: {len(printer.ids)} alerts, {len(errors)} invalid lines"
    click.echo(summary, err=True)
    sys.exit(code or (1 if errors else 0))


def _extractor(settings: Settings) -> Any:
    from monitor.extract import Extractor

    return Extractor(max_chars=settings.extract.max_chars, spacy_model=settings.extract.spacy_model)


@cli.command()
@click.argument("text", required=False)
@click.option("--title", default="", help="Title of the document (analysed before the text).")
@click.option("--jsonl", is_flag=True, help="Read documents {id, title, text} as JSON Lines from stdin.")
@click.pass_context
def extract(ctx: click.Context, text: str | None, title: str, jsonl: bool) -> None:
    """Tag minerals, countries, measure, direction and roles in TEXT ('-' reads stdin).

    With --jsonl, reads one {id, title, text} object per line from stdin and prints one result per
    line, in the same order, carrying the id; a bad line prints {"id", "error"} and the exit code is 1.
    """
    settings = _settings(ctx)
    extractor = _extractor(settings)
    if jsonl:
        failures = 0
        for number, raw in enumerate(sys.stdin.buffer, start=1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw.decode("utf-8"))
                if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                    raise InputError("text: required, must be a string")
                title_value = item.get("title") or ""
                if not isinstance(title_value, str):
                    raise InputError("title: must be a string")
                result = extraction_to_json(extractor.extract(item["text"], title_value))
                print_json({"id": item.get("id"), **result}, sys.stdout)
            except (ValueError, InputError) as err:
                failures += 1
                item_id = item.get("id") if isinstance(locals().get("item"), dict) else None
                print_json({"id": item_id, "line": number, "error": str(err)}, sys.stdout)
                click.echo(f"error: stdin:{number}: {err}", err=True)
            item = None
        sys.exit(1 if failures else 0)
    if text is None:
        raise click.UsageError("give TEXT, '-' to read stdin, or --jsonl")
    if text == "-":
        text = sys.stdin.buffer.read().decode("utf-8", "replace")
    print_json(extraction_to_json(extractor.extract(text, title)), sys.stdout)


@cli.command(name="eval")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option("--errors", is_flag=True, help="Also list every mismatch (item, field, gold, predicted).")
@click.pass_context
def eval_command(ctx: click.Context, file: Path, as_json: bool, errors: bool) -> None:
    """Score the extractor on a labelled JSON Lines FILE: per-field precision, recall, F1, accuracy."""
    from monitor.extract.evaluation import format_table, load_gold, score

    settings = _settings(ctx)
    try:
        gold = load_gold(file)
    except InputError as err:
        raise click.ClickException(str(err)) from err
    extractor = _extractor(settings)
    predicted = list(extractor.pipe((item.title, item.text) for item in gold))
    report = score(gold, predicted)
    if as_json:
        print_json(report.to_dict(), sys.stdout)
    else:
        click.echo(format_table(report, errors=errors))


@cli.command()
@click.option("--once", is_flag=True, required=True, help="Poll every enabled source once (required).")
@click.option(
    "--sources",
    "source_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Source file (repeatable; default: the settings' ingest.sources).",
)
@click.option("--jsonl", is_flag=True, help="Print each document as one JSON object per line.")
@click.pass_context
def ingest(ctx: click.Context, once: bool, source_files: tuple[Path, ...], jsonl: bool) -> None:
    """Backfill: poll every enabled source once and print the normalised documents.

    Prints id, title, text, url, published, source and cluster_id per document (one JSON object per
    line with --jsonl) instead of producing them. A source that fails is reported on stderr with its
    id and reason, the others still run, and the exit code is 1.
    """
    from monitor.ingest import document_output

    settings = _settings(ctx)
    configure_logging(settings.log)
    sources = _load_sources(list(source_files) or settings.ingest.sources)
    failures: list[str] = []

    async def collect() -> int:
        count = 0
        async for document in _backfill(settings, sources, failures):
            count += 1
            if jsonl:
                print_json(document_output(document), sys.stdout)
            else:
                when = document.published.date().isoformat() if document.published else "----------"
                click.echo(f"{when}  {document.source:<28} {document.title}")
        return count

    count = asyncio.run(collect())
    click.echo(f"ingest: {count} documents from {len(sources)} sources, {len(failures)} failed", err=True)
    sys.exit(1 if failures else 0)


@cli.group()
def rules() -> None:
    """Validate, test and backtest rule packs."""


@rules.command(name="check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.pass_context
def rules_check(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Validate rule files (default: the configured rule packs); exit 1 on any problem."""
    from monitor.rules import check

    settings = _settings(ctx)
    targets = list(paths) or settings.rules.paths
    problems = check(targets)
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo(f"ok: {', '.join(str(p) for p in targets)}")


def _extract_callable(settings: Settings) -> Any:
    extractor = _extractor(settings)
    return lambda title, text: extractor.extract(text, title)


@rules.command(name="test")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.pass_context
def rules_test(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Run rule test files (input events or texts with times, and the alerts expected).

    Reports PASS/FAIL per case with a diff, like `promtool test rules`; exit 1 when a case fails.
    """
    from monitor.rules import run_tests

    settings = _settings(ctx)
    report = run_tests(list(files), _extract_callable(settings))
    click.echo(report.format())
    sys.exit(0 if report.ok else 1)


@rules.command(name="backtest")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--verbose", is_flag=True, help="Also list each update of an alert.")
@click.pass_context
def rules_backtest(ctx: click.Context, file: Path, verbose: bool) -> None:
    """Run the rules over a historical JSON Lines FILE of documents and print what would have fired.

    Documents are extracted, then evaluated in publication order; prints each alert with when it
    would have fired and the counts per rule. Bad lines are reported and skipped (exit 1).
    """
    from monitor.records import TaggedEvent
    from monitor.rules import RuleSet, backtest, format_backtest

    settings = _settings(ctx)
    try:
        ruleset = RuleSet.load(settings.rules.paths)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    extractor = _extractor(settings)
    errors: list[LineError] = []
    documents = sorted(_stream_documents(file, errors), key=lambda d: d.published or d.fetched)
    events = [
        TaggedEvent.from_document(d, extractor.extract(d.text, d.title), text=d.text[: extractor.max_chars])
        for d in documents
    ]
    click.echo(format_backtest(backtest(ruleset, events), verbose=verbose))
    sys.exit(1 if errors else 0)


def _with_store(settings: Settings, action: Any) -> Any:
    """Run ``action(store)`` against the configured alert store (migrated on open)."""
    from monitor.store import SqlAlertStore

    async def go() -> Any:
        async with SqlAlertStore(settings.store.url) as store:
            return await action(store)

    try:
        return asyncio.run(go())
    except InputError as err:
        raise click.ClickException(str(err)) from err
    except OSError as err:
        raise click.ClickException(f"cannot open the alert store: {err}") from err


@cli.group()
def keys() -> None:
    """Manage API keys (scopes: read, ingest, admin; admin implies all)."""


@keys.command(name="create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["read", "ingest", "admin"]),
    help="Scope to grant (repeatable).",
)
@click.pass_context
def keys_create(ctx: click.Context, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key NAME and print it once (only its hash is stored)."""
    from monitor.api.keys import create_key

    key, record = _with_store(_settings(ctx), lambda store: create_key(store, name, list(scopes)))
    click.echo(key)
    click.echo(
        f"created key {record.name!r} with scopes {', '.join(sorted(record.scopes))}; "
        "store it now, it is not shown again",
        err=True,
    )


@keys.command(name="list")
@click.pass_context
def keys_list(ctx: click.Context) -> None:
    """List API keys: name, scopes, created, status (never the keys themselves)."""
    from monitor.api.keys import format_keys, list_keys

    click.echo(format_keys(_with_store(_settings(ctx), list_keys)))


@keys.command(name="revoke")
@click.argument("name")
@click.pass_context
def keys_revoke(ctx: click.Context, name: str) -> None:
    """Revoke the active API key NAME; exit 1 when there is none."""
    from monitor.api.keys import revoke_key

    if not _with_store(_settings(ctx), lambda store: revoke_key(store, name)):
        raise click.ClickException(f"no active key named {name!r}")
    click.echo(f"revoked {name!r}")


@cli.group()
def deliveries() -> None:
    """Inspect and re-send webhook deliveries."""


@deliveries.command(name="replay")
@click.option("--subscription", default=None, help="Only this subscription's dead letters.")
@click.option("--id", "delivery_ids", multiple=True, type=int, help="Only these delivery ids (repeatable).")
@click.pass_context
def deliveries_replay(ctx: click.Context, subscription: str | None, delivery_ids: tuple[int, ...]) -> None:
    """Re-send dead-lettered deliveries: they go back to pending and a running worker sends them."""
    from monitor.delivery.replay import replay_dead_letters

    replayed = _with_store(
        _settings(ctx),
        lambda store: replay_dead_letters(store, subscription_id=subscription, delivery_ids=delivery_ids),
    )
    for record in replayed:
        click.echo(f"{record.id}\t{record.subscription_id}\t{record.alert_id}")
    click.echo(f"replayed {len(replayed)} dead deliveries", err=True)


def main() -> None:
    """Console-script entry point."""
    cli(obj={})
