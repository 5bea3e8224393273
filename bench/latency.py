"""Latency: event to visible in SQL through MetricsClient, at a sustained rate (canary rows).

A producer thread feeds ``MetricsClient.add_many()`` every 100 ms with rate/10 R-shaped pipeline
rows stamped with the current time, plus one canary: a ``daemon_metrics`` row of host
``bench-canary`` whose timestamp is its event time. A poller in a process of its own (as Grafana is:
the producer's interpreter lock must not delay what it observes) asks QuestDB (PG wire, the
read-only user Grafana uses) every 5 ms for canaries newer than the last one seen; a canary's
latency is the wall clock when its row first shows up minus its timestamp. The client runs with
the collector's defaults (durable spool, batch_size 500, flush timer 1 s).

The server is the deployed design: the role's page sizes, the raw TTLs and the rollup views, which
refresh on every transaction of their base tables.

Where the time goes: QuestDB records when it committed each WAL transaction
(``wal_transactions()``, the same clock), so each canary's latency splits into event -> WAL commit
(the collector: spool, batching, the HTTP request) and WAL commit -> visible (QuestDB applying the
transaction to the table, plus up to one poll interval). Only the sequencer's V2 log records which
rows a transaction holds; the bench's server uses it (``cairo.default.sequencer.part.txn.count``),
deploys keep QuestDB's default.
"""

from __future__ import annotations

import bisect
import multiprocessing
import queue
import tempfile
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
TARGET_P99 = 0.100
TARGET_MAX = 0.250
SERVER_SETTINGS = {"cairo.default.sequencer.part.txn.count": "50000"}  # V2: timestamps per transaction
SERIES = [(e, s, d) for d in DATA_TYPES for s in SYMBOLS for e in EXCHANGES]
EPOCH = datetime(1970, 1, 1)


def micros(ts: datetime) -> int:
    return (ts.replace(tzinfo=None) - EPOCH) // timedelta(microseconds=1)


def produce(client: MetricsClient, rate: int, seconds: float) -> tuple[int, dict[int, float]]:
    """Rows sent at ``rate`` for ``seconds``; the canaries' event times by timestamp (µs)."""
    t = templates("bench-latency", datetime.now(UTC))
    per_tick = max(1, round(rate * TICK))
    sent = 0
    canaries: dict[int, float] = {}
    due = time.monotonic()
    end = due + seconds
    tick = 0
    with Progress(f"latency at {rate:,} rows/s", seconds, "s") as bar:
        while time.monotonic() < end:
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
            canaries[micros(now)] = now.timestamp()
            sent += client.add_many(batch)
            tick += 1
            bar.advance(TICK)
            due += TICK
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return sent, canaries


def poll(dsn: str, stop: Any, out: Any) -> None:
    """In its own process: every POLL seconds, the canaries that became visible; put {µs: seen at}."""
    seen: dict[int, float] = {}
    last = EPOCH
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(
                "SELECT timestamp FROM daemon_metrics WHERE host = %s AND timestamp > %s ORDER BY timestamp",
                (CANARY_HOST, last),
            ).fetchall()
            seen_at = time.time()
            for (ts,) in rows:
                seen.setdefault(micros(ts), seen_at)
            if rows:
                last = rows[-1][0]
            time.sleep(POLL)
    out.put(seen)


def commit_times(server: BenchQuestDB, stamps: list[int]) -> dict[int, float]:
    """When QuestDB committed the WAL transaction holding each canary (seconds since the epoch)."""
    txns = sorted(
        (int(lo), int(hi), int(at))
        for lo, hi, at in server.rows(
            "SELECT cast(minTimestamp AS long), cast(maxTimestamp AS long), cast(timestamp AS long)"
            " FROM wal_transactions('daemon_metrics') WHERE rowCount > 0"
        )
        if lo is not None and hi is not None
    )
    lows = [lo for lo, _, _ in txns]
    out = {}
    for stamp in stamps:
        i = bisect.bisect_right(lows, stamp) - 1
        if i >= 0 and txns[i][0] <= stamp <= txns[i][1]:
            out[stamp] = txns[i][2] / 1e6
    return out


def wait_visible(server: BenchQuestDB, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    query = f"SELECT count() FROM daemon_metrics WHERE host = '{CANARY_HOST}'"
    while server.rows(query)[0][0] < count and time.monotonic() < deadline:
        time.sleep(0.05)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values, default=float("nan")),
    }


def spread(values: list[float]) -> str:
    return "/".join(fmt_ms(percentile(values, p))[:-3] for p in (50, 99)) + f"/{max(values) * 1000:.1f} ms"


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
        ctx = multiprocessing.get_context("spawn")
        stop, out = ctx.Event(), ctx.Queue()
        poller = ctx.Process(target=poll, args=(server.pg_dsn(readonly=True), stop, out), daemon=True)
        poller.start()
        time.sleep(1.0)  # the poller's interpreter and connection are up before the first canary
        client = MetricsClient(config)
        try:
            started = time.monotonic()
            sent, canaries = produce(client, rate, seconds)
            elapsed = time.monotonic() - started
            client.flush(60)
            wait_visible(server, len(canaries), 30)
            time.sleep(5 * POLL)
        finally:
            stop.set()
            try:
                seen: dict[int, float] = out.get(timeout=30)
            except queue.Empty:
                seen = {}
            poller.join(10)
            client.close(10)
    committed = commit_times(server, sorted(canaries))
    latencies = [seen[ts] - event for ts, event in canaries.items() if ts in seen]
    to_commit = [committed[ts] - event for ts, event in canaries.items() if ts in committed and ts in seen]
    to_visible = [seen[ts] - committed[ts] for ts in canaries if ts in committed and ts in seen]
    missing = len(canaries) - len(latencies)
    p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
    worst = max(latencies, default=float("nan"))
    achieved = sent / elapsed
    details["latency"] = {
        "rate": achieved,
        "canaries": len(canaries),
        "missing": missing,
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "max": worst,
        "to_commit": summary(to_commit),
        "to_visible": summary(to_visible),
    }
    details["latency_raw"] = [
        (event, committed.get(ts), seen[ts]) for ts, event in sorted(canaries.items()) if ts in seen
    ]
    note = (
        f"{len(latencies)} canaries over {elapsed:.0f} s at {fmt_rate(achieved)}; poll {POLL * 1000:.0f} ms"
    )
    if missing:
        note = f"{missing} canaries never visible; " + note
    complete = missing == 0 and achieved >= 0.95 * rate
    if to_commit:
        collector = f"event -> WAL commit (collector) p50/p99/max {spread(to_commit)}"
        server = f"WAL commit -> visible (QuestDB, poll) p50/p99/max {spread(to_visible)}"
    else:
        collector, server = "no WAL commit times (wal_transactions without min/max timestamps)", ""
    return [
        Result("Latency", "event -> visible in SQL, p50", fmt_ms(p50), note=note),
        Result("Latency", "event -> visible in SQL, p95", fmt_ms(p95), note=collector),
        Result(
            "Latency",
            "event -> visible in SQL, p99",
            fmt_ms(p99),
            f"<= {fmt_ms(TARGET_P99)}",
            p99 <= TARGET_P99 and complete,
            server,
        ),
        Result(
            "Latency",
            "event -> visible in SQL, max",
            fmt_ms(worst),
            f"<= {fmt_ms(TARGET_MAX)}",
            worst <= TARGET_MAX and complete,
        ),
    ]
