"""PipelineCollector: pipeline_metrics per (exchange, symbol, data_type) entry of ``pipeline``."""

from __future__ import annotations

from collector.collectors.base import EntryListCollector
from collector.models import PipelineMetrics


class PipelineCollector(EntryListCollector):
    """pipeline_metrics per (exchange, symbol, data_type) entry of the status' ``pipeline`` list."""

    table = PipelineMetrics.TABLE
    model = PipelineMetrics
    entries = "pipeline"
    item_keys = ("exchange", "symbol", "data_type")
