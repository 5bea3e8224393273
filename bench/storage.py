"""Storage: bytes on disk for 90 days of R, before (upstream design) and after (retention design).

- before: the upstream design (raw tables, TTL 90 days, no rollups) on the harness's server
  settings. A few days of R are generated and the size of 90 days is projected per table from the
  bytes per row of the closed partitions plus the table's fixed files (symbol tables, metadata),
  plus one day for the active partition.
- after: the retention design (bench/retention.py): raw TTLs of days, the role's rollup views, the
  two page sizes. All 90 days of R are generated, oldest first, so the TTLs drop raw partitions
  as a real server would and the views hold 90 days; sizes are measured as they are.

Sizes are QuestDB's own (``table_storage()``, after WAL segments were purged) and ``du`` of the
whole ``db`` directory (which also holds QuestDB's system tables). History is generated server side
(``INSERT ... SELECT FROM long_sequence()``, bench/workload.py) in 6-hour statements.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import (
    BenchQuestDB,
    Progress,
    Result,
    disk_usage,
    fmt_bytes,
    questdb,
    say,
)
from bench.retention import RAW_TTL, UPSTREAM_TTL
from bench.workload import DAY_S, ROWS_PER_DAY, SECOND_US, TABLES, history_sql
from tests.support.schema import create_views, parquet_job, schema, wait_views

TARGET_BYTES = 1e9
SLICE_S = 6 * 3600
PURGE_WAIT = 12.0  # WAL segments are purged every 5 s (BenchQuestDB); let two rounds pass


def aligned_now_us() -> int:
    step = 10 * SECOND_US
    return int(time.time() * SECOND_US) // step * step


def generate(server: BenchQuestDB, days: float, end_us: int, label: str) -> int:
    """R for (end - days, end] into every table, oldest first; return the rows inserted."""
    seconds = int(days * DAY_S)
    start_us = end_us - seconds * SECOND_US
    rows = 0
    with Progress(label, seconds / DAY_S, "days") as bar:
        for offset in range(0, seconds, SLICE_S):
            length = min(SLICE_S, seconds - offset)
            for table in TABLES:
                server.exec(history_sql(table, start_us + offset * SECOND_US, length), timeout=900)
                rows += ROWS_PER_DAY[table] * length // DAY_S
            for table in TABLES:
                server.wait_wal(table, 900)
            bar.advance(length / DAY_S)
    return rows


def settle(server: BenchQuestDB) -> None:
    for table in (*TABLES, "trading_metrics"):
        server.wait_wal(table, 900)
    if server.rows("SELECT count() FROM materialized_views()")[0][0]:
        wait_views(server, 1800)
    time.sleep(PURGE_WAIT)


def table_sizes(server: BenchQuestDB) -> dict[str, dict[str, int]]:
    """table_storage() of every table and view (not QuestDB's system tables)."""
    out = {}
    for name, partitions, rows, size in server.rows(
        "SELECT tableName, partitionCount, rowCount, diskSize FROM table_storage()"
    ):
        if not name.startswith(("sys.", "telemetry")):
            out[name] = {"partitions": int(partitions), "rows": int(rows), "bytes": int(size)}
    return out


def periods(server: BenchQuestDB, name: str) -> list[tuple[int, int]]:
    """(rows, bytes) of each partition period of ``name``, oldest first, the active one last. A
    partition QuestDB split (``2026-12-06T073540-000001``) counts with the period it belongs to."""
    out: dict[str, list[int]] = {}
    for part, rows, size in server.rows(f"SELECT name, numRows, diskSize FROM table_partitions('{name}')"):
        period = out.setdefault(str(part).split("T")[0], [0, 0])
        period[0] += int(rows)
        period[1] += int(size)
    return [(rows, size) for rows, size in (out[key] for key in sorted(out))]


def bytes_per_row(parts: list[tuple[int, int]]) -> float:
    return sum(size for _, size in parts) / max(1, sum(rows for rows, _ in parts))


def projected_90_days(server: BenchQuestDB, table: str, fixed: int) -> int:
    """90 days of ``table`` under R from its closed partitions' bytes per row (+ the active one)."""
    parts = periods(server, table)
    closed = parts[:-1] or parts
    return int(fixed + bytes_per_row(closed) * ROWS_PER_DAY[table] * 91)


def until_full(parts: list[tuple[int, int]]) -> int:
    """Bytes the active partition (the last of ``parts``, from ``periods()``) still adds before it
    closes: the rows a closed partition holds (the median) less the active one's, at the closed
    partitions' bytes per row, read before they were converted to Parquet (the active partition is
    written natively). The dataset ends at the time of day the bench runs; the peak is at the end of
    that day, before the night's conversion."""
    if len(parts) < 2:
        return 0
    *closed, (active_rows, _) = parts
    full_rows = sorted(rows for rows, _ in closed)[len(closed) // 2]
    return int(max(0, full_rows - active_rows) * bytes_per_row(closed))


def convert_to_parquet(server: BenchQuestDB) -> dict[str, Any]:
    """The questdb role's nightly job on the dataset, as it ran at the last midnight: every table the
    role manages (its default questdb_parquet_tables), with the job's own statement."""
    job = parquet_job()
    client = job.Client(server.http_url, server.http_user, server.http_password, timeout=900)
    tables = [table["name"] for table in schema()]
    started = time.monotonic()
    done = {}
    for table in tables:
        converted, message = job.convert(client, table, 900)
        say(message)
        done[table] = len(converted)
    return {"seconds": time.monotonic() - started, "partitions": sum(done.values()), "tables": done}


def before(workdir: Path, days: int, keep: bool, details: dict[str, Any]) -> tuple[int, dict[str, int]]:
    say(f"storage before: upstream design (TTL 90 d, no rollups), {days} day(s) of R, projected to 90")
    with questdb(workdir, "storage-before", ttl=UPSTREAM_TTL, keep=keep) as server:
        generate(server, days, aligned_now_us(), "history (upstream design)")
        settle(server)
        sizes = table_sizes(server)
        projected = {}
        for table in TABLES:
            parts_bytes = sum(
                int(b) for (b,) in server.rows(f"SELECT diskSize FROM table_partitions('{table}')")
            )
            projected[table] = projected_90_days(server, table, sizes[table]["bytes"] - parts_bytes)
    details["storage_before"] = {"measured_days": days, "measured": sizes, "projected_90d": projected}
    return sum(projected.values()), projected


def after(
    workdir: Path, days: int, keep: bool, details: dict[str, Any], dashboard_repeats: int, storage: bool
) -> list[Result]:
    say(f"retention design: raw TTLs {RAW_TTL}, rollup views, {days} days of R")
    results: list[Result] = []
    with questdb(workdir, "storage-after", ttl=RAW_TTL, keep=keep) as server:
        views = create_views(server)
        end_us = aligned_now_us()
        started = time.monotonic()
        rows = generate(server, days, end_us, f"history ({days} days of R, retention design)")
        settle(server)
        elapsed = time.monotonic() - started
        names = [*TABLES, "trading_metrics", *views]
        native = {k: periods(server, k) for k in names}
        conversion = convert_to_parquet(server)
        settle(server)
        sizes = table_sizes(server)
        total = sum(sizes[k]["bytes"] for k in names if k in sizes)
        peak = total + sum(until_full(native[k]) for k in names)
        db_bytes = disk_usage(server.root / "db")
        details["storage_after"] = {
            "days": days,
            "rows_generated": rows,
            "generation_seconds": round(elapsed, 1),
            "tables": sizes,
            "total_bytes": total,
            "peak_bytes": peak,
            "db_dir_bytes": db_bytes,
            "views": views,
            "parquet": conversion,
        }
        if storage:
            results += after_results(sizes, views, total, peak, db_bytes, days, rows, elapsed)
            results.append(
                Result(
                    "Storage after",
                    "nightly Parquet conversion (the questdb role's job)",
                    f"{conversion['seconds']:.1f} s",
                    note=f"{conversion['partitions']} closed partitions, {len(conversion['tables'])} tables",
                )
            )
        if dashboard_repeats:
            from bench.dashboards import bench_dashboards

            results += bench_dashboards(server, end_us, dashboard_repeats, workdir, details)
    return results


def after_results(
    sizes: dict[str, dict[str, int]],
    views: list[str],
    total: float,
    peak: float,
    db_bytes: int,
    days: int,
    rows: int,
    elapsed: float,
) -> list[Result]:
    results = []
    for name in (*TABLES, *views):
        info = sizes.get(name, {"bytes": 0, "rows": 0, "partitions": 0})
        kind = f"TTL {RAW_TTL[name]}" if name in RAW_TTL else "view"
        results.append(
            Result(
                "Storage after",
                f"{name} ({kind})",
                fmt_bytes(info["bytes"]),
                note=f"{info['rows']:,} rows in {info['partitions']} partitions",
            )
        )
    full = days >= 90
    results.append(
        Result(
            "Storage after",
            f"total, {days} days of R",
            fmt_bytes(total),
            note=f"at the bench's time of day; db dir (incl. QuestDB system tables) {fmt_bytes(db_bytes)}; "
            f"{rows:,} rows in {elapsed:.0f} s",
        )
    )
    results.append(
        Result(
            "Storage after",
            f"total, {days} days of R, at the end of a day",
            fmt_bytes(peak),
            f"<= {fmt_bytes(TARGET_BYTES)}" if full else "(90 days)",
            peak <= TARGET_BYTES if full else None,
            "the peak: each active partition projected to a full one (raw TTLs drop whole days)"
            + ("" if full else "; the target applies to 90 days"),
        )
    )
    return results


def bench_storage(
    workdir: Path,
    *,
    days: int,
    before_days: int,
    details: dict[str, Any],
    keep: bool = False,
    storage: bool = True,
    dashboard_repeats: int = 0,
) -> list[Result]:
    results: list[Result] = []
    if storage:
        total, projected = before(workdir, before_days, keep, details)
        for table in TABLES:
            results.append(Result("Storage before", f"{table} (TTL 90d)", fmt_bytes(projected[table])))
        results.append(
            Result(
                "Storage before",
                "total, 90 days of R (upstream design)",
                fmt_bytes(total),
                note=f"baseline; projected from {before_days} measured day(s): closed partitions' bytes/row"
                " x 91 days",
            )
        )
    results += after(workdir, days, keep, details, dashboard_repeats, storage)
    return results
