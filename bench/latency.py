"""Latency: event to visible in SQL through MetricsClient, at a sustained rate (canary rows).

A producer thread feeds ``MetricsClient.add_many()`` every 100 ms with rate/10 R-shaped pipeline
rows stamped with the current time, plus one canary: a ``daemon_metrics`` row of host
``bench-canary`` whose timestamp is its event time. A poller thread asks QuestDB (PG wire, the
read-only user Grafana uses) every 5 ms for canaries newer than the last one seen; a canary's
latency is the wall clock when its row first shows up minus its timestamp. The client runs with
the collector's defaults (durable spool, batch_size 500, flush timer 1 s).
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.common import BenchQuestDB, Progress, Result, fmt_ms, fmt_rate, percentile, say
from bench.workload import DATA_TYPES, EXCHANGES, SYMBOLS, templates
from collector.config import config_from_mapping
from collector.models import MetricModel
from collector.sink.client import MetricsClient

CANARY_HOST = "bench-canary"
TICK = 0.1
POLL = 0.005
TARGET_P99 = 0.250
SERIES = [(e, s, d) for d in DATA_TYPES for s in SYMBOLS for e in EXCHANGES]


class Canaries:
    """Event times of the canaries sent, and when each became visible."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}  # timestamp (µs) -> event time (s since the epoch)
        self.seen: dict[int, float] = {}
        self.lock = threading.Lock()

    def pairs(self) -> list[tuple[float, float]]:
        """(event time, visible time) of every canary seen."""
        with self.lock:
            return [(event, self.seen[ts]) for ts, event in self.sent.items() if ts in self.seen]

    def latencies(self) -> list[float]:
        with self.lock:
            return [self.seen[ts] - event for ts, event in self.sent.items() if ts in self.seen]


def produce(
    client: MetricsClient, rate: int, seconds: float, canaries: Canaries, stop: threading.Event
) -> int:
    t = templates("bench-latency", datetime.now(UTC))
    per_tick = max(1, round(rate * TICK))
    sent = 0
    due = time.monotonic()
    end = due + seconds
    tick = 0
    with Progress(f"latency at {rate:,} rows/s", seconds, "s") as bar:
        while not stop.is_set() and time.monotonic() < end:
            now = datetime.now(UTC)
            batch: list[MetricModel] = []
            for i in range(per_tick - 1):
                exchange, symbol, data_type = SERIES[i % len(SERIES)]
                batch.append(
                    t.pipeline.model_copy(
                        update={
                            "timestamp": now + timedelta(microseconds=i),
                            "exchange": exchange,
                            "symbol": symbol,
                            "data_type": data_type,
                            "records_count": tick,
                        }
                    )
                )
            canary = t.daemon.model_copy(update={"timestamp": now, "host": CANARY_HOST, "fetch_count": tick})
            batch.append(canary)
            stamp = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
            with canaries.lock:
                canaries.sent[stamp] = now.timestamp()
            sent += client.add_many(batch)
            tick += 1
            bar.advance(TICK)
            due += TICK
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return sent


def poll(dsn: str, canaries: Canaries, stop: threading.Event) -> None:
    last = datetime(1970, 1, 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(
                "SELECT timestamp FROM daemon_metrics WHERE host = %s AND timestamp > %s ORDER BY timestamp",
                (CANARY_HOST, last),
            ).fetchall()
            seen_at = time.time()
            if rows:
                with canaries.lock:
                    for (ts,) in rows:
                        stamp = (ts - datetime(1970, 1, 1)) // timedelta(microseconds=1)
                        canaries.seen.setdefault(stamp, seen_at)
                last = rows[-1][0]
            time.sleep(POLL)


def bench_latency(
    server: BenchQuestDB, rate: int, seconds: float, workdir: Path, details: dict[str, Any]
) -> list[Result]:
    say(f"latency: {rate:,} rows/s for {seconds:g} s, canary every {TICK * 1000:.0f} ms")
    with tempfile.TemporaryDirectory(dir=workdir) as spool:
        config = config_from_mapping(
            {
                "env": "prod",
                "host": "bench",
                "questdb": {
                    "addr": f"{server.host}:{server.http_port}",
                    "username": server.http_user,
                    "password": server.http_password,
                },
                "spool": {"dir": spool},
                "metrics": {"enabled": False},
            }
        )
        canaries = Canaries()
        stop = threading.Event()
        poller = threading.Thread(
            target=poll, args=(server.pg_dsn(readonly=True), canaries, stop), daemon=True
        )
        poller.start()
        client = MetricsClient(config)
        try:
            started = time.monotonic()
            sent = produce(client, rate, seconds, canaries, stop)
            elapsed = time.monotonic() - started
            client.flush(60)
            deadline = time.monotonic() + 30
            while len(canaries.latencies()) < len(canaries.sent) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            poller.join(10)
            client.close(10)
    latencies = canaries.latencies()
    missing = len(canaries.sent) - len(latencies)
    p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
    achieved = sent / elapsed
    details["latency"] = {
        "rate": achieved,
        "canaries": len(canaries.sent),
        "missing": missing,
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "max": max(latencies, default=float("nan")),
    }
    details["latency_raw"] = canaries.pairs()
    note = (
        f"{len(latencies)} canaries over {elapsed:.0f} s at {fmt_rate(achieved)}; poll {POLL * 1000:.0f} ms"
    )
    if missing:
        note = f"{missing} canaries never visible; " + note
    return [
        Result("Latency", "event -> visible in SQL, p50", fmt_ms(p50), note=note),
        Result("Latency", "event -> visible in SQL, p95", fmt_ms(p95)),
        Result(
            "Latency",
            "event -> visible in SQL, p99",
            fmt_ms(p99),
            f"<= {TARGET_P99 * 1000:.0f} ms",
            p99 <= TARGET_P99 and missing == 0 and achieved >= 0.95 * rate,
            f"max {fmt_ms(max(latencies, default=float('nan')))}",
        ),
    ]
