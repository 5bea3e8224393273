"""Fixtures of the collector's tests: the real QuestDB with the deployed schema, configs, queries."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from collector.config import MonitoringConfig, config_from_mapping
from collector.schema import TABLES as SPECS
from tests.support.questdb_server import QuestDBServer
from tests.support.schema import create_schema, schema

# The role's tables: the collector's data tables, collector_metrics and backup_runs.
TABLES = tuple(table["name"] for table in schema())


@pytest.fixture(scope="session")
def qdb(questdb: QuestDBServer) -> QuestDBServer:
    """The session's QuestDB with the monitoring tables of the role."""
    create_schema(questdb)
    return questdb


@pytest.fixture
def fresh_qdb(fresh_questdb: QuestDBServer) -> QuestDBServer:
    """A QuestDB of the test's own (to stop and restart), with the monitoring tables."""
    create_schema(fresh_questdb)
    return fresh_questdb


@pytest.fixture
def host() -> str:
    """A host name of the test's own, so tests sharing the session server never see each other's rows."""
    return f"t-{uuid.uuid4().hex[:12]}"


def questdb_settings(server: QuestDBServer) -> dict[str, Any]:
    return {
        "addr": f"{server.host}:{server.http_port}",
        "username": server.http_user,
        "password": server.http_password,
        "request_timeout_ms": 3000,
    }


def make_config(tmp_path: Path, server: QuestDBServer | None = None, **overrides: Any) -> MonitoringConfig:
    """A valid config with its spool under tmp_path; ``server`` None points at a closed port."""
    data: dict[str, Any] = {
        "env": "dev",
        "host": "test-host",
        "questdb": questdb_settings(server) if server else {"addr": "127.0.0.1:9", "request_timeout_ms": 500},
        "spool": {"dir": str(tmp_path / "spool")},
        "metrics": {"enabled": False},
        "flush_interval_seconds": 0.2,
        "retry": {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return config_from_mapping(data)


def pg_query(server: QuestDBServer, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.pg_dsn(readonly=True), autocommit=True) as conn:
        return list(conn.execute(sql, params).fetchall())  # type: ignore[arg-type]


def wait_all_wal(server: QuestDBServer, timeout: float = 30.0) -> None:
    for table in TABLES:
        server.wait_wal(table, timeout)


def wait_for_count(server: QuestDBServer, sql: str, expected: int, timeout: float = 30.0) -> int:
    """Poll ``sql`` (a count, over PG wire) until it reaches ``expected``; return the final count."""
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        count = int(pg_query(server, sql)[0][0])
        if count >= expected:
            break
        time.sleep(0.2)
    wait_all_wal(server)
    return int(pg_query(server, sql)[0][0])


# DEDUP UPSERT KEYS of the data tables (the collector's, but its own health): a row counted twice in
# count() but once here was duplicated.
DISTINCT = {
    name: ", ".join(spec.dedup_upsert_keys)
    for name, spec in SPECS.items()
    if spec.writer == "collector" and name != "collector_metrics"
}


def counts(server: QuestDBServer, host: str) -> dict[str, tuple[int, int]]:
    """Per table: (rows, distinct DEDUP keys) of this test's host."""
    result = {}
    for table, keys in DISTINCT.items():
        (total,) = pg_query(server, f"SELECT count() FROM {table} WHERE host = %s", (host,))[0]
        (distinct,) = pg_query(
            server, f"SELECT count() FROM (SELECT DISTINCT {keys} FROM {table} WHERE host = %s)", (host,)
        )[0]
        result[table] = (int(total), int(distinct))
    return result
