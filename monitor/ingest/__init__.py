"""Ingestion: sources, connectors and the normalisation of what they bring into :class:`Document` records.

The public surface (the shells call these; the modules behind them are small and private-ish):

- :func:`load_sources` -- validate ``pipelines/*.yaml`` (raises ``ConfigError`` with file, source, field);
- :class:`Poller` -- poll every enabled source for ever and ``emit`` each new document once;
- :func:`poll_once` -- one poll of each source, for ``monitor ingest --once`` (yields :class:`PollResult`);
- :func:`document_output` -- a document as the backfill prints it;
- :func:`install_ingest_routes` -- ``POST /api/v1/ingest``;
- :class:`SeenStore` / :class:`MemorySeenStore` and :class:`ClusterIndex` -- dedupe and near-duplicates;
- :class:`FetchPolicy` / :class:`SchedulePolicy` -- request limits, politeness and backoff.
"""

from monitor.ingest.cluster import ClusterIndex
from monitor.ingest.fetch import FetchError, FetchPolicy, fetch_policy
from monitor.ingest.normalise import canonical_url, document_output, strip_html
from monitor.ingest.poller import Poller, PollError, PollResult, SourceHealth, poll_once
from monitor.ingest.push import install_ingest_routes
from monitor.ingest.schedule import SchedulePolicy
from monitor.ingest.seen import MemorySeenStore, SeenStore
from monitor.ingest.sources import FederalRegisterSource, FeedSource, JsonApiSource, load_sources

__all__ = [
    "ClusterIndex",
    "FederalRegisterSource",
    "FeedSource",
    "FetchError",
    "FetchPolicy",
    "JsonApiSource",
    "MemorySeenStore",
    "PollError",
    "PollResult",
    "Poller",
    "SchedulePolicy",
    "SeenStore",
    "SourceHealth",
    "canonical_url",
    "document_output",
    "fetch_policy",
    "install_ingest_routes",
    "load_sources",
    "poll_once",
    "strip_html",
]
