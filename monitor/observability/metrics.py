"""The service's Prometheus metrics, all on one injected registry.

Naming follows Prometheus conventions: ``monitor_<stage>_<noun>_<unit|total>``, base units (seconds),
and only bounded labels (source ids from the config, minerals and countries from the closed
vocabularies, outcomes and reasons from fixed sets; never free text). ``docs/metrics.md`` is the
catalogue. Every worker builds one :class:`Metrics` at start-up and passes it to the stages.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from monitor import __version__

# Latencies from a few milliseconds (one hop) to minutes (a feed poll behind a slow host).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class Metrics:
    """Every metric the service exports. Build one per process with its registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.build_info = Info("monitor_build", "Version of the running service.", registry=r)
        self.build_info.info({"version": __version__})

        # ingest
        self.documents = Counter(
            "monitor_ingest_documents_total",
            "Documents seen by ingestion, per source and outcome (produced, duplicate, invalid).",
            ["source", "outcome"],
            registry=r,
        )
        self.poll_duration = Histogram(
            "monitor_ingest_poll_duration_seconds",
            "Duration of one poll of a source, successful or not.",
            ["source"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.poll_failures = Counter(
            "monitor_ingest_poll_failures_total",
            "Failed polls per source and reason (timeout, http_4xx, http_5xx, connection, parse, too_large).",
            ["source", "reason"],
            registry=r,
        )
        self.source_up = Gauge(
            "monitor_ingest_source_up",
            "1 when the last poll of the source succeeded, else 0.",
            ["source"],
            registry=r,
        )
        self.source_last_success = Gauge(
            "monitor_ingest_source_last_success_timestamp_seconds",
            "Unix time of the source's last successful poll.",
            ["source"],
            registry=r,
        )
        self.source_consecutive_failures = Gauge(
            "monitor_ingest_source_consecutive_failures",
            "Failed polls in a row for the source.",
            ["source"],
            registry=r,
        )
        self.feed_malformed = Counter(
            "monitor_ingest_feed_malformed_total",
            "Feeds that parsed only partly (feedparser bozo), per source.",
            ["source"],
            registry=r,
        )
        self.inputs_rejected = Counter(
            "monitor_input_rejected_total",
            "Untrusted inputs rejected, per kind (push, replay, feed_item, rule_file, api) and reason.",
            ["kind", "reason"],
            registry=r,
        )

        # extract
        self.extract_duration = Histogram(
            "monitor_extract_duration_seconds",
            "Time to extract tags from one document.",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.extract_tags = Counter(
            "monitor_extract_tags_total",
            "Tags found, per kind (mineral, country, measure, date).",
            ["kind"],
            registry=r,
        )
        self.events = Counter(
            "monitor_extract_events_total",
            "Tagged events produced, per measure and direction (direction 'none' when unset).",
            ["measure", "direction"],
            registry=r,
        )
        self.extract_truncated = Counter(
            "monitor_extract_truncated_total", "Documents longer than the extractor's limit.", registry=r
        )

        # rules
        self.alerts = Counter(
            "monitor_rules_alerts_total",
            "Alerts raised (first revision only), per severity, measure and mineral.",
            ["severity", "measure", "mineral"],
            registry=r,
        )
        self.alert_updates = Counter(
            "monitor_rules_alert_updates_total",
            "Alerts re-emitted with new evidence, per severity.",
            ["severity"],
            registry=r,
        )
        self.open_alerts = Gauge(
            "monitor_rules_open_alerts", "Alerts not resolved, per severity.", ["severity"], registry=r
        )
        self.supply_risk = Gauge(
            "monitor_rules_supply_risk_score",
            "Supply-risk score per mineral from the open tightening alerts (see docs/metrics.md).",
            ["mineral"],
            registry=r,
        )
        self.rules_loaded = Gauge("monitor_rules_loaded", "Enabled rules in the active rule set.", registry=r)
        self.rules_reloads = Counter(
            "monitor_rules_reloads_total",
            "Rule reloads, per outcome (ok, rejected).",
            ["outcome"],
            registry=r,
        )
        self.end_to_end_latency = Histogram(
            "monitor_pipeline_end_to_end_latency_seconds",
            "From a document's fetch (or push) to its alert being emitted.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

        # delivery
        self.deliveries = Counter(
            "monitor_delivery_attempts_total",
            "Delivery attempts per channel (webhook, slack, teams, alertmanager) and outcome "
            "(delivered, retry, failed, gone).",
            ["channel", "outcome"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "monitor_delivery_first_attempt_latency_seconds",
            "From an alert reaching the notifier to its first delivery attempt.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.retry_queue_depth = Gauge(
            "monitor_delivery_retry_queue_depth", "Deliveries waiting for a retry.", registry=r
        )
        self.delivery_dead_letters = Counter(
            "monitor_delivery_dead_letters_total",
            "Deliveries given up after the retry period, per channel.",
            ["channel"],
            registry=r,
        )
        self.sse_clients = Gauge("monitor_api_sse_clients", "Connected live-stream clients.", registry=r)

        # streaming
        self.messages = Counter(
            "monitor_stream_messages_total",
            "Messages processed per stage (ingest, extract, evaluate, notify) and outcome (ok, error).",
            ["stage", "outcome"],
            registry=r,
        )
        self.stage_errors = Counter(
            "monitor_stream_errors_total",
            "Messages a stage failed on, per stage and reason (the message goes to the dead-letter topic).",
            ["stage", "reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "monitor_stream_dead_letters_total",
            "Messages sent to the dead-letter topic, per stage.",
            ["stage"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "monitor_stream_consumer_lag_messages",
            "Messages behind the end of the topic for this worker's partitions, per topic.",
            ["topic"],
            registry=r,
        )
