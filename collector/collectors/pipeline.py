"""PipelineCollector: pipeline_metrics per (exchange, symbol, data_type) entry of ``pipeline``."""

from __future__ import annotations

from collector.collectors.base import CollectContext, Collected, build, pick
from collector.models import PipelineMetrics
from collector.sources.base import PollResult, Snapshot

PIPELINE_KEYS = (
    "exchange",
    "symbol",
    "data_type",
    "records_count",
    "bytes_written",
    "latency_ms",
    "gap_detected",
    "gap_duration_seconds",
)


class PipelineCollector:
    """pipeline_metrics per (exchange, symbol, data_type) entry of the status' ``pipeline`` list."""

    table = PipelineMetrics.TABLE

    def collect(self, result: PollResult, ctx: CollectContext) -> Collected:
        out = Collected()
        if not isinstance(result, Snapshot):
            return out
        status = result.status
        base = {"timestamp": status.timestamp, "env": ctx.env, "host": status.host or ctx.host}
        for entry in status.pipeline:
            data = {**base, **pick(entry, *PIPELINE_KEYS)}
            item = "/".join(str(entry.get(k, "?")) for k in ("exchange", "symbol", "data_type"))
            build(PipelineMetrics, data, ctx, item, out)
        return out
