"""``DaemonRunner``: the daemon's scheduler, counters and status, as the real one has them.

- ``start()`` (async): fetchers and orchestrator (``_orchestrator``), connect, the two interval jobs,
  the liquidation streams (``_liquidation_manager``), a new ``stats``, then one OI and one funding
  fetch before it returns. ``stop()`` ends it all; ``run_forever()`` starts, waits for
  ``request_shutdown()`` and stops.
- Per symbol and job: every venue at once; each failed venue counts one error (``last_error`` its
  text); when a failure looks like a lost connection and no venue gave data, it waits 2, 4, 8 s
  (``FETCH_RETRY_CONFIG``) and reconnects every venue; after that (or at once) ``fetch_count`` + 1.
- ``get_status()``: the flat dict of the real one (``uptime_seconds`` the int 0 when not running,
  ``exchanges`` ``["all"]`` when none were given).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .fetchers import FetchOrchestrator, get_all_fetchers
from .models import Liquidation
from .network import NETWORK, Network
from .streams import LiquidationStreamManager

log = logging.getLogger("ccxt_pipeline.daemon")


@dataclass
class RetryConfig:
    max_retries: int = 3
    base_delay: float = 2.0


FETCH_RETRY_CONFIG = RetryConfig()


@dataclass
class DaemonStats:
    start_time: float = field(default_factory=time.time)
    fetch_count: int = 0
    error_count: int = 0
    liquidation_count: int = 0
    last_fetch_time: datetime | None = None
    last_error: str | None = None


class IntervalScheduler:
    """Two interval jobs on the running loop (the real daemon uses APScheduler's AsyncIOScheduler)."""

    def __init__(self) -> None:
        self._jobs: list[tuple[Callable[[], Awaitable[None]], float, str]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add_job(self, func: Callable[[], Awaitable[None]], seconds: float, id: str) -> None:
        self._jobs.append((func, seconds, id))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._every(f, s)) for f, s, _ in self._jobs]

    async def _every(self, func: Callable[[], Awaitable[None]], seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await func()

    def shutdown(self, wait: bool = False) -> None:
        for task in self._tasks:
            task.cancel()


class DaemonRunner:
    def __init__(
        self,
        symbols: list[str] | None = None,
        exchanges: list[str] | None = None,
        oi_interval_minutes: float = 5,
        funding_interval_minutes: float = 60,
        catalog_path: str | None = None,
        network: Network = NETWORK,
    ) -> None:
        self._symbols = symbols or ["BTCUSDT-PERP", "ETHUSDT-PERP"]
        self._exchanges = exchanges
        self._oi_interval = oi_interval_minutes
        self._funding_interval = funding_interval_minutes
        self._catalog_path = catalog_path or "/var/lib/ccxt-standin/catalog"
        self._network = network
        self._orchestrator: FetchOrchestrator | None = None
        self._store: object | None = None
        self._scheduler: IntervalScheduler | None = None
        self._running = False
        self._shutdown_requested = False
        self._liquidation_task: asyncio.Task[None] | None = None
        self._liquidation_manager: LiquidationStreamManager | None = None
        self._pending_writes: list[Liquidation] = []
        self.stats = DaemonStats()

    async def start(self) -> None:
        if self._running:
            log.warning("Daemon already running")
            return
        fetchers = get_all_fetchers(self._exchanges, self._network)
        self._orchestrator = FetchOrchestrator(fetchers)
        await self._orchestrator.connect_all()
        self._scheduler = IntervalScheduler()
        self._scheduler.add_job(self._scheduled_oi_fetch, self._oi_interval * 60, "oi_fetch")
        self._scheduler.add_job(self._scheduled_funding_fetch, self._funding_interval * 60, "funding_fetch")
        self._scheduler.start()
        self._start_liquidation_stream()
        self._running = True
        self._shutdown_requested = False
        self.stats = DaemonStats()
        await self._scheduled_oi_fetch()
        await self._scheduled_funding_fetch()

    async def stop(self) -> None:
        if not self._running:
            return
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        await self._cancel_liquidation_stream()
        self._pending_writes.clear()
        if self._orchestrator is not None:
            await self._orchestrator.close_all()
            self._orchestrator = None
        self._running = False

    def request_shutdown(self) -> None:
        self._shutdown_requested = True
        log.info("Shutdown requested")

    async def run_forever(self) -> None:
        try:
            await self.start()
            while not self._shutdown_requested:
                await asyncio.sleep(1)
        except asyncio.CancelledError:
            pass
        finally:
            await self.stop()

    def get_status(self) -> dict[str, Any]:
        uptime = time.time() - self.stats.start_time if self._running else 0
        return {
            "running": self._running,
            "shutdown_requested": self._shutdown_requested,
            "fetch_count": self.stats.fetch_count,
            "error_count": self.stats.error_count,
            "liquidation_count": self.stats.liquidation_count,
            "uptime_seconds": uptime,
            "last_fetch_time": self.stats.last_fetch_time.isoformat() if self.stats.last_fetch_time else None,
            "last_error": self.stats.last_error,
            "symbols": self._symbols,
            "exchanges": self._exchanges or ["all"],
        }

    async def _scheduled_oi_fetch(self) -> None:
        for symbol in self._symbols:
            await self._fetch(symbol, "fetch_open_interest")

    async def _scheduled_funding_fetch(self) -> None:
        for symbol in self._symbols:
            await self._fetch(symbol, "fetch_funding_rate")

    async def _fetch(self, symbol: str, method: str) -> None:
        retries = 0
        try:
            while retries <= FETCH_RETRY_CONFIG.max_retries:
                assert self._orchestrator is not None
                results = await getattr(self._orchestrator, method)(symbol)
                valid = []
                needs_reconnect = False
                for result in results:
                    if result.success and result.data is not None:
                        valid.append(result.data)
                    elif result.error is not None:
                        self.stats.error_count += 1
                        self.stats.last_error = str(result.error)
                        message = str(result.error).lower()
                        if "not connected" in message or "connection" in message:
                            needs_reconnect = True
                if needs_reconnect and not valid and retries < FETCH_RETRY_CONFIG.max_retries:
                    retries += 1
                    await asyncio.sleep(FETCH_RETRY_CONFIG.base_delay * 2 ** (retries - 1))
                    await self._orchestrator.force_reconnect()
                    continue
                self.stats.fetch_count += 1
                self.stats.last_fetch_time = datetime.now(UTC)
                return
        except Exception as err:
            self.stats.error_count += 1
            self.stats.last_error = str(err)
            log.error("fetch failed for %s: %s", symbol, err)

    def _start_liquidation_stream(self) -> None:
        self._liquidation_manager = LiquidationStreamManager(
            symbols=self._symbols,
            callback=self._on_liquidation,
            exchanges=self._exchanges,
            network=self._network,
        )
        self._liquidation_task = asyncio.create_task(self._liquidation_manager.start())

    async def _cancel_liquidation_stream(self) -> None:
        if self._liquidation_manager is not None:
            await self._liquidation_manager.stop()
            self._liquidation_manager = None
        if self._liquidation_task is not None:
            self._liquidation_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._liquidation_task
            self._liquidation_task = None

    def _on_liquidation(self, liquidation: Liquidation) -> None:
        self._pending_writes.append(liquidation)
        self.stats.liquidation_count += 1
        if len(self._pending_writes) >= 100:
            self._pending_writes.clear()
