"""Ingest: rows/s through MetricsClient against the raw questdb client, same rows, same run.

Every contender gets the same R-shaped, already validated models (generated before the clock
starts) and its own host symbol, so runs never overwrite each other. A run ends when QuestDB has
acknowledged every row (``MetricsClient.flush()`` returning, the raw client's last ``flush``);
the row counts are then checked in QuestDB. Runs alternate (raw, client, raw, client, ...) and the
median of each is reported, with the ratio of the medians.

- ``MetricsClient``: ``add_many()`` per 10-second window of R (650 rows), the default
  config (durable spool, fsync every second) except ``max_request_rows`` = 75,000, the official
  client's own HTTP auto-flush size, which both sides use (QuestDB spends far less CPU per row on
  large transactions; the collector's default of 10,000 is measured too, as information).
- raw client, from models: ``to_row()`` (the same mapping) + ``Buffer.row()`` per table, a
  transactional ``flush`` every 75,000 rows (at the next window): what a hand-written shipper of
  these models does.

Requests end between windows on both sides: a request that splits rows of one timestamp costs
QuestDB an out-of-order merge against the previous one (DEDUP), up to 10 times the CPU.
- raw client, from rows: the rows built beforehand, so only ``Buffer.row()`` + ``flush`` are timed:
  the ceiling of the official client on this machine.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from questdb import Sender, TimestampMicros, TimestampNanos

from bench.common import BenchQuestDB, Progress, Result, fmt_rate, median, say
from bench.workload import TABLES, windows
from collector.config import MonitoringConfig, config_from_mapping
from collector.models import MetricModel
from collector.schema import to_row
from collector.sink.client import MetricsClient
from collector.sink.rows import Row

CHUNK = 1_000
REQUEST_ROWS = 75_000  # the official client's auto_flush_rows default over HTTP
DEFAULT_REQUEST_ROWS = 10_000  # the collector's max_request_rows default
TARGET_SHARE = 0.9  # of the raw client from the same models (the absolute 200,000 rows/s is retired)


@dataclass
class Run:
    name: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def client_config(
    server: BenchQuestDB, spool: Path, request_rows: int = REQUEST_ROWS, questdb: dict[str, Any] | None = None
) -> MonitoringConfig:
    """The collector's configuration for ``server``; ``questdb`` overrides its connection (e.g. https)."""
    return config_from_mapping(
        {
            "env": "prod",
            "host": "bench",
            "questdb": {
                "addr": f"{server.host}:{server.http_port}",
                "username": server.http_user,
                "password": server.http_password,
                **(questdb or {}),
            },
            "spool": {"dir": str(spool)},
            "metrics": {"enabled": False},
            "max_request_rows": request_rows,
        }
    )


def run_client(
    server: BenchQuestDB,
    batches: Sequence[list[MetricModel]],
    workdir: Path,
    request_rows: int = REQUEST_ROWS,
    questdb: dict[str, Any] | None = None,
) -> float:
    with tempfile.TemporaryDirectory(dir=workdir) as spool:
        client = MetricsClient(client_config(server, Path(spool), request_rows, questdb))
        try:
            started = time.perf_counter()
            for batch in batches:
                client.add_many(batch)
            if not client.flush(600):
                raise RuntimeError("MetricsClient did not deliver within 600 s")
            return time.perf_counter() - started
        finally:
            client.close(10)


def _send_rows(server: BenchQuestDB, batches: Sequence[Sequence[Any]], convert: bool) -> float:
    """The raw client: Buffer.row per table, a transactional flush after REQUEST_ROWS rows; with
    ``convert`` the batches hold models, mapped with to_row() on the way."""
    started = time.perf_counter()
    with Sender.from_conf(server.ilp_conf + "auto_flush=off;") as sender:
        buffers: dict[str, Any] = {}
        pending = 0
        for batch in batches:
            if pending >= REQUEST_ROWS:
                for buffer in buffers.values():
                    if len(buffer):
                        sender.flush(buffer, transactional=True)
                pending = 0
            for item in batch:
                table, at, symbols, columns, timestamps = to_row(item) if convert else item
                buffer = buffers.get(table)
                if buffer is None:
                    buffer = buffers[table] = sender.new_buffer()
                if timestamps:
                    columns = {**columns, **{k: TimestampMicros(v // 1_000) for k, v in timestamps.items()}}
                buffer.row(table, symbols=symbols, columns=columns, at=TimestampNanos(at))
            pending += len(batch)
        for buffer in buffers.values():
            if len(buffer):
                sender.flush(buffer, transactional=True)
    return time.perf_counter() - started


def count_rows(server: BenchQuestDB) -> int:
    total = 0
    for table in TABLES:
        server.wait_wal(table, 300)
        total += int(server.rows(f"SELECT count() FROM {table}")[0][0])
    return total


def truncate(server: BenchQuestDB) -> None:
    for table in TABLES:
        server.exec(f"TRUNCATE TABLE {table}")
        server.wait_wal(table, 300)


def measure(server: BenchQuestDB, rows: int, repeats: int, workdir: Path) -> tuple[dict[str, list[Run]], str]:
    """Each contender sends the very same rows into emptied tables; runs alternate."""
    contenders: dict[str, Callable[[list[list[MetricModel]], list[list[Row]]], float]] = {
        "raw client, from rows": lambda m, r: _send_rows(server, r, False),
        "raw client, from models": lambda m, r: _send_rows(server, m, True),
        "MetricsClient.add_many": lambda m, r: run_client(server, m, workdir),
        "MetricsClient, default requests": lambda m, r: run_client(server, m, workdir, DEFAULT_REQUEST_ROWS),
    }
    with Progress("generating R-shaped models", rows, "rows") as bar:
        samples: list[list[MetricModel]] = []
        for window in windows(rows, "bench-host"):
            samples.append(window)
            bar.advance(len(window))
        prebuilt = [[to_row(s) for s in window] for window in samples]
    gc.collect()
    gc.freeze()  # the inputs are not the contenders' garbage to scan
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    problems = []
    try:
        with Progress("ingest runs", repeats * len(contenders), "runs") as bar:
            for _ in range(repeats):
                for name, contender in contenders.items():
                    truncate(server)
                    gc.collect()
                    seconds = contender(samples, prebuilt)
                    landed = count_rows(server)
                    if landed != rows:
                        problems.append(f"{name}: {landed} of {rows} rows in QuestDB")
                    runs[name].append(Run(name, rows, seconds))
                    bar.advance()
    finally:
        gc.unfreeze()
    return runs, "; ".join(problems)


def bench_ingest(server: BenchQuestDB, rows: int, repeats: int, workdir: Path) -> list[Result]:
    say(f"ingest: {rows:,} rows x {repeats} runs per contender")
    runs, problems = measure(server, rows, repeats, workdir)
    rate = {name: median([r.rate for r in items]) for name, items in runs.items()}
    client = rate["MetricsClient.add_many"]
    raw_rows, raw_models = rate["raw client, from rows"], rate["raw client, from models"]
    spread = {
        name: f"{min(r.rate for r in items):,.0f}-{max(r.rate for r in items):,.0f}"
        for name, items in runs.items()
    }
    note = f"median of {repeats}, 1 process, {rows:,} rows, {REQUEST_ROWS:,}-row requests"
    share_models, share_rows = client / raw_models, client / raw_rows
    return [
        Result(
            "Ingest",
            "raw questdb client, pre-built rows",
            fmt_rate(raw_rows),
            note=f"{note}; {spread['raw client, from rows']}",
        ),
        Result(
            "Ingest",
            "raw questdb client, same models",
            fmt_rate(raw_models),
            note=spread["raw client, from models"],
        ),
        Result(
            "Ingest",
            "MetricsClient.add_many (durable spool)",
            fmt_rate(client),
            "every row",
            not problems,
            problems or spread["MetricsClient.add_many"],
        ),
        Result(
            "Ingest",
            f"MetricsClient, max_request_rows {DEFAULT_REQUEST_ROWS:,} (default)",
            fmt_rate(rate["MetricsClient, default requests"]),
            note=f"information; {spread['MetricsClient, default requests']}",
        ),
        Result(
            "Ingest",
            "MetricsClient / raw client (same models)",
            f"{share_models:.0%}",
            f">= {TARGET_SHARE:.0%}",
            share_models >= TARGET_SHARE,
        ),
        Result(
            "Ingest",
            "MetricsClient / raw client (pre-built rows)",
            f"{share_rows:.0%}",
            note="information: the raw side skips the model -> row mapping",
        ),
    ]
