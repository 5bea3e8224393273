"""The collector's own health as ``collector_metrics`` rows (read by the self-health dashboard and the
collector alert rules).

Every ``self_metrics_interval_seconds`` a thread reads the client's own Prometheus metrics
(:mod:`collector.sink.selfmetrics`, read-only through ``collect()``) and hands one
:class:`~collector.models.CollectorSelfMetrics` row to the same MetricsClient, so it is spooled and
delivered like any other row. The counters are cumulative since this process started (the queries
take deltas with ``lag()`` and read a smaller value as a restart). A row is written when the
reporter starts (the base of those deltas) and a last one when it stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from prometheus_client.metrics import MetricWrapperBase

from collector.models import CollectorSelfMetrics, Env, MetricModel, utc_now
from collector.sink.selfmetrics import CollectorMetrics

log = logging.getLogger("collector.selfreport")


class Sink(Protocol):
    def add(self, sample: MetricModel) -> int: ...


@dataclass(frozen=True)
class Totals:
    """The client's metrics at one moment: cumulative counters and the spool's state."""

    rows_sent: int
    retries: int
    rejects: int
    drops: int
    flushes: int
    flush_seconds: float
    rows_spooled: int
    spool_bytes: int
    spool_age_seconds: float


def _sum(metric: MetricWrapperBase, suffix: str) -> float:
    """The sum over all label sets of a metric's samples named ``…<suffix>``."""
    return sum(
        sample.value
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith(suffix)
    )


def _gauge(metric: MetricWrapperBase) -> float:
    """A gauge without labels (its bound function is called, as at a scrape)."""
    return sum(sample.value for family in metric.collect() for sample in family.samples)


def read_totals(metrics: CollectorMetrics) -> Totals:
    return Totals(
        rows_sent=round(_sum(metrics.rows_sent, "_total")),
        retries=round(_sum(metrics.flush_retries, "_total")),
        rejects=round(_sum(metrics.rows_rejected, "_total")),
        # rows the client dropped, and status documents the daemon's hook dropped (one each)
        drops=round(_sum(metrics.rows_dropped, "_total") + _sum(metrics.status_dropped, "_total")),
        flushes=round(_sum(metrics.flush_seconds, "_count")),
        flush_seconds=_sum(metrics.flush_seconds, "_sum"),
        rows_spooled=max(0, round(_gauge(metrics.spool_rows))),
        spool_bytes=max(0, round(_gauge(metrics.spool_bytes))),
        spool_age_seconds=max(0.0, _gauge(metrics.spool_age)),
    )


class SelfReporter:
    """Writes one ``collector_metrics`` row every ``interval`` seconds from a thread of its own."""

    def __init__(
        self,
        metrics: CollectorMetrics,
        sink: Sink,
        *,
        env: Env,
        host: str,
        interval: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.metrics = metrics
        self.sink = sink
        self.env: Env = env
        self.host = host
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._flushes = (0, 0.0)  # (count, seconds) at the previous row
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> CollectorSelfMetrics:
        """The row for now; the flush latency is the mean over the flushes since the previous row."""
        with self._lock:
            totals = read_totals(self.metrics)
            count, seconds = self._flushes
            self._flushes = (totals.flushes, totals.flush_seconds)
            timestamp = self._clock()
        flushes = totals.flushes - count
        latency = (totals.flush_seconds - seconds) / flushes * 1000 if flushes > 0 else None
        return CollectorSelfMetrics(
            timestamp=timestamp,
            env=self.env,
            host=self.host,
            rows_sent=totals.rows_sent,
            rows_spooled=totals.rows_spooled,
            spool_bytes=totals.spool_bytes,
            spool_age_seconds=totals.spool_age_seconds,
            flush_latency_ms=max(0.0, latency) if latency is not None else None,
            retries=totals.retries,
            rejects=totals.rejects,
            drops=totals.drops,
        )

    def report(self) -> bool:
        """Spool one row now; False (and a log line) if it could not be built or was not accepted."""
        try:
            return self.sink.add(self.sample()) > 0
        except Exception:  # the collector's own health must never stop the collector
            log.exception("writing the collector's own metrics failed")
            return False

    def start(self) -> None:
        """Write a row now and then every ``interval`` seconds (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="tradewatch-selfmetrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.report()
        while not self._stop.wait(self.interval):
            self.report()

    def stop(self, *, final: bool = True) -> None:
        """Stop the thread and (if it ran) write a last row with the final counters."""
        thread = self._thread
        if thread is None or self._stop.is_set():
            return
        self._stop.set()
        thread.join(10)
        if final:
            self.report()
