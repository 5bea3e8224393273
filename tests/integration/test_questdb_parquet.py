"""The questdb role's nightly Parquet conversion (roles/questdb/files/questdb_parquet.py) against a
real QuestDB: closed partitions converted, the active one left native, nothing lost or changed, late
rows and upserts still landing, and each failure named by its table without stopping the others."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.questdb_server import QuestDBServer
from tests.support.schema import create_schema, parquet_job

job = parquet_job()
DAY_US = 86_400_000_000


def fill(server: QuestDBServer, table: str, days: int) -> None:
    """One row a minute of ``table`` from ``days`` days ago until now (today's partition included)."""
    minutes = days * 1440
    server.exec(
        f"INSERT INTO {table} (timestamp, host, env, exchange, symbol, data_type, records_count) "
        f"SELECT dateadd('m', cast(x - {minutes} AS int), timestamp_floor('m', now())), 'h1', 'test', "
        "'binance', 'BTC/USDT', 'oi', x FROM long_sequence(" + str(minutes) + ")"
    )
    server.wait_wal(table, 60)


def partitions(server: QuestDBServer, table: str) -> list[tuple[str, int, bool]]:
    rows = server.rows(f"SELECT name, numRows, isParquet FROM table_partitions('{table}') ORDER BY name")
    return [(str(name), int(n), bool(parquet)) for name, n, parquet in rows]


@pytest.fixture
def server(fresh_questdb: QuestDBServer) -> QuestDBServer:
    """A server of the test's own with the monitoring schema and three days of pipeline_metrics."""
    create_schema(fresh_questdb)
    fill(fresh_questdb, "pipeline_metrics", 3)
    return fresh_questdb


def config(server: QuestDBServer, tmp_path: Path, tables: list[str], **extra: Any) -> Path:
    path = tmp_path / "config"
    body = {"url": server.http_url, "user": server.http_user, "password": server.http_password}
    path.write_text(json.dumps({**body, "tables": tables, "wait_seconds": 60, **extra}))
    return path


def test_closed_partitions_become_parquet_and_every_row_stays(
    server: QuestDBServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    totals = "SELECT count(), sum(records_count), min(timestamp), max(timestamp) FROM pipeline_metrics"
    before_totals = server.rows(totals)
    before = partitions(server, "pipeline_metrics")
    assert len(before) == 4 and not any(p for _, _, p in before)

    assert job.main(["--config", str(config(server, tmp_path, ["pipeline_metrics"]))]) == 0
    after = partitions(server, "pipeline_metrics")
    assert [(n, r) for n, r, _ in after] == [(n, r) for n, r, _ in before]
    assert [p for _, _, p in after] == [True, True, True, False]  # today's stays native
    assert server.rows(totals) == before_totals
    assert "converted 3 partition(s)" in capsys.readouterr().out

    # The next night: nothing to do.
    assert job.main(["--config", str(config(server, tmp_path, ["pipeline_metrics"]))]) == 0
    assert "in Parquet already" in capsys.readouterr().out

    # A late row and an upsert (same DEDUP key, new value) into a converted day.
    oldest = before[0][0]
    first_ts = server.rows("SELECT timestamp FROM pipeline_metrics LIMIT 1")[0][0]
    server.exec(
        "INSERT INTO pipeline_metrics (timestamp, host, env, exchange, symbol, data_type, records_count) "
        f"VALUES ('{first_ts}', 'h1', 'test', 'binance', 'BTC/USDT', 'oi', 1000000), "
        f"(dateadd('s', 30, '{first_ts}'), 'h1', 'test', 'binance', 'BTC/USDT', 'oi', 7)"
    )
    server.wait_wal("pipeline_metrics", 60)
    count, total = server.rows("SELECT count(), sum(records_count) FROM pipeline_metrics")[0][:2]
    assert count == before_totals[0][0] + 1
    assert total == before_totals[0][1] - 1 + 1_000_000 + 7
    assert partitions(server, "pipeline_metrics")[0][:2] == (oldest, before[0][1] + 1)


def test_a_failing_table_is_named_and_the_others_still_convert(
    server: QuestDBServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.exec("CREATE TABLE plain (ts TIMESTAMP, v LONG)")  # not partitioned: nothing to convert
    tables = ["no_such_table", "plain", "pipeline_metrics"]
    assert job.main(["--config", str(config(server, tmp_path, tables))]) == 1
    out, err = capsys.readouterr()
    assert "no_such_table: FAILED" in err and "no_such_table" not in out
    assert "plain: skipped" in out
    assert [p for _, _, p in partitions(server, "pipeline_metrics")] == [True, True, True, False]


def test_a_wrong_password_converts_nothing_and_says_so(
    server: QuestDBServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(server, tmp_path, ["pipeline_metrics"], password="not-the-password")
    assert job.main(["--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "pipeline_metrics: FAILED" in err and "HTTP 401" in err
    assert "not-the-password" not in err
    assert not any(p for _, _, p in partitions(server, "pipeline_metrics"))


def test_a_configuration_without_a_key_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(json.dumps({"url": "http://127.0.0.1:9", "user": "u", "tables": []}))
    with pytest.raises(SystemExit, match="has no 'password'"):
        job.main(["--config", str(path)])


def test_the_statement_floors_to_the_tables_own_partitioning() -> None:
    assert job.convert_sql("t", "ts", "MONTH").endswith("WHERE \"ts\" < timestamp_floor('M', now())")
    with pytest.raises(KeyError):
        job.convert_sql("t", "ts", "NONE")
