"""TradingCollector: trading_metrics per (strategy, symbol, venue) entry of ``trading``."""

from __future__ import annotations

from collector.collectors.base import EntryListCollector
from collector.models import TradingMetrics


class TradingCollector(EntryListCollector):
    """trading_metrics per (strategy, symbol, venue) entry of the status' ``trading`` list.

    ``fill_rate`` defaults to orders_filled / orders_placed (null when nothing was placed).
    """

    table = TradingMetrics.TABLE
    model = TradingMetrics
    entries = "trading"
    item_keys = ("strategy", "symbol", "venue")
