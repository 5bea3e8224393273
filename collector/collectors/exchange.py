"""ExchangeCollector: exchange_status per exchange of the status' ``exchanges`` mapping."""

from __future__ import annotations

from collector.collectors.base import CollectContext, Collected, build, pick, status_keys
from collector.collectors.probe import LatencyProber
from collector.models import MAX_LATENCY_MS, ExchangeStatus
from collector.sources.base import PollResult, Snapshot

EXCHANGE_KEYS = status_keys(ExchangeStatus, "exchange")  # the exchange is the mapping's key


class ExchangeCollector:
    """exchange_status per exchange of the status' ``exchanges`` mapping.

    With a prober, ``latency_ms`` is the active probe's latest measurement (capped at 10 s, the data
    model's limit) instead of the daemon's own figure, whenever one is fresh.
    """

    table = ExchangeStatus.TABLE

    def __init__(self, prober: LatencyProber | None = None) -> None:
        self.prober = prober

    def collect(self, result: PollResult, ctx: CollectContext) -> Collected:
        out = Collected()
        if not isinstance(result, Snapshot):
            return out
        status = result.status
        for exchange, entry in status.exchanges.items():
            data = {"timestamp": status.timestamp, "env": ctx.env, "host": status.host or ctx.host}
            data.update(pick(entry, *EXCHANGE_KEYS), exchange=exchange)
            probed = self.prober.latest(exchange) if self.prober else None
            if probed is not None:
                data["latency_ms"] = min(probed, MAX_LATENCY_MS)
            build(ExchangeStatus, data, ctx, exchange, out)
        return out
