"""A deterministic fake CCXT daemon with scripted faults, for the demo, the tests and the benchmarks.

``SimulatedDaemon.status(tick)`` is a pure function of the seed, the tick and the configuration:
the same seed gives the same documents, so tests can count exact rows. Event times are
``start + tick * tick_seconds`` when ``start`` is set (fixed, replayable), else the injected clock.
Every tick yields the same number of entries (1 daemon + E exchanges + E*S*D pipeline + trading),
so a run of N ticks produces exactly ``N * rows_per_tick()`` rows.

Faults (by tick): ``daemon_stop`` (not running, every exchange down, counters reset afterwards),
``exchange_disconnect``, ``latency_spike`` (times factor, capped at 10 s), ``data_gap`` and
``error_burst`` (``errors_per_tick`` more errors and a last error).
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from collector.config import DEFAULT_DATA_TYPES, SIMULATED_EXCHANGES, FaultConfig
from collector.models import MAX_LATENCY_MS, utc_now
from collector.sources.base import BaseSource, PollResult, Snapshot
from collector.sources.status import parse_status

BASES = (
    "BTC",
    "ETH",
    "SOL",
    "XRP",
    "DOGE",
    "ADA",
    "AVAX",
    "LINK",
    "DOT",
    "TRX",
    "LTC",
    "BCH",
    "NEAR",
    "ATOM",
    "UNI",
    "APT",
    "ARB",
    "OP",
    "FIL",
    "INJ",
    "SUI",
    "SEI",
    "TIA",
    "ETC",
    "XLM",
    "HBAR",
    "ICP",
    "IMX",
    "RNDR",
    "AAVE",
    "MKR",
    "SNX",
    "LDO",
    "CRV",
    "RUNE",
    "FTM",
    "GRT",
    "ALGO",
    "EGLD",
    "SAND",
    "MANA",
    "AXS",
    "GALA",
    "APE",
    "FLOW",
    "KAVA",
    "ZIL",
    "DYDX",
    "WLD",
    "PEPE",
)
BASE_LATENCY_MS = (35.0, 55.0, 70.0, 120.0, 90.0, 45.0)
STRATEGY_NAMES = ("basis", "mm", "trend", "funding-arb")


def symbol_names(count: int) -> list[str]:
    return [f"{BASES[i] if i < len(BASES) else f'SIM{i}'}/USDT:USDT" for i in range(count)]


@dataclass(frozen=True)
class Fault:
    kind: str
    start_tick: int
    duration_ticks: int = 1
    exchange: str | None = None
    symbol: str | None = None
    data_type: str | None = None
    factor: float = 20.0
    errors_per_tick: int = 5

    @classmethod
    def from_config(cls, fault: FaultConfig) -> Fault:
        return cls(**fault.model_dump())

    @property
    def end_tick(self) -> int:
        return self.start_tick + self.duration_ticks

    def active(self, tick: int) -> bool:
        return self.start_tick <= tick < self.end_tick

    def hits(self, exchange: str, symbol: str | None = None, data_type: str | None = None) -> bool:
        return (
            (self.exchange in (None, exchange))
            and (symbol is None or self.symbol in (None, symbol))
            and (data_type is None or self.data_type in (None, data_type))
        )


class SimulatedDaemon:
    """The status of a fake daemon at any tick; ``get_status()`` walks the ticks for attach()."""

    def __init__(
        self,
        *,
        seed: int = 0,
        exchanges: Sequence[str] = SIMULATED_EXCHANGES,
        data_types: Sequence[str] = DEFAULT_DATA_TYPES,
        symbols_per_exchange: int = 50,
        strategies: int = 2,
        faults: Sequence[Fault] = (),
        start: datetime | None = None,
        tick_seconds: float = 1.0,
        host: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.seed = seed
        self.exchanges = list(exchanges)
        self.data_types = list(data_types)
        self.symbols = symbol_names(symbols_per_exchange)
        self.strategies = [f"{STRATEGY_NAMES[k % len(STRATEGY_NAMES)]}-{k + 1}" for k in range(strategies)]
        self.faults = list(faults)
        self.start = start
        self.tick_seconds = tick_seconds
        self.host = host
        self._clock = clock
        self._next_tick = 0

    def rows_per_tick(self) -> int:
        exchanges = len(self.exchanges)
        pipeline = exchanges * len(self.symbols) * len(self.data_types)
        return 1 + exchanges + pipeline + 2 * len(self.strategies)

    def timestamp(self, tick: int) -> datetime:
        if self.start is None:
            return self._clock()
        return self.start + timedelta(seconds=tick * self.tick_seconds)

    def get_status(self) -> dict[str, Any]:
        tick, self._next_tick = self._next_tick, self._next_tick + 1
        return self.status(tick)

    # --- the document ----------------------------------------------------------------------------

    def status(self, tick: int, at: datetime | None = None) -> dict[str, Any]:
        now = at or self.timestamp(tick)
        rng = random.Random(self.seed * 1_000_003 + tick)
        stops = [f for f in self.faults if f.kind == "daemon_stop"]
        stopped = next((f for f in stops if f.active(tick)), None)
        run_start = max([f.end_tick for f in stops if f.end_tick <= tick], default=0)
        run_ticks = (stopped.start_tick if stopped else tick) - run_start
        document: dict[str, Any] = {"schema_version": 1, "timestamp": now.isoformat()}
        if self.host:
            document["host"] = self.host
        document["daemon"] = self._daemon(tick, now, rng, stopped, run_start, run_ticks)
        document["exchanges"] = {
            e: self._exchange(e, i, tick, now, rng, stopped, run_start) for i, e in enumerate(self.exchanges)
        }
        document["pipeline"] = self._pipeline(tick, rng, stopped)
        document["trading"] = self._trading(tick, rng)
        return document

    def _ts(self, tick: int, now: datetime, current: int) -> str:
        """The event time of an earlier tick, relative to ``now`` for the real-time mode."""
        return (now - timedelta(seconds=(current - tick) * self.tick_seconds)).isoformat()

    def _daemon(
        self, tick: int, now: datetime, rng: random.Random, stopped: Fault | None, run_start: int, n: int
    ) -> dict[str, Any]:
        bursts = [f for f in self.faults if f.kind == "error_burst" and f.start_tick <= tick]
        errors = n // 50 + sum(
            f.errors_per_tick * max(0, min(tick + 1, f.end_tick) - max(f.start_tick, run_start))
            for f in bursts
        )
        last_error = None
        if bursts:
            exchange = bursts[-1].exchange or self.exchanges[0]
            last_error = f"ccxt.NetworkError: {exchange} GET /fapi/v1/openInterest 503 Service Unavailable"
        restarts = sum(1 for f in self.faults if f.kind == "daemon_stop" and f.end_tick <= tick)
        return {
            "running": stopped is None,
            "started_at": self._ts(run_start, now, tick),
            "uptime_seconds": 0.0 if stopped else n * self.tick_seconds,
            "fetch_count": n * len(self.exchanges) * len(self.symbols) * 2,
            "error_count": errors,
            "liquidation_count": 3 * n + (n * 7919) % 3,
            "last_error": last_error,
            "restart_count": restarts,
            "memory_rss_bytes": 180_000_000 + (n % 100) * 2_000_000 + rng.randrange(1_000_000),
            "cpu_percent": round(5.0 + 20.0 * rng.random(), 3),
        }

    def _requests(self, exchange: str, tick: int, run_start: int) -> tuple[int, int]:
        """(requests, failed requests) to ``exchange`` in this daemon run up to ``tick``: one OI and one
        funding request per symbol and tick; all of them fail while the exchange is down, and an error
        burst on it fails ``errors_per_tick`` more (at most every request)."""
        per_tick = 2 * len(self.symbols)
        ticks = tick + 1 - run_start
        failed = 0
        for f in self.faults:
            if f.kind not in ("exchange_disconnect", "error_burst") or not f.hits(exchange):
                continue
            if f.kind == "error_burst" and f.exchange is None and exchange != self.exchanges[0]:
                continue
            overlap = max(0, min(tick + 1, f.end_tick) - max(f.start_tick, run_start))
            failed += overlap * (
                per_tick if f.kind == "exchange_disconnect" else min(per_tick, f.errors_per_tick)
            )
        return ticks * per_tick, min(failed, ticks * per_tick)

    def _exchange(
        self,
        exchange: str,
        index: int,
        tick: int,
        now: datetime,
        rng: random.Random,
        stopped: Fault | None,
        run_start: int,
    ) -> dict[str, Any]:
        mine = [f for f in self.faults if f.hits(exchange)]
        down = stopped or next((f for f in mine if f.kind == "exchange_disconnect" and f.active(tick)), None)
        reconnects = sum(1 for f in mine if f.kind == "exchange_disconnect" and f.end_tick <= tick)
        jitter = rng.uniform(0.8, 1.2)
        requests, failed = self._requests(exchange, stopped.start_tick - 1 if stopped else tick, run_start)
        if down is not None:
            last = down.start_tick - 1
            return {
                "connected": False,
                "latency_ms": None,
                "reconnect_count": reconnects,
                "last_message_at": self._ts(last, now, tick) if last >= 0 else None,
                "disconnected_at": self._ts(down.start_tick, now, tick),
                "request_count": requests,
                "error_count": failed,
            }
        latency = BASE_LATENCY_MS[index % len(BASE_LATENCY_MS)] * jitter * self._spike(exchange, tick)
        lag = rng.uniform(0.0, min(0.5, self.tick_seconds))
        return {
            "connected": True,
            "latency_ms": round(min(latency, MAX_LATENCY_MS), 3),
            "reconnect_count": reconnects,
            "last_message_at": (now - timedelta(seconds=lag)).isoformat(),
            "disconnected_at": None,
            "request_count": requests,
            "error_count": failed,
        }

    def _spike(self, exchange: str, tick: int) -> float:
        factor = 1.0
        for f in self.faults:
            if f.kind == "latency_spike" and f.active(tick) and f.hits(exchange):
                factor *= f.factor
        return factor

    def _pipeline(self, tick: int, rng: random.Random, stopped: Fault | None) -> list[dict[str, Any]]:
        entries = []
        for exchange in self.exchanges:
            down = stopped or next(
                (
                    f
                    for f in self.faults
                    if f.kind == "exchange_disconnect" and f.active(tick) and f.hits(exchange)
                ),
                None,
            )
            spike = self._spike(exchange, tick)
            gaps = [f for f in self.faults if f.kind == "data_gap" and f.active(tick) and f.hits(exchange)]
            for symbol in self.symbols:
                for data_type in self.data_types:
                    draw = rng.random()
                    gap = down or next((f for f in gaps if f.hits(exchange, symbol, data_type)), None)
                    if gap is not None:
                        duration = (tick - gap.start_tick + 1) * self.tick_seconds
                        records, size, latency = 0, 0, None
                    else:
                        records = int(draw * 4) if data_type == "liquidation" else 1
                        size, latency = records * (180 + int(draw * 80)), round((5 + 25 * draw) * spike, 3)
                    entries.append(
                        {
                            "exchange": exchange,
                            "symbol": symbol,
                            "data_type": data_type,
                            "records_count": records,
                            "bytes_written": size,
                            "latency_ms": latency,
                            "gap_detected": gap is not None,
                            "gap_duration_seconds": duration if gap is not None else None,
                            "error_count": int(down is not None and data_type != "liquidation"),
                        }
                    )
        return entries

    def _trading(self, tick: int, rng: random.Random) -> list[dict[str, Any]]:
        entries = []
        for k, strategy in enumerate(self.strategies):
            venue = self.exchanges[k % len(self.exchanges)]
            for j, symbol in enumerate(self.symbols[:2]):
                phase = tick / 40.0 + k + j / 2
                pnl = round(50.0 * math.sin(phase) + 0.05 * tick * (k + 1), 4)
                placed = rng.randrange(0, 12)
                filled = rng.randrange(0, placed + 1)
                position = round(math.cos(phase) * (k + 1), 4)
                entries.append(
                    {
                        "strategy": strategy,
                        "symbol": symbol,
                        "venue": venue,
                        "pnl": pnl,
                        "unrealized_pnl": round(10.0 * math.sin(phase * 3), 4),
                        "position_size": position,
                        "orders_placed": placed,
                        "orders_filled": filled,
                        "exposure": round(abs(position) * (30_000.0 if j == 0 else 2_000.0), 2),
                        "drawdown": round(5.0 * (1.0 - math.sin(phase)), 4),
                    }
                )
        return entries


class SimulateSource(BaseSource):
    """Poll one tick per poll. With ``state_file`` it checkpoints the next tick after each commit
    (rows spooled), so a restarted collector continues where it stopped instead of starting over.
    """

    def __init__(
        self,
        daemon: SimulatedDaemon,
        *,
        name: str = "simulate",
        ticks: int | None = None,
        state_file: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.name = name
        self.daemon = daemon
        self.ticks = ticks
        self.state_file = state_file
        self._clock = clock
        self._next = self._load()
        self._polled: int | None = None

    def _load(self) -> int:
        if self.state_file is None:
            return 0
        try:
            return int(json.loads(self.state_file.read_text())["next_tick"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    @property
    def next_tick(self) -> int:
        return self._next

    @property
    def exhausted(self) -> bool:
        return self.ticks is not None and self._next >= self.ticks

    def poll(self) -> PollResult | None:
        if self.exhausted:
            return None
        tick = self._next
        received = self._clock()
        status = parse_status(self.daemon.status(tick), received_at=received)
        self._polled = tick
        return Snapshot(self.name, status, received)

    def commit(self) -> None:
        if self._polled is None:
            return
        self._next, self._polled = self._polled + 1, None
        if self.state_file is not None:
            tmp = self.state_file.with_name(self.state_file.name + ".tmp")
            tmp.write_text(json.dumps({"next_tick": self._next}))
            os.replace(tmp, self.state_file)
