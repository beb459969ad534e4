"""Polling sources: one poll (:func:`poll_once`, for backfill) or for ever (:class:`Poller`, in the worker).

Both go through the same steps per source: fetch (conditional, polite, bounded) -> parse ->
normalise -> drop what the :class:`SeenStore` already has -> mark near-duplicates with a
``cluster_id`` -> produce. A failing source is counted and backed off, never abandoned, and never
stops another source. Plain asyncio: no Faust here; the streaming layer passes ``emit``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from monitor.ingest.apis import poll_federal_register, poll_json_api
from monitor.ingest.cluster import ClusterIndex
from monitor.ingest.feed import poll_feed
from monitor.ingest.fetch import Fetcher, FetchError, FetchPolicy, HostGate
from monitor.ingest.harvest import Harvest
from monitor.ingest.schedule import SchedulePolicy, initial_delay, next_delay
from monitor.ingest.seen import MemorySeenStore, SeenStore
from monitor.ingest.sources import FederalRegisterSource, FeedSource, JsonApiSource
from monitor.observability.metrics import Metrics
from monitor.records import Document

__all__ = ["Emit", "PollError", "PollResult", "Poller", "SourceHealth", "poll_once"]

log = logging.getLogger(__name__)

AnySource = FeedSource | FederalRegisterSource | JsonApiSource
Emit = Callable[[Document], Awaitable[None]]


@dataclass(frozen=True)
class PollError:
    """Why a poll failed: ``reason`` is a bounded label (timeout, http_4xx, http_5xx, connection,
    too_large, parse, emit, internal); ``message`` the detail; ``retry_after`` the server's request."""

    reason: str
    message: str
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class PollResult:
    """The outcome of one poll of one source: the new documents, or an error."""

    source: str
    documents: list[Document] = field(default_factory=list)
    error: PollError | None = None
    not_modified: bool = False
    duplicates: int = 0
    malformed: bool = False

    @property
    def ok(self) -> bool:
        """True when the poll succeeded (possibly with nothing new)."""
        return self.error is None


@dataclass(frozen=True)
class SourceHealth:
    """A snapshot of one source's health, for the API's status page."""

    source: str
    kind: str
    url: str
    enabled: bool
    interval_s: float
    up: bool | None
    consecutive_failures: int
    last_attempt: datetime | None
    last_success: datetime | None
    last_error: str | None
    last_error_reason: str | None
    next_poll: datetime | None
    documents_produced: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO 8601)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return out


@dataclass
class _SourceState:
    source: AnySource
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    up: bool | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_reason: str | None = None
    retry_after: float | None = None
    floor_s: float | None = None
    next_poll: datetime | None = None
    produced: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def health(self) -> SourceHealth:
        s = self.source
        return SourceHealth(
            source=s.id,
            kind=s.kind,
            url=s.url,
            enabled=s.enabled,
            interval_s=s.interval,
            up=self.up,
            consecutive_failures=self.failures,
            last_attempt=self.last_attempt,
            last_success=self.last_success,
            last_error=self.last_error,
            last_error_reason=self.last_error_reason,
            next_poll=self.next_poll,
            documents_produced=self.produced,
        )


def _with_cluster(document: Document, cluster_id: str) -> Document:
    return Document(
        id=document.id,
        title=document.title,
        text=document.text,
        source=document.source,
        fetched=document.fetched,
        url=document.url,
        published=document.published,
        language=document.language,
        cluster_id=cluster_id,
        tags=dict(document.tags),
    )


async def _harvest(state: _SourceState, fetcher: Fetcher) -> Harvest:
    source = state.source
    etag, modified = state.etag, state.last_modified
    if isinstance(source, FeedSource):
        return await poll_feed(source, fetcher, etag=etag, last_modified=modified)
    if isinstance(source, FederalRegisterSource):
        return await poll_federal_register(source, fetcher, etag=etag, last_modified=modified)
    return await poll_json_api(source, fetcher, etag=etag, last_modified=modified)


class _Intake:
    """The per-source poll step shared by :func:`poll_once` and :class:`Poller`."""

    def __init__(self, fetcher: Fetcher, metrics: Metrics, seen: SeenStore, cluster: ClusterIndex) -> None:
        self.fetcher = fetcher
        self.metrics = metrics
        self.seen = seen
        self.cluster = cluster

    async def poll(self, state: _SourceState, emit: Emit | None) -> PollResult:
        source_id = state.source.id
        m = self.metrics
        state.last_attempt = datetime.now(UTC)
        started = time.perf_counter()
        try:
            harvest = await _harvest(state, self.fetcher)
        except FetchError as err:
            return self._failed(state, PollError(err.reason, str(err), err.status, err.retry_after))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the one place this stage catches: a connector bug never stops the poller
            log.exception("poll of source %s failed unexpectedly", source_id)
            return self._failed(state, PollError("internal", f"{type(err).__name__}: {err}"))
        finally:
            m.poll_duration.labels(source_id).observe(time.perf_counter() - started)
        if harvest.malformed:
            m.feed_malformed.labels(source_id).inc()
        if harvest.rejected:
            m.documents.labels(source_id, "invalid").inc(harvest.rejected)
            m.inputs_rejected.labels("feed_item", "empty").inc(harvest.rejected)
        produced: list[Document] = []
        duplicates = 0
        for document in harvest.documents:
            if self.seen.seen(document.id):
                duplicates += 1
                m.documents.labels(source_id, "duplicate").inc()
                continue
            cluster_id = self.cluster.assign(document.id, document.text, document.title)
            document = _with_cluster(document, cluster_id)
            if emit is not None:
                try:
                    await emit(document)
                except asyncio.CancelledError:
                    raise
                except Exception as err:
                    # Not marked seen and validators not kept: the next poll brings the rest again.
                    log.exception("emitting document %s of source %s failed", document.id, source_id)
                    state.produced += len(produced)
                    return self._failed(state, PollError("emit", f"{type(err).__name__}: {err}"), produced)
            self.seen.add(document.id)
            m.documents.labels(source_id, "produced").inc()
            produced.append(document)
        state.produced += len(produced)
        state.failures = 0
        state.up = True
        state.last_success = datetime.now(UTC)
        state.retry_after = None
        state.floor_s = harvest.floor_s
        state.etag, state.last_modified = harvest.etag, harvest.last_modified
        m.source_up.labels(source_id).set(1)
        m.source_last_success.labels(source_id).set(state.last_success.timestamp())
        m.source_consecutive_failures.labels(source_id).set(0)
        return PollResult(
            source=source_id,
            documents=produced,
            not_modified=harvest.not_modified,
            duplicates=duplicates,
            malformed=harvest.malformed,
        )

    def _failed(self, state: _SourceState, error: PollError, produced: Sequence[Document] = ()) -> PollResult:
        source_id = state.source.id
        state.failures += 1
        state.up = False
        state.last_error = error.message
        state.last_error_reason = error.reason
        state.retry_after = error.retry_after
        self.metrics.poll_failures.labels(source_id, error.reason).inc()
        self.metrics.source_up.labels(source_id).set(0)
        self.metrics.source_consecutive_failures.labels(source_id).set(state.failures)
        log.warning("poll of source %s failed (%s): %s", source_id, error.reason, error.message)
        return PollResult(source=source_id, documents=list(produced), error=error)


async def poll_once(
    sources: Iterable[AnySource],
    *,
    session: aiohttp.ClientSession,
    metrics: Metrics,
    fetch_policy: FetchPolicy | None = None,
    seen: SeenStore | None = None,
    cluster: ClusterIndex | None = None,
    include_disabled: bool = False,
    concurrency: int = 16,
) -> AsyncIterator[PollResult]:
    """Poll each (enabled) source once and yield a :class:`PollResult` per source as each finishes.

    For backfill (``monitor ingest --once``): documents are deduplicated (within the run, or against
    ``seen``) and clustered; a failing source yields its error and never stops the others. Requests
    to one host are still serialised and spaced by ``fetch_policy.min_host_gap_s``.
    """
    fetcher = Fetcher(session, fetch_policy or FetchPolicy())
    intake = _Intake(
        fetcher, metrics, seen if seen is not None else MemorySeenStore(), cluster or ClusterIndex()
    )
    states = [_SourceState(s) for s in sources if s.enabled or include_disabled]
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(state: _SourceState) -> PollResult:
        async with limit:
            return await intake.poll(state, None)

    tasks = [asyncio.create_task(one(state)) for state in states]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Poller:
    """Polls every enabled source for ever, each on its own schedule, and emits each new document once.

    Schedules follow :mod:`monitor.ingest.schedule` (interval with jitter, server floors, backoff,
    Retry-After); requests follow :class:`FetchPolicy` (one in flight per host, a gap between
    them). ``emit`` is awaited for each new document; a document whose emit fails is retried at the
    next poll. :meth:`start` and :meth:`stop` run and end it; :meth:`health` is the API's snapshot.
    """

    def __init__(
        self,
        sources: Iterable[AnySource],
        *,
        emit: Emit,
        session: aiohttp.ClientSession,
        metrics: Metrics,
        seen: SeenStore | None = None,
        cluster: ClusterIndex | None = None,
        fetch_policy: FetchPolicy | None = None,
        schedule: SchedulePolicy | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        policy = fetch_policy or FetchPolicy()
        self._emit = emit
        self._schedule = schedule or SchedulePolicy()
        self._rand = rand
        self._intake = _Intake(
            Fetcher(session, policy, HostGate(policy.min_host_gap_s)),
            metrics,
            seen if seen is not None else MemorySeenStore(),
            cluster or ClusterIndex(),
        )
        self._states = {s.id: _SourceState(s) for s in sources}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return bool(self._tasks) and not self._stopping.is_set()

    async def start(self) -> None:
        """Schedule every enabled source (first polls spread over ``initial_spread_s``)."""
        if self._tasks:
            return
        self._stopping = asyncio.Event()
        for state in self._states.values():
            if state.source.enabled:
                self._tasks.append(asyncio.create_task(self._run(state), name=f"poll:{state.source.id}"))

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop scheduling; let polls in flight finish for up to ``timeout`` seconds, then cancel them."""
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def health(self) -> list[SourceHealth]:
        """Per-source health: last success, last error, consecutive failures, next poll."""
        return [state.health() for state in self._states.values()]

    async def poll_now(self, source_id: str) -> PollResult:
        """Poll one source now (outside its schedule) and emit its new documents. KeyError if unknown."""
        state = self._states[source_id]
        async with state.lock:
            return await self._intake.poll(state, self._emit)

    async def _run(self, state: _SourceState) -> None:
        delay = initial_delay(state.source.interval, self._schedule, self._rand)
        while True:
            state.next_poll = datetime.now(UTC) + timedelta(seconds=delay)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
            await self.poll_now(state.source.id)
            if self._stopping.is_set():
                return
            delay = next_delay(
                state.source.interval,
                failures=state.failures,
                policy=self._schedule,
                floor_s=state.floor_s,
                retry_after=state.retry_after,
                rand=self._rand,
            )
