"""Per-venue fetchers, ``FetchResult`` and ``FetchOrchestrator``, with the real ones' public surface."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from .models import FundingRate, OpenInterest, Venue
from .network import NETWORK, Network

log = logging.getLogger("ccxt_pipeline.orchestrator")
VENUES = ("binance", "bybit", "hyperliquid")


class FetchResult:
    """One venue's answer: ``data`` or ``error``; ``success`` is ``error is None``."""

    def __init__(self, venue: str, data: Any = None, error: Exception | None = None) -> None:
        self.venue = venue
        self.data = data
        self.error = error
        self.success = error is None


class StandinFetcher:
    """A venue's fetcher: ``connect``/``close`` and the async fetch methods (upper-case venue_name)."""

    def __init__(self, venue: Venue, network: Network = NETWORK) -> None:
        self.venue = venue
        self.network = network
        self._connected = False

    @property
    def venue_name(self) -> str:
        return self.venue.value

    @property
    def ccxt_id(self) -> str:
        return self.venue.value.lower()

    async def connect(self) -> None:
        await asyncio.sleep(0)
        if self.network.reachable(self.ccxt_id) is None:
            raise ConnectionError(f"{self.venue_name}: Name or service not known")
        self._connected = True

    async def close(self) -> None:
        self._connected = False

    async def _answer(self) -> None:
        if not self._connected:
            raise RuntimeError(f"{self.venue_name} not connected. Call connect() first.")
        reachable = self.network.reachable(self.ccxt_id)
        if reachable is None:
            raise ConnectionError(f"{self.venue_name}: connection reset by peer")
        await asyncio.sleep(reachable.latency_s)

    async def fetch_open_interest(self, symbol: str) -> OpenInterest:
        await self._answer()
        return OpenInterest(datetime.now(UTC), symbol.upper(), self.venue, 1000.0, 5.0e7)

    async def fetch_funding_rate(self, symbol: str) -> FundingRate:
        await self._answer()
        return FundingRate(datetime.now(UTC), symbol.upper(), self.venue, 0.0001)


def get_all_fetchers(exchanges: list[str] | None = None, network: Network = NETWORK) -> list[StandinFetcher]:
    names = [e.lower() for e in (VENUES if exchanges is None else exchanges)]
    unknown = [n for n in names if n not in VENUES]
    if unknown:
        raise ValueError(f"Unknown exchange: {unknown[0]}")
    return [StandinFetcher(Venue(n.upper()), network) for n in names]


class FetchOrchestrator:
    """All venues at once (asyncio.gather), one FetchResult per venue, in the fetchers' order."""

    def __init__(self, fetchers: list[StandinFetcher]) -> None:
        self.fetchers = {f.venue_name: f for f in fetchers}
        self._connected = False

    async def connect_all(self) -> None:
        if self._connected:
            return
        await asyncio.gather(*(f.connect() for f in self.fetchers.values()), return_exceptions=True)
        self._connected = True  # as the real one: even when some failed
        log.info("Connected to %d exchanges", len(self.fetchers))

    async def close_all(self) -> None:
        await asyncio.gather(*(f.close() for f in self.fetchers.values()), return_exceptions=True)
        self._connected = False

    async def force_reconnect(self) -> None:
        self._connected = False
        for fetcher in self.fetchers.values():
            try:
                await fetcher.close()
            except Exception as err:
                log.warning("close failed: %s", err)
        await self.connect_all()

    async def _each(self, method: str, symbol: str, exchanges: list[str] | None) -> list[FetchResult]:
        await self.connect_all()
        targets = self._targets(exchanges)

        async def one(venue: str, fetcher: StandinFetcher) -> FetchResult:
            try:
                return FetchResult(venue, data=await getattr(fetcher, method)(symbol))
            except Exception as err:
                log.error("%s error from %s: %s", method, venue, err)
                return FetchResult(venue, error=err)

        return list(await asyncio.gather(*(one(v, f) for v, f in targets.items())))

    def _targets(self, exchanges: list[str] | None) -> dict[str, StandinFetcher]:
        if not exchanges:
            return dict(self.fetchers)
        wanted = {e.upper() for e in exchanges}
        return {v: f for v, f in self.fetchers.items() if v in wanted}

    async def fetch_open_interest(self, symbol: str, exchanges: list[str] | None = None) -> list[FetchResult]:
        return await self._each("fetch_open_interest", symbol, exchanges)

    async def fetch_funding_rate(self, symbol: str, exchanges: list[str] | None = None) -> list[FetchResult]:
        return await self._each("fetch_funding_rate", symbol, exchanges)
