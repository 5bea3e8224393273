"""Backlog: a day of the reference workload spooled while QuestDB was away, delivered on its return.

A ``MetricsClient`` whose QuestDB address has nothing listening takes ``rows`` of R (24 h: about
5.6 M rows, in the 10-second windows of the collector's polls) into its spool and stops with all of
them still spooled, as a collector does at the end of an outage it outlived. A client on the same
spool with the live QuestDB then delivers them: the time from its start to ``flush()`` returning is
the figure (a collector that kept running would first wait out its retry backoff, at most
``retry.max_backoff_seconds``, 5 s by default). QuestDB's row counts confirm every row landed once.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import BenchQuestDB, Progress, Result, fmt_rate, say
from bench.ingest import DEFAULT_REQUEST_ROWS, client_config, count_rows, truncate
from bench.workload import windows
from collector.sink.client import MetricsClient
from tests.support.questdb_server import free_port

TARGET_SECONDS = 60.0


def bench_backlog(server: BenchQuestDB, rows: int, workdir: Path) -> list[Result]:
    say(f"backlog: {rows:,} rows spooled while QuestDB is away, then delivered")
    truncate(server)
    spool = workdir / "backlog-spool"
    away = {"addr": f"127.0.0.1:{free_port()}", "request_timeout_ms": 200}
    down = MetricsClient(client_config(server, spool, DEFAULT_REQUEST_ROWS, away))
    started = time.perf_counter()
    with Progress("spooling the backlog", rows, "rows") as bar:
        for window in windows(rows, "bench-backlog"):
            down.add_many(window)
            bar.advance(len(window))
    spooled_in = time.perf_counter() - started
    if down.close(0.5):
        raise RuntimeError("the backlog was delivered while QuestDB was away")
    spool_bytes = sum(p.stat().st_size for p in spool.iterdir() if p.is_file())
    up = MetricsClient(client_config(server, spool, DEFAULT_REQUEST_ROWS))
    try:
        started = time.perf_counter()
        pending = up.spool.pending_rows()
        if not up.flush(600):
            raise RuntimeError("the backlog was not delivered within 600 s")
        seconds = time.perf_counter() - started
    finally:
        up.close(10)
    landed = count_rows(server)
    problems = f"; {landed:,} of {rows:,} rows in QuestDB" if landed != rows else ""
    return [
        Result(
            "Backlog",
            f"{rows:,} spooled rows delivered after an outage",
            f"{seconds:.1f} s",
            f"<= {TARGET_SECONDS:.0f} s",
            seconds <= TARGET_SECONDS and pending == rows and not problems,
            f"{fmt_rate(rows / seconds)}; {pending:,} rows found in the spool ({spool_bytes / 2**20:.0f} MiB"
            f" on disk), spooled in {spooled_in:.1f} s; max_request_rows {DEFAULT_REQUEST_ROWS:,}{problems}",
        )
    ]
