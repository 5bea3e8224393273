"""Per-venue liquidation streams and their manager, with the real ones' surface and reconnect loop.

A stream connects (a simulated websocket: ``_ws``, with ``state`` OPEN or CLOSED, as websockets'
connections have), resets its backoff, delivers liquidations to ``callback`` until the connection
ends, and then reconnects after ``_reconnect_delay`` (doubling up to 60 s). An unreachable venue fails
at connect, again and again.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from abc import ABC
from collections.abc import Callable
from datetime import UTC, datetime

from .models import Liquidation, Side, Venue
from .network import NETWORK, Network

log = logging.getLogger("ccxt_pipeline.liquidation_stream")


class State(enum.Enum):
    CONNECTING = 0
    OPEN = 1
    CLOSED = 3


class SimulatedSocket:
    """Liquidations at a steady rate per symbol while open."""

    def __init__(self, venue: Venue, symbols: list[str], rate: float) -> None:
        self.venue = venue
        self.symbols = symbols
        self.rate = rate
        self.state = State.OPEN

    async def close(self) -> None:
        self.state = State.CLOSED

    def __aiter__(self) -> SimulatedSocket:
        return self

    async def __anext__(self) -> list[Liquidation]:
        if self.state is not State.OPEN:
            raise StopAsyncIteration
        await asyncio.sleep(1.0 / self.rate if self.rate > 0 else 3600.0)
        if self.state is not State.OPEN:
            raise StopAsyncIteration
        now = datetime.now(UTC)
        return [
            Liquidation(now, s.upper(), self.venue, Side.LONG, 0.5, 60000.0, 30000.0) for s in self.symbols
        ]


class BaseLiquidationStream(ABC):  # noqa: B024 - the real one is abstract over its venue
    def __init__(
        self, venue: Venue, symbols: list[str], callback: Callable[[Liquidation], None], network: Network
    ) -> None:
        self._venue = venue
        self.symbols = symbols
        self.callback = callback
        self.network = network
        self._running = False
        self._ws: SimulatedSocket | None = None
        self._reconnect_delay = 1.0
        self._max_reconnect_delay = 60.0

    @property
    def venue(self) -> Venue:
        return self._venue

    @property
    def ws_url(self) -> str:
        return f"wss://stream.{self._venue.value.lower()}.invalid/ws"

    async def start(self) -> None:
        self._running = True
        while self._running:
            try:
                await self._connect_and_stream()
            except Exception as err:
                log.error("%s stream error: %s", self._venue.value, err)
                await asyncio.sleep(self._reconnect_delay)
                self._reconnect_delay = min(self._reconnect_delay * 2, self._max_reconnect_delay)

    async def _connect_and_stream(self) -> None:
        await asyncio.sleep(0)
        reachable = self.network.reachable(self._venue.value)
        if reachable is None:
            raise OSError(f"[Errno -2] Name or service not known ({self.ws_url})")
        ws = SimulatedSocket(self._venue, self.symbols, reachable.liquidations_per_s)
        self._ws = ws
        self._reconnect_delay = 1.0
        log.info("Connected to %s liquidation stream", self._venue.value)
        async for batch in ws:
            for liquidation in batch:
                try:
                    self.callback(liquidation)
                except Exception as err:
                    log.error("Error parsing %s message: %s", self._venue.value, err)
        raise ConnectionError(f"{self._venue.value} WebSocket closed")

    async def stop(self) -> None:
        self._running = False
        if self._ws is not None:
            await self._ws.close()
        self._ws = None


class LiquidationStreamManager:
    def __init__(
        self,
        symbols: list[str],
        callback: Callable[[Liquidation], None],
        exchanges: list[str] | None = None,
        network: Network = NETWORK,
    ) -> None:
        self.symbols = symbols
        self.callback = callback
        self.exchanges = exchanges or ["binance", "bybit", "hyperliquid"]
        self.network = network
        self._streams: list[BaseLiquidationStream] = []
        self._tasks: list[asyncio.Task[None]] = []

    def _create_streams(self) -> None:
        for name in self.exchanges:
            if name.lower() in ("binance", "bybit", "hyperliquid"):
                venue = Venue(name.upper())
                self._streams.append(BaseLiquidationStream(venue, self.symbols, self.callback, self.network))

    async def start(self) -> None:
        self._create_streams()
        self._tasks = [asyncio.create_task(stream.start()) for stream in self._streams]

    async def stop(self) -> None:
        for stream in self._streams:
            await stream.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._streams.clear()
        self._tasks.clear()
