"""The collector's own health, in Prometheus format (served on /metrics by the service).

All metrics live in one ``CollectorRegistry`` per client (not the global default registry), so
several clients can exist in one process (tests, benchmarks) without name clashes.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "tradewatch_collector"
FLUSH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.rows_added = Counter(
            f"{PREFIX}_rows_added", "Rows accepted into the spool", ["table"], registry=r
        )
        self.rows_sent = Counter(f"{PREFIX}_rows_sent", "Rows acknowledged by QuestDB", ["table"], registry=r)
        self.rows_rejected = Counter(
            f"{PREFIX}_rows_rejected",
            "Rows rejected (server 4xx or client error), dead-lettered",
            ["table"],
            registry=r,
        )
        self.rows_dropped = Counter(
            f"{PREFIX}_rows_dropped", "Rows dropped without delivery, by reason", ["reason"], registry=r
        )
        self.invalid_samples = Counter(
            f"{PREFIX}_invalid_samples",
            "Samples failing model validation (not spooled)",
            ["table", "field"],
            registry=r,
        )
        self.flush_retries = Counter(
            f"{PREFIX}_flush_retries", "Failed flush attempts that will be retried", ["kind"], registry=r
        )
        self.flush_seconds = Histogram(
            f"{PREFIX}_flush_duration_seconds",
            "Duration of one HTTP flush to QuestDB",
            buckets=FLUSH_BUCKETS,
            registry=r,
        )
        self.questdb_up = Gauge(f"{PREFIX}_questdb_up", "1 if the last flush attempt succeeded", registry=r)
        self.last_success = Gauge(
            f"{PREFIX}_last_flush_success_timestamp_seconds",
            "Unix time of the last successful flush",
            registry=r,
        )
        self.spool_rows = Gauge(f"{PREFIX}_spool_rows", "Rows in the spool not yet acknowledged", registry=r)
        self.spool_bytes = Gauge(f"{PREFIX}_spool_bytes", "Packed bytes of the rows in the spool", registry=r)
        self.spool_age = Gauge(
            f"{PREFIX}_spool_oldest_age_seconds",
            "Age of the oldest unsent row in the spool",
            registry=r,
        )
        self.spool_records = Gauge(
            f"{PREFIX}_spool_records", "Records (appended batches of rows) in the spool", registry=r
        )
        self.dead_letter_bytes = Gauge(
            f"{PREFIX}_dead_letter_bytes", "Size of the dead-letter file", registry=r
        )
        self.polls = Counter(
            f"{PREFIX}_source_polls", "Status polls by source and outcome", ["source", "outcome"], registry=r
        )
        self.status_dropped = Counter(
            f"{PREFIX}_status_documents_dropped",
            "Status documents the daemon's hook dropped (its channel was full)",
            ["source"],
            registry=r,
        )
        self.status_keys = Counter(
            f"{PREFIX}_status_keys",
            "Keys of the daemon's own status that were missing or unknown (each counted once)",
            ["source", "kind", "key"],
            registry=r,
        )

    def bind_spool(
        self,
        stats: Callable[[], tuple[int, int, int, float]],
        dead_letter_size: Callable[[], int],
    ) -> None:
        """Make the spool gauges read live values at scrape time."""
        self.spool_rows.set_function(lambda: float(stats()[0]))
        self.spool_bytes.set_function(lambda: float(stats()[1]))
        self.spool_records.set_function(lambda: float(stats()[2]))
        self.spool_age.set_function(lambda: float(stats()[3]))
        self.dead_letter_bytes.set_function(lambda: float(dead_letter_size()))
