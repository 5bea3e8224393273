"""Collectors: one poll result in, validated rows of one table out."""

from collector.collectors.base import CollectContext, Collected, Collector, SampleError
from collector.collectors.daemon import DaemonCollector
from collector.collectors.exchange import ExchangeCollector
from collector.collectors.pipeline import PipelineCollector
from collector.collectors.trading import TradingCollector

__all__ = [
    "CollectContext",
    "Collected",
    "Collector",
    "DaemonCollector",
    "ExchangeCollector",
    "PipelineCollector",
    "SampleError",
    "TradingCollector",
]
