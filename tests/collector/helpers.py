"""Shared helpers of the collector tests (not fixtures)."""

from __future__ import annotations

from datetime import UTC, datetime

from collector.collectors import DaemonCollector, ExchangeCollector, PipelineCollector, TradingCollector
from collector.collectors.base import CollectContext, Collected
from collector.models import ValidationContext
from collector.sources.base import PollResult

START = datetime(2025, 3, 1, tzinfo=UTC)
EXCHANGES = ("binance", "bybit", "okx", "dydx")
DATA_TYPES = ("oi", "funding", "liquidation")


def context(now: datetime | None = None, host: str = "test-host") -> CollectContext:
    validation = ValidationContext(
        clock=(lambda: now) if now else (lambda: datetime.now(UTC)),
        exchanges=frozenset(EXCHANGES),
        data_types=frozenset(DATA_TYPES),
    )
    return CollectContext(validation, "dev", host)


def collect_all(result: PollResult, ctx: CollectContext) -> Collected:
    out = Collected()
    for collector in (DaemonCollector(), ExchangeCollector(), PipelineCollector(), TradingCollector()):
        out.extend(collector.collect(result, ctx))
    return out
