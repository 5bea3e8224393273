"""PipelineCollector: pipeline_metrics per (exchange, symbol, data_type) entry of ``pipeline``."""

from __future__ import annotations

from collector.collectors.base import EntryListCollector
from collector.models import PipelineMetrics

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


class PipelineCollector(EntryListCollector):
    """pipeline_metrics per (exchange, symbol, data_type) entry of the status' ``pipeline`` list."""

    table = PipelineMetrics.TABLE
    model = PipelineMetrics
    entries = "pipeline"
    keys = PIPELINE_KEYS
    item_keys = ("exchange", "symbol", "data_type")
