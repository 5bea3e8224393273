"""TradingCollector: trading_metrics per (strategy, symbol, venue) entry of ``trading``."""

from __future__ import annotations

from collector.collectors.base import CollectContext, Collected, build, pick
from collector.models import TradingMetrics
from collector.sources.base import PollResult, Snapshot

TRADING_KEYS = (
    "strategy",
    "symbol",
    "venue",
    "pnl",
    "unrealized_pnl",
    "position_size",
    "orders_placed",
    "orders_filled",
    "fill_rate",
    "exposure",
    "drawdown",
)


class TradingCollector:
    """trading_metrics per (strategy, symbol, venue) entry of the status' ``trading`` list.

    ``fill_rate`` defaults to orders_filled / orders_placed (null when nothing was placed).
    """

    table = TradingMetrics.TABLE

    def collect(self, result: PollResult, ctx: CollectContext) -> Collected:
        out = Collected()
        if not isinstance(result, Snapshot):
            return out
        status = result.status
        base = {"timestamp": status.timestamp, "env": ctx.env, "host": status.host or ctx.host}
        for entry in status.trading:
            data = {**base, **pick(entry, *TRADING_KEYS)}
            item = "/".join(str(entry.get(k, "?")) for k in ("strategy", "symbol", "venue"))
            build(TradingMetrics, data, ctx, item, out)
        return out
