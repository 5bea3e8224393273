#!/usr/bin/python3
"""Convert the closed partitions of the monitoring tables to Parquet (the questdb role's nightly job).

A closed partition is one whose period ended (its table's partitioning: a day for DAY) and that is not
the table's newest partition: QuestDB keeps writing the active one in its native format, and late
rows or upserts into a converted partition still land (QuestDB rewrites that partition). Parquet
takes a closed day of pipeline_metrics from 358 to 80 MB (bench/README.md, Retention). Converting a
partition twice changes nothing, so a missed night is caught up by the next.

The configuration is a JSON file the role writes (root:questdb 0640, like server.conf: it holds the
admin HTTP password):
``{"url": "http://127.0.0.1:9000", "user": ..., "password": ..., "tables": [...], "wait_seconds": 300}``.
Runs on the QuestDB host with the standard library only. Exit status 1 when any table failed; each
failure names its table, and the other tables are still converted.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

# timestamp_floor() unit of each partitioning (tables() reports partitionBy in these words).
FLOOR_UNIT = {"HOUR": "h", "DAY": "d", "WEEK": "w", "MONTH": "M", "YEAR": "y"}


class QuestDBError(Exception):
    """QuestDB refused a statement or could not be reached; the message says which and why."""


def convert_sql(table: str, timestamp: str, partition_by: str) -> str:
    """The statement that converts every partition of ``table`` whose period ended before now."""
    unit = FLOOR_UNIT[partition_by]
    return (
        f'ALTER TABLE "{table}" CONVERT PARTITION TO PARQUET '
        f"WHERE \"{timestamp}\" < timestamp_floor('{unit}', now())"
    )


class Client:
    """QuestDB's REST API (/exec) with HTTP basic authentication."""

    def __init__(self, url: str, user: str, password: str, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.timeout = timeout

    def exec(self, sql: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/exec?{urllib.parse.urlencode({'query': sql})}", headers=self.headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return dict(json.load(resp))
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            try:
                reason = json.loads(body).get("error", body)
            except ValueError:
                reason = body
            raise QuestDBError(f"QuestDB refused {sql!r}: HTTP {err.code} {reason}") from err
        except OSError as err:
            raise QuestDBError(f"QuestDB at {self.url} did not answer: {err}") from err

    def records(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a query as dicts keyed by column name."""
        answer = self.exec(sql)
        names = [column["name"] for column in answer.get("columns", [])]
        return [dict(zip(names, row, strict=True)) for row in answer.get("dataset", [])]


def partitions(client: Client, table: str, partition_by: str) -> list[tuple[str, bool, bool]]:
    """(name, in Parquet, closed) of each partition of ``table``, oldest first. Closed: its rows all
    lie before the current period. Partition names sort in time order; a Parquet partition reports
    no min/maxTimestamp."""
    floor = f"timestamp_floor('{FLOOR_UNIT[partition_by]}', now())"
    sql = f"SELECT name, isParquet, maxTimestamp < {floor} closed FROM table_partitions('{table}')"
    rows = client.records(sql + " ORDER BY name")
    return [(str(r["name"]), bool(r["isParquet"]), bool(r["closed"])) for r in rows]


def native_closed(parts: list[tuple[str, bool, bool]]) -> list[str]:
    """The closed partitions of ``parts`` (from ``partitions()``) still in QuestDB's native format,
    the newest excepted (QuestDB 9.2 never converts the newest; 9.3 does when its period ended)."""
    return [name for name, parquet, closed in parts[:-1] if closed and not parquet]


def convert(client: Client, table: str, wait_seconds: float) -> tuple[list[str], str]:
    """Convert the closed partitions of ``table``: the partitions converted and what was done; raise
    QuestDBError if not done."""
    found = client.records(
        f"SELECT designatedTimestamp, partitionBy FROM tables() WHERE table_name = '{table}'"
    )
    if not found:
        raise QuestDBError("no such table")
    timestamp, partition_by = found[0]["designatedTimestamp"], str(found[0]["partitionBy"])
    if partition_by not in FLOOR_UNIT or not timestamp:
        return [], f"{table}: skipped (partitioned by {partition_by}, nothing to convert)"
    parts = partitions(client, table, partition_by)
    native = {name for name, parquet, _ in parts if not parquet}
    if not native_closed(parts):
        return [], f"{table}: every closed partition is in Parquet already"
    client.exec(convert_sql(table, str(timestamp), partition_by))
    # WAL tables apply the statement asynchronously: wait until the partitions changed format.
    deadline = time.monotonic() + wait_seconds
    while left := native_closed(parts := partitions(client, table, partition_by)):
        if time.monotonic() > deadline:
            raise QuestDBError(f"still native after {wait_seconds:.0f} s: {', '.join(left)}")
        time.sleep(1.0)
    done = [name for name, parquet, _ in parts if parquet and name in native]
    return done, f"{table}: converted {len(done)} partition(s) to Parquet: {', '.join(done)}"


def load_config(path: Path) -> dict[str, Any]:
    try:
        config = dict(json.loads(path.read_text()))
    except (OSError, ValueError) as err:
        raise SystemExit(f"questdb-parquet: cannot read the configuration {path}: {err}") from err
    for key in ("url", "user", "password", "tables"):
        if key not in config:
            raise SystemExit(f"questdb-parquet: the configuration {path} has no {key!r}")
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="questdb-parquet", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the JSON configuration")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    client = Client(str(config["url"]), str(config["user"]), str(config["password"]))
    failed = 0
    for table in config["tables"]:
        try:
            _, done = convert(client, str(table), float(config.get("wait_seconds", 300)))
            print(done, flush=True)
        except QuestDBError as err:
            failed += 1
            print(f"{table}: FAILED: {err}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
