"""The reference workload R and its generators.

R (issue 6): 4 exchanges x 50 symbols x 3 data types of ``pipeline_metrics`` every 10 s, one
``daemon_metrics`` row and one ``exchange_status`` row per exchange every 1 s, from one daemon host.
Per day: 5,184,000 pipeline rows, 345,600 exchange rows and 86,400 daemon rows. R has no trading or
collector rows.

Two generators:

- ``history_sql()``: history at bulk speed, server side (``INSERT ... SELECT FROM long_sequence()``)
  with past timestamps, one statement per table and day, in time order (as a daemon would send it);
- ``models()``: R-shaped validated models for the client benchmarks (ingest, latency).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from collector.config import DEFAULT_DATA_TYPES, SIMULATED_EXCHANGES
from collector.models import DaemonMetrics, ExchangeStatus, MetricModel, PipelineMetrics
from collector.schema import TABLES as TABLES_SPEC
from collector.sources.simulate import symbol_names

EXCHANGES = tuple(SIMULATED_EXCHANGES)
DATA_TYPES = tuple(DEFAULT_DATA_TYPES)
SYMBOLS = tuple(symbol_names(50))
HOST = "daemon-1"
ENV = "prod"
PIPELINE_EVERY_S = 10
SERIES = len(EXCHANGES) * len(SYMBOLS) * len(DATA_TYPES)  # 600 pipeline series
DAY_S = 86_400
SECOND_US = 1_000_000
ROWS_PER_DAY = {
    "pipeline_metrics": SERIES * DAY_S // PIPELINE_EVERY_S,
    "exchange_status": len(EXCHANGES) * DAY_S,
    "daemon_metrics": DAY_S,
}
TABLES = tuple(ROWS_PER_DAY)


def _case(expression: str, values: tuple[str, ...]) -> str:
    whens = " ".join(f"WHEN {i} THEN '{value}'" for i, value in enumerate(values))
    return f"CASE {expression} {whens} END"


def _insert(table: str, values: dict[str, str], rows: int) -> str:
    """``INSERT INTO table (columns) SELECT values FROM long_sequence(rows)``, the columns named (the
    table's declaration, collector.schema.TABLES, decides their order, not this file)."""
    unknown = set(values) - set(TABLES_SPEC[table].column_names())
    if unknown:
        raise ValueError(f"{table} has no column {sorted(unknown)}")
    columns = ", ".join(values)
    return f"INSERT INTO {table} ({columns}) SELECT {', '.join(values.values())} FROM long_sequence({rows})"


def history_sql(table: str, start_us: int, seconds: int) -> str:
    """One INSERT of R's rows of ``table`` for [start, start + seconds) (start on a 10 s boundary).

    Values are deterministic functions of the row number (counters cumulative, rare gaps and
    disconnects) plus some noise; every row is distinct under the table's DEDUP keys. Columns left
    out (e.g. a new nullable one) stay null.
    """
    if table == "pipeline_metrics":
        tick = f"((x - 1) / {SERIES})"
        series = f"((x - 1) % {SERIES})"
        values = {
            "timestamp": f"cast({start_us} + {tick} * {PIPELINE_EVERY_S * SECOND_US} AS timestamp)",
            "exchange": _case(f"{series} % 4", EXCHANGES),
            "symbol": _case(f"({series} / 4) % 50", SYMBOLS),
            "data_type": _case(f"{series} / 200", DATA_TYPES),
            "host": f"'{HOST}'",
            "env": f"'{ENV}'",
            "records_count": "rnd_long(0, 400, 0)",
            "bytes_written": "rnd_long(0, 200000, 0)",
            "latency_ms": "5.0 + rnd_double() * 40",
            "gap_detected": "x % 99991 = 0",
            "gap_duration_seconds": "CASE WHEN x % 99991 = 0 THEN 30.0 END",
        }
        return _insert(table, values, SERIES * seconds // PIPELINE_EVERY_S)
    if table == "exchange_status":
        connected = "(x % 100003 > 40)"
        at = f"{start_us} + ((x - 1) / 4) * {SECOND_US}"
        values = {
            "timestamp": f"cast({at} AS timestamp)",
            "exchange": _case("(x - 1) % 4", EXCHANGES),
            "host": f"'{HOST}'",
            "env": f"'{ENV}'",
            "connected": connected,
            "latency_ms": "20.0 + rnd_double() * 80",
            "reconnect_count": f"{start_us // SECOND_US % 1000} + x / 400003",
            "last_message_at": f"cast({at} - rnd_long(0, 900000, 0) AS timestamp)",
            "disconnected_at": f"CASE WHEN NOT {connected} "
            f"THEN cast({start_us} + ((x - 1 - (x % 100003)) / 4) * {SECOND_US} AS timestamp) END",
        }
        return _insert(table, values, len(EXCHANGES) * seconds)
    if table == "daemon_metrics":
        base = start_us // SECOND_US
        values = {
            "timestamp": f"cast({start_us} + (x - 1) * {SECOND_US} AS timestamp)",
            "host": f"'{HOST}'",
            "env": f"'{ENV}'",
            "fetch_count": f"({base} + x) * 12",
            "error_count": f"({base} + x) / 3600",
            "liquidation_count": f"({base} + x) * 3",
            "uptime_seconds": f"cast({base % DAY_S} + x AS double)",
            "running": "true",
            "last_error": "CASE WHEN x % 3600 = 0 "
            "THEN 'ccxt.NetworkError: okx GET /api/v5/public/open-interest 503' END",
            "memory_rss_bytes": "300000000 + rnd_long(0, 50000000, 0)",
            "cpu_percent": "5.0 + rnd_double() * 30",
            "restart_count": "0",
        }
        return _insert(table, values, seconds)
    raise ValueError(f"R has no rows for {table}")


# --- client-side models ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Templates:
    """One validated model per series kind; copies with new values skip re-validation (the values
    are of the validated types), so generating a million inputs takes seconds, not minutes."""

    pipeline: PipelineMetrics
    exchange: ExchangeStatus
    daemon: DaemonMetrics


def templates(host: str, at: datetime) -> Templates:
    return Templates(
        PipelineMetrics(
            timestamp=at,
            host=host,
            env=ENV,
            exchange=EXCHANGES[0],
            symbol=SYMBOLS[0],
            data_type=DATA_TYPES[0],
            records_count=1,
            bytes_written=1,
            latency_ms=1.0,
        ),
        ExchangeStatus(
            timestamp=at, host=host, env=ENV, exchange=EXCHANGES[0], connected=True, latency_ms=1.0
        ),
        DaemonMetrics(timestamp=at, host=host, env=ENV, running=True, fetch_count=0, uptime_seconds=0.0),
    )


def tick_models(t: Templates, at: datetime, tick: int, pipeline: bool) -> list[MetricModel]:
    """R's rows of one second: daemon + exchanges, and the 600 pipeline rows every 10th second."""
    rows: list[MetricModel] = [
        t.daemon.model_copy(update={"timestamp": at, "fetch_count": tick * 12, "uptime_seconds": float(tick)})
    ]
    rows += [
        t.exchange.model_copy(
            update={"timestamp": at, "exchange": exchange, "latency_ms": 20.0 + (tick * 7 + i) % 80}
        )
        for i, exchange in enumerate(EXCHANGES)
    ]
    if pipeline:
        rows += [
            t.pipeline.model_copy(
                update={
                    "timestamp": at,
                    "exchange": exchange,
                    "symbol": symbol,
                    "data_type": data_type,
                    "records_count": (tick + i) % 400,
                    "bytes_written": (tick * 31 + i) % 200_000,
                    "latency_ms": 5.0 + (tick + i) % 40,
                }
            )
            for i, (data_type, symbol, exchange) in enumerate(
                (d, s, e) for d in DATA_TYPES for s in SYMBOLS for e in EXCHANGES
            )
        ]
    return rows


def windows(count: int, host: str, end: datetime | None = None) -> Iterator[list[MetricModel]]:
    """``count`` rows of R for ``host`` ending at ``end`` (default now), as 10 s windows: the 600
    pipeline rows of a tick, then 10 seconds of daemon and exchange rows (650 rows). A window never
    splits a timestamp, like the polls of the real collector (the last one may be cut short)."""
    end = end or datetime.now(UTC)
    per_window = SERIES + PIPELINE_EVERY_S * (1 + len(EXCHANGES))
    seconds = (count // per_window + 1) * PIPELINE_EVERY_S
    start = end.replace(microsecond=0) - timedelta(seconds=seconds)
    start -= timedelta(seconds=start.second % PIPELINE_EVERY_S)
    t = templates(host, start)
    produced = 0
    tick = 0
    while produced < count:
        window: list[MetricModel] = []
        for second in range(PIPELINE_EVERY_S):
            at = start + timedelta(seconds=tick + second)
            window += tick_models(t, at, tick + second, second == 0)
        window = window[: count - produced]
        produced += len(window)
        tick += PIPELINE_EVERY_S
        yield window


def models(count: int, host: str, end: datetime | None = None) -> Iterator[MetricModel]:
    """The rows of ``windows()`` one by one."""
    for window in windows(count, host, end):
        yield from window
