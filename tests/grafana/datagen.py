"""Simulated monitoring data with scripted faults, written to a real QuestDB over ILP/HTTP.

Two hosts run the daemon (two exchanges each, three symbols, three data types), two strategies trade,
and each host's collector reports its own health. Everything is deterministic: values depend only on
the tick, the series key and the scripted faults. Counters are cumulative, as the collector ships them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from questdb import Sender, TimestampNanos

S = 1_000_000_000  # one second in nanoseconds
M = 60 * S
H = 60 * M
D = 24 * H

HOSTS: dict[str, tuple[str, ...]] = {"daemon-1": ("binance", "bybit"), "daemon-2": ("okx", "dydx")}
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
DATA_TYPES = ("oi", "funding", "liquidation")
STRATEGIES: dict[str, tuple[str, str]] = {"daemon-1": ("momentum", "binance"), "daemon-2": ("basis", "okx")}
# The QuestDB host backs up QuestDB and Grafana every night at 03:15 UTC (backup_runs).
BACKUP_HOST = "questdb-1"
BACKUP_COMPONENTS = ("questdb", "grafana")
NIGHTLY = 3 * H + 15 * M
# (table, symbols, columns, timestamp in ns)
Row = tuple[str, dict[str, str], dict[str, object], int]
EXCHANGE_HOST = {exchange: host for host, exchanges in HOSTS.items() for exchange in exchanges}


@dataclass(frozen=True)
class Fault:
    """A scripted fault on `target` (a host, an exchange, or 'exchange/data_type[/symbol]').

    kinds: silent, not_running, restart (at start), errors (an exchange: value = the share of its
    requests that fail; a host: value = daemon errors per minute), disconnect,
    stream_stale, latency (ms), pipeline_latency (ms), pipeline_stale, gap (value = seconds),
    memory (value = the daemon's resident MiB), backlog (spool age grows from start), spool_age (a
    steady spool age = value), loss (value = rows
    dropped at start, plus one rejected), collector_restart (the collector's counters start again),
    backup_failing (a component: its nightly backups fail), backup_silent (a component: its nightly
    backups write no row).
    """

    kind: str
    target: str
    start: int
    end: int | None = None
    value: float = 0.0

    def active(self, t: int) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


def _jitter(key: str, t: int, spread: float) -> float:
    """Deterministic noise in [0, spread)."""
    return (zlib.crc32(f"{key}:{t // S}".encode()) % 1000) / 1000 * spread


@dataclass
class _Host:
    started: int
    restart_count: int = 0
    errors: float = 0.0
    fetches: int = 0
    liquidations: int = 0
    rows_sent: int = 0
    retries: int = 0
    rejects: int = 0
    drops: int = 0


@dataclass
class _Exchange:
    reconnects: int = 0
    last_message: int = 0
    was_connected: bool = True
    requests: int = 0
    failed: float = 0.0


@dataclass
class Simulation:
    """Generates rows for ticks [start, end) every `step` nanoseconds under the given faults."""

    env: str
    start: int
    end: int
    step: int
    faults: list[Fault] = field(default_factory=list)
    base_error_rate: float = 0.2  # daemon errors per minute
    base_error_count: int = 0  # the daemon's, and each exchange's failed requests, at the start
    base_error_share: float = 0.02  # of an exchange's requests
    jitter: int = 0  # each host's rows of a tick are stamped up to this many ns late (deterministic)

    def _on(self, kind: str, target: str, t: int) -> Fault | None:
        for fault in self.faults:
            if fault.kind == kind and fault.target == target and fault.active(t):
                return fault
        return None

    def _starts(self, kind: str, target: str, t: int) -> Fault | None:
        for fault in self.faults:
            if fault.kind == kind and fault.target == target and t - self.step < fault.start <= t:
                return fault
        return None

    def rows(self) -> Iterator[Row]:
        hosts = {h: _Host(started=self.start - 3 * H, errors=float(self.base_error_count)) for h in HOSTS}
        exchanges = {
            e: _Exchange(
                last_message=self.start, requests=10 * self.base_error_count, failed=self.base_error_count
            )
            for e in EXCHANGE_HOST
        }
        pnl = {(h, sym): 0.0 for h in HOSTS for sym in SYMBOLS}
        for t in range(self.start, self.end, self.step):
            for host, host_exchanges in HOSTS.items():
                yield from self._host_rows(t, host, host_exchanges, hosts[host], exchanges, pnl)
        yield from self._backup_rows()

    def _backup_rows(self) -> Iterator[Row]:
        """The nightly backup runs of the span, and of the two days before its end (a backup's age is
        a day's matter: a short span still has its last nights)."""
        first = min(self.start, self.end - 2 * D)
        for night in range(first // D * D + NIGHTLY, self.end, D):
            if night < first:
                continue
            for component in BACKUP_COMPONENTS:
                if self._on("backup_silent", component, night):
                    continue
                failing = self._on("backup_failing", component, night)
                yield (
                    "backup_runs",
                    {"host": BACKUP_HOST, "env": self.env, "component": component},
                    {
                        "success": failing is None,
                        "duration_seconds": 40.0 + _jitter(component, night, 20.0),
                        "bytes_added": None if failing else 2_000_000 + int(_jitter(component, night, 1e6)),
                        "bytes_processed": None if failing else 900_000_000,
                        "snapshot_id": None
                        if failing
                        else f"{zlib.crc32(f'{component}{night}'.encode()):08x}",
                        "error": "restic backup failed: the backup server refused the login"
                        if failing
                        else None,
                    },
                    night,
                )

    def _host_rows(
        self,
        t: int,
        host: str,
        host_exchanges: tuple[str, ...],
        hs: _Host,
        exchanges: dict[str, _Exchange],
        pnl: dict[tuple[str, str], float],
    ) -> Iterator[Row]:
        minutes = self.step / M
        if self._starts("restart", host, t):
            hs.restart_count, hs.errors, hs.fetches, hs.liquidations, hs.started = (
                hs.restart_count + 1,
                0,
                0,
                0,
                t,
            )
            for exchange in host_exchanges:  # the daemon's counters start again, per exchange too
                exchanges[exchange].requests, exchanges[exchange].failed = 0, 0.0
        if self._starts("collector_restart", host, t):
            hs.rows_sent, hs.retries, hs.rejects, hs.drops = 0, 0, 0, 0
        errors = self._on("errors", host, t)
        hs.errors += (errors.value if errors else self.base_error_rate) * minutes
        loss = self._starts("loss", host, t)
        if loss:
            hs.drops += int(loss.value)
            hs.rejects += 1
        if self._on("silent", host, t):
            return
        out: list[tuple[str, dict[str, str], dict[str, object]]] = []
        sym_env = {"host": host, "env": self.env}
        for exchange in host_exchanges:
            es = exchanges[exchange]
            down = self._on("disconnect", exchange, t)
            if down is None and not es.was_connected:
                es.reconnects += 1
            es.was_connected = down is None
            if down is None and not self._on("stream_stale", exchange, t):
                es.last_message = t - S
            latency = self._on("latency", exchange, t)
            requests = len(SYMBOLS) * 2 * round(self.step / (10 * S))  # OI and funding per symbol, every 10 s
            failing = self._on("errors", exchange, t)
            share = 1.0 if down else (failing.value if failing else self.base_error_share)
            es.requests += requests
            es.failed += requests * share
            out.append(
                (
                    "exchange_status",
                    {"exchange": exchange, **sym_env},
                    {
                        "connected": down is None,
                        "latency_ms": latency.value if latency else 40.0 + _jitter(exchange, t, 20.0),
                        "reconnect_count": es.reconnects,
                        "last_message_at": TimestampNanos(es.last_message),
                        "disconnected_at": TimestampNanos(down.start) if down else None,
                        "request_count": es.requests,
                        "error_count": int(es.failed),
                    },
                )
            )
            for symbol in SYMBOLS:
                for data_type in DATA_TYPES:
                    out.append(self._pipeline_row(t, exchange, symbol, data_type, down is None, sym_env))
        hs.fetches += len(host_exchanges) * len(SYMBOLS) * 2
        hs.liquidations += sum(r[2]["records_count"] for r in out if r[1].get("data_type") == "liquidation")
        strategy, venue = STRATEGIES[host]
        for symbol in SYMBOLS:
            pnl[(host, symbol)] += 10.0 - _jitter(strategy + symbol, t, 15.0)
            placed = 4 + int(_jitter(symbol, t, 4))
            out.append(
                (
                    "trading_metrics",
                    {"strategy": strategy, "symbol": symbol, "venue": venue, **sym_env},
                    {
                        "pnl": pnl[(host, symbol)],
                        "unrealized_pnl": 50.0 - _jitter(symbol, t, 100.0),
                        "position_size": 1.5,
                        "orders_placed": placed,
                        "orders_filled": placed - 1,
                        "fill_rate": (placed - 1) / placed,
                        "exposure": 1000.0 + _jitter(symbol, t, 500.0),
                        "drawdown": _jitter(strategy, t, 5.0),
                    },
                )
            )
        errors_now = int(hs.errors)
        out.append(
            (
                "daemon_metrics",
                dict(sym_env),
                {
                    "fetch_count": hs.fetches,
                    "error_count": errors_now,
                    "liquidation_count": hs.liquidations,
                    "uptime_seconds": (t - hs.started) / S,
                    "running": self._on("not_running", host, t) is None,
                    "last_error": "ccxt.NetworkError: binance GET /fapi/v1/openInterest 503"
                    if errors_now
                    else None,
                    "memory_rss_bytes": int(memory.value * 1048576)
                    if (memory := self._on("memory", host, t))
                    else 300_000_000 + int(_jitter(host, t, 50_000_000)),
                    "cpu_percent": 12.0 + _jitter(host + "cpu", t, 8.0),
                    "restart_count": hs.restart_count,
                },
            )
        )
        backlog = self._on("backlog", host, t)
        steady = self._on("spool_age", host, t)  # a healthy, steady spool age
        hs.rows_sent += len(out) + 1
        hs.retries += 1 if backlog else 0
        out.append(
            (
                "collector_metrics",
                dict(sym_env),
                {
                    "rows_sent": hs.rows_sent,
                    "rows_spooled": int((t - backlog.start) / S * 50) if backlog else 0,
                    "spool_bytes": int((t - backlog.start) / S * 9000) if backlog else 0,
                    "spool_age_seconds": (t - backlog.start) / S
                    if backlog
                    else (steady.value if steady else 0.0),
                    "flush_latency_ms": 3.0 + _jitter(host + "flush", t, 4.0),
                    "retries": hs.retries,
                    "rejects": hs.rejects,
                    "drops": hs.drops,
                },
            )
        )
        stamp = t + int(_jitter(host + "stamp", t, self.jitter)) if self.jitter else t
        for table, symbols, columns in out:
            yield table, symbols, columns, stamp

    def _pipeline_row(
        self, t: int, exchange: str, symbol: str, data_type: str, connected: bool, sym_env: dict[str, str]
    ) -> tuple[str, dict[str, str], dict[str, object]]:
        target = f"{exchange}/{data_type}"
        stale = self._on("pipeline_stale", target, t)
        records = int(_jitter(exchange + symbol, t, 4)) if data_type == "liquidation" else 1
        if stale or not connected:
            records = 0
        gap = self._starts("gap", f"{target}/{symbol}", t)
        latency = self._on("pipeline_latency", exchange, t)
        columns: dict[str, object] = {
            "records_count": records,
            "bytes_written": records * 96,
            "latency_ms": latency.value if latency else 30.0 + _jitter(target, t, 40.0),
            "gap_detected": gap is not None,
            "error_count": 0 if connected or data_type == "liquidation" else 1,
        }
        if gap:
            columns["gap_duration_seconds"] = gap.value
        return (
            "pipeline_metrics",
            {"exchange": exchange, "symbol": symbol, "data_type": data_type, **sym_env},
            columns,
        )


def load(ilp_conf: str, simulations: Iterable[Simulation]) -> int:
    """Write every simulation's rows; return the number of rows written."""
    count = 0
    with Sender.from_conf(ilp_conf + "auto_flush_rows=20000;") as sender:
        for sim in simulations:
            for table, symbols, columns, t in sim.rows():
                sender.row(
                    table,
                    symbols=symbols,
                    columns={k: v for k, v in columns.items() if v is not None},
                    at=TimestampNanos(t),
                )
                count += 1
        sender.flush()
    return count


def history(now: int, env: str) -> list[Simulation]:
    """30 days: sparse (15 min) until two hours ago, then dense (10 s), with faults in the last hour."""
    faults = [
        Fault("errors", "daemon-1", now - 50 * M, now - 40 * M, value=30),
        Fault("errors", "binance", now - 50 * M, now - 40 * M, value=0.9),
        Fault("restart", "daemon-2", now - 45 * M),
        Fault("disconnect", "okx", now - 35 * M, now - 28 * M),
        Fault("gap", "binance/oi/BTC/USDT:USDT", now - 20 * M, value=42),
        Fault("gap", "bybit/funding/ETH/USDT:USDT", now - 20 * M, value=17),
        Fault("gap", "okx/liquidation/SOL/USDT:USDT", now - 10 * M, value=8),
        Fault("loss", "daemon-1", now - 15 * M, value=5),
        Fault("spool_age", "daemon-2", now - 60 * M, value=3.5),
    ]
    dense_start = now - 2 * H
    return [
        Simulation(env, now - 30 * D, dense_start, 15 * M),
        Simulation(env, dense_start, now + S, 10 * S, faults),
    ]
