"""questdb_table: validation of the declared table and reading of the server state."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_schema import (
    Table,
    absent_state,
    build_spec,
    comparable,
    from_server,
)
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import SchemaError, Ttl

from tests.support.schema import schema


def params(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "daemon_metrics",
        "timestamp": "timestamp",
        "partition_by": "DAY",
        "wal": True,
        "dedup_upsert_keys": ["timestamp", "host"],
        "ttl": "90d",
        "columns": [{"name": "host", "type": "SYMBOL"}, {"name": "fetch_count", "type": "LONG"}],
    }
    base.update(overrides)
    return base


def test_build_spec_adds_the_timestamp_column() -> None:
    spec = build_spec(params())
    assert [(c.name, c.type) for c in spec.columns] == [
        ("timestamp", "TIMESTAMP"),
        ("host", "SYMBOL"),
        ("fetch_count", "LONG"),
    ]
    assert spec.timestamp == "timestamp"
    assert spec.partition_by == "DAY"
    assert spec.wal is True
    assert spec.dedup_upsert_keys == ["timestamp", "host"]
    assert spec.ttl == Ttl(90, "DAY")


def test_build_spec_keeps_declared_timestamp_position_and_case() -> None:
    spec = build_spec(
        params(
            timestamp="TS",
            dedup_upsert_keys=["ts"],
            columns=[{"name": "v", "type": "double"}, {"name": "ts", "type": "timestamp"}],
        )
    )
    assert [c.name for c in spec.columns] == ["v", "ts"]
    assert spec.timestamp == "ts"
    assert spec.dedup_upsert_keys == ["ts"]


@pytest.mark.parametrize(
    ("overrides", "partition_by", "wal"),
    [
        ({"partition_by": None, "wal": None}, "DAY", True),
        ({"partition_by": "hour", "wal": None}, "HOUR", True),
        ({"partition_by": "MONTH", "wal": False, "dedup_upsert_keys": [], "ttl": None}, "MONTH", False),
        (
            {"timestamp": None, "partition_by": None, "wal": None, "dedup_upsert_keys": [], "ttl": None},
            "NONE",
            False,
        ),
        ({"partition_by": "NONE", "wal": None, "dedup_upsert_keys": [], "ttl": None}, "NONE", False),
    ],
)
def test_build_spec_defaults(overrides: dict[str, Any], partition_by: str, wal: bool) -> None:
    spec = build_spec(params(**overrides))
    assert (spec.partition_by, spec.wal) == (partition_by, wal)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "bad-name"}, "invalid table name 'bad-name'"),
        ({"name": "x; DROP TABLE y"}, "invalid table name"),
        ({"timestamp": "t s"}, "invalid daemon_metrics: timestamp column name"),
        ({"columns": [{"name": "h'x", "type": "LONG"}]}, "invalid daemon_metrics: column name"),
        (
            {"columns": [{"name": "host", "type": "BOOL"}]},
            "daemon_metrics: column host: unknown column type 'BOOL'",
        ),
        (
            {"columns": [{"name": "a", "type": "LONG"}, {"name": "A", "type": "INT"}]},
            "column A is declared twice",
        ),
        ({"columns": ["host"]}, "each column must be a dict"),
        ({"columns": [{"name": "timestamp", "type": "DATE"}]}, "must be a TIMESTAMP column, not DATE"),
        ({"columns": [{"name": "n", "type": "LONG", "index": True}]}, "apply to SYMBOL columns only"),
        ({"columns": [{"name": "n", "type": "LONG", "cache": False}]}, "apply to SYMBOL columns only"),
        (
            {"columns": [{"name": "s", "type": "SYMBOL", "capacity": 0}]},
            "capacity must be a positive integer",
        ),
        ({"timestamp": None, "columns": [], "dedup_upsert_keys": [], "ttl": None}, "at least one column"),
        ({"partition_by": "DECADE"}, "partition_by must be one of"),
        ({"timestamp": None, "dedup_upsert_keys": [], "ttl": None}, "needs a designated timestamp"),
        ({"partition_by": "NONE", "wal": True, "dedup_upsert_keys": [], "ttl": None}, "a WAL table must be"),
        ({"wal": False}, "dedup_upsert_keys need a WAL table"),
        ({"dedup_upsert_keys": ["timestamp", "nope"]}, "dedup key nope is not among the declared columns"),
        ({"dedup_upsert_keys": ["host"]}, "must include the designated timestamp"),
        ({"dedup_upsert_keys": ["timestamp", "host", "HOST"]}, "listed twice"),
        (
            {"dedup_upsert_keys": ["timestamp", "a"], "columns": [{"name": "a", "type": "DOUBLE[]"}]},
            "array column",
        ),
        ({"ttl": "12h"}, "daemon_metrics: TTL 12h is not a whole multiple of the partition size \\(DAY\\)"),
        ({"ttl": "1d", "partition_by": "NONE", "wal": False, "dedup_upsert_keys": []}, "needs a partitioned"),
        ({"ttl": "90 parsecs"}, "daemon_metrics: invalid ttl unit"),
        ({"ttl": "30m"}, "ambiguous"),
    ],
)
def test_build_spec_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        build_spec(params(**overrides))


def test_project_schema_is_valid() -> None:
    """Every table the questdb role declares passes validation (with a TTL fit for its partitioning)."""
    tables = schema()
    assert tables
    for table in tables:
        spec = build_spec({**table, "ttl": {"DAY": "90d", "MONTH": "12M"}[table["partition_by"]]})
        assert spec.timestamp == "timestamp"
        assert spec.dedup_upsert_keys == table["dedup_upsert_keys"]


TABLES_ROW = {
    "table_name": "daemon_metrics",
    "designatedTimestamp": "timestamp",
    "partitionBy": "DAY",
    "walEnabled": True,
    "dedup": True,
    "ttlValue": 2,
    "ttlUnit": "WEEK",
    "table_suspended": False,
}
COLUMN_ROWS = [
    {"column": "timestamp", "type": "TIMESTAMP", "indexed": False, "symbolCached": False,
     "symbolCapacity": 0, "designated": True, "upsertKey": True},
    {"column": "host", "type": "SYMBOL", "indexed": True, "symbolCached": False,
     "symbolCapacity": 1024, "designated": False, "upsertKey": True},
    {"column": "ip", "type": "IPv4", "indexed": False, "symbolCached": False,
     "symbolCapacity": 0, "designated": False, "upsertKey": False},
]  # fmt: skip


def test_from_server() -> None:
    table = from_server(TABLES_ROW, COLUMN_ROWS)
    assert table.as_dict() == {
        "name": "daemon_metrics",
        "exists": True,
        "columns": [
            {"name": "timestamp", "type": "TIMESTAMP"},
            {"name": "host", "type": "SYMBOL", "cache": False, "index": True},
            {"name": "ip", "type": "IPV4"},
        ],
        "timestamp": "timestamp",
        "partition_by": "DAY",
        "wal": True,
        "dedup_upsert_keys": ["timestamp", "host"],
        "ttl": "2w",
    }


def test_from_server_dedup_disabled_and_no_ttl() -> None:
    row = {**TABLES_ROW, "dedup": False, "ttlValue": 0, "ttlUnit": "HOUR", "designatedTimestamp": None}
    table = from_server(row, COLUMN_ROWS)
    assert table.dedup_upsert_keys == []
    assert table.ttl is None
    assert table.timestamp is None


def test_comparable_ignores_case_and_key_order() -> None:
    a = from_server(TABLES_ROW, COLUMN_ROWS).as_dict()
    b = from_server({**TABLES_ROW, "table_name": "DAEMON_METRICS"}, list(reversed(COLUMN_ROWS))).as_dict()
    b["dedup_upsert_keys"] = ["HOST", "timestamp"]
    assert comparable(a) == comparable(b)
    assert comparable(absent_state("x")) == {"exists": False}
    assert comparable(a) != comparable({**a, "ttl": "90d"})


def test_table_column_lookup_is_case_insensitive() -> None:
    table: Table = from_server(TABLES_ROW, COLUMN_ROWS)
    found = table.column("HOST")
    assert found is not None
    assert found.name == "host"
    assert table.column("nope") is None
