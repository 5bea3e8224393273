"""questdb_table: SQL generation and the plan (diff) between server and declared state."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_plan import (
    add_column_sql,
    alter_symbol_sql,
    create_table_sql,
    dedup_sql,
    drop_table_sql,
    plan_changes,
    predicted_state,
    set_ttl_sql,
)
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_schema import (
    Column,
    Table,
    build_spec,
    comparable,
)
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import Ttl, parse_ttl

T = '"daemon_metrics"'


def spec(**overrides: Any) -> Table:
    base: dict[str, Any] = {
        "name": "daemon_metrics",
        "timestamp": "timestamp",
        "partition_by": "DAY",
        "wal": True,
        "dedup_upsert_keys": ["timestamp", "host", "env"],
        "ttl": "90d",
        "columns": [
            {"name": "host", "type": "SYMBOL"},
            {"name": "env", "type": "SYMBOL"},
            {"name": "fetch_count", "type": "LONG"},
        ],
    }
    base.update(overrides)
    return build_spec(base)


def server(**overrides: Any) -> Table:
    """The server state that spec() creates (as read back from QuestDB)."""
    declared = spec()
    columns = [
        Column(c.name, c.type, cache=True, index=False) if c.type == "SYMBOL" else Column(c.name, c.type)
        for c in declared.columns
    ]
    fields: dict[str, Any] = {
        "name": "daemon_metrics",
        "columns": columns,
        "timestamp": "timestamp",
        "partition_by": "DAY",
        "wal": True,
        "dedup_upsert_keys": ["timestamp", "host", "env"],
        "ttl": Ttl(90, "DAY"),
    }
    fields.update(overrides)
    return Table(**fields)


# ------------------------------------------------------------------------------------------------
# SQL builders
# ------------------------------------------------------------------------------------------------


def test_create_table_clause_order() -> None:
    assert create_table_sql(spec()) == (
        'CREATE TABLE "daemon_metrics" ("timestamp" TIMESTAMP, "host" SYMBOL, "env" SYMBOL, '
        '"fetch_count" LONG) TIMESTAMP("timestamp") PARTITION BY DAY TTL 90 DAYS WAL '
        'DEDUP UPSERT KEYS("timestamp", "host", "env")'
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"ttl": None, "dedup_upsert_keys": []},
            'CREATE TABLE "t" ("ts" TIMESTAMP, "v" DOUBLE) TIMESTAMP("ts") PARTITION BY DAY WAL',
        ),
        (
            {"wal": False, "dedup_upsert_keys": [], "partition_by": "HOUR", "ttl": "36h"},
            'CREATE TABLE "t" ("ts" TIMESTAMP, "v" DOUBLE) TIMESTAMP("ts") PARTITION BY HOUR TTL 36 HOURS'
            " BYPASS WAL",
        ),
        (
            {"partition_by": "NONE", "wal": None, "dedup_upsert_keys": [], "ttl": None},
            'CREATE TABLE "t" ("ts" TIMESTAMP, "v" DOUBLE) TIMESTAMP("ts") PARTITION BY NONE BYPASS WAL',
        ),
        (
            {"timestamp": None, "partition_by": None, "wal": None, "dedup_upsert_keys": [], "ttl": None},
            'CREATE TABLE "t" ("v" DOUBLE)',
        ),
        (
            {"ttl": "14d", "dedup_upsert_keys": ["ts"]},
            'CREATE TABLE "t" ("ts" TIMESTAMP, "v" DOUBLE) TIMESTAMP("ts") PARTITION BY DAY TTL 2 WEEKS WAL'
            ' DEDUP UPSERT KEYS("ts")',
        ),
    ],
)
def test_create_table_variants(overrides: dict[str, Any], expected: str) -> None:
    params: dict[str, Any] = {"name": "t", "timestamp": "ts", "columns": [{"name": "v", "type": "double"}]}
    params.update(overrides)
    assert create_table_sql(build_spec(params)) == expected


@pytest.mark.parametrize(
    ("column", "definition"),
    [
        (Column("host", "SYMBOL"), '"host" SYMBOL'),
        (Column("host", "SYMBOL", 1000, False, True), '"host" SYMBOL CAPACITY 1000 NOCACHE INDEX'),
        (Column("host", "SYMBOL", None, True, False), '"host" SYMBOL CACHE'),
        (Column("symbol", "SYMBOL"), '"symbol" SYMBOL'),
        (Column("g", "GEOHASH(5c)"), '"g" GEOHASH(5c)'),
        (Column("d", "DECIMAL(18,3)"), '"d" DECIMAL(18,3)'),
        (Column("a", "DOUBLE[][]"), '"a" DOUBLE[][]'),
    ],
)
def test_column_definition(column: Column, definition: str) -> None:
    assert column.definition() == definition
    assert add_column_sql("daemon_metrics", column) == f"ALTER TABLE {T} ADD COLUMN {definition}"


@pytest.mark.parametrize(
    ("ttl", "sql"),
    [
        (Ttl(90, "DAY"), f"ALTER TABLE {T} SET TTL 90 DAYS"),
        (parse_ttl("14d"), f"ALTER TABLE {T} SET TTL 2 WEEKS"),
        (None, f"ALTER TABLE {T} SET TTL 0 HOURS"),
    ],
)
def test_set_ttl_sql(ttl: Ttl | None, sql: str) -> None:
    assert set_ttl_sql("daemon_metrics", ttl) == sql


def test_other_sql_builders() -> None:
    assert dedup_sql("daemon_metrics", []) == f"ALTER TABLE {T} DEDUP DISABLE"
    assert dedup_sql("daemon_metrics", ["timestamp", "host"]) == (
        f'ALTER TABLE {T} DEDUP ENABLE UPSERT KEYS("timestamp", "host")'
    )
    assert drop_table_sql("daemon_metrics") == f"DROP TABLE {T}"
    assert (
        alter_symbol_sql("daemon_metrics", "host", cache=False)
        == f'ALTER TABLE {T} ALTER COLUMN "host" NOCACHE'
    )
    assert (
        alter_symbol_sql("daemon_metrics", "host", cache=True) == f'ALTER TABLE {T} ALTER COLUMN "host" CACHE'
    )
    assert (
        alter_symbol_sql("daemon_metrics", "host", index=True)
        == f'ALTER TABLE {T} ALTER COLUMN "host" ADD INDEX'
    )
    assert alter_symbol_sql("daemon_metrics", "host", index=False) == (
        f'ALTER TABLE {T} ALTER COLUMN "host" DROP INDEX'
    )


# ------------------------------------------------------------------------------------------------
# Plans
# ------------------------------------------------------------------------------------------------


def test_plan_create_when_missing() -> None:
    plan = plan_changes(spec(), None)
    assert plan.queries == [create_table_sql(spec())]
    assert not plan.refusals


def test_plan_nothing_to_do() -> None:
    plan = plan_changes(spec(), server())
    assert plan.queries == []
    assert plan.refusals == []
    assert plan.warnings == []


@pytest.mark.parametrize(
    ("overrides", "queries"),
    [
        (
            {"columns": [{"name": "host", "type": "SYMBOL"}, {"name": "env", "type": "SYMBOL"},
                         {"name": "fetch_count", "type": "LONG"}, {"name": "rss", "type": "LONG"},
                         {"name": "kind", "type": "symbol", "cache": False, "index": True}]},
            [f'ALTER TABLE {T} ADD COLUMN "rss" LONG',
             f'ALTER TABLE {T} ADD COLUMN "kind" SYMBOL NOCACHE INDEX'],
        ),
        ({"ttl": "2w"}, [f"ALTER TABLE {T} SET TTL 2 WEEKS"]),
        ({"ttl": "0"}, [f"ALTER TABLE {T} SET TTL 0 HOURS"]),
        ({"ttl": None}, [f"ALTER TABLE {T} SET TTL 0 HOURS"]),
        ({"ttl": "90 DAYS"}, []),
        ({"dedup_upsert_keys": []}, [f"ALTER TABLE {T} DEDUP DISABLE"]),
        (
            {"dedup_upsert_keys": ["timestamp", "host"]},
            [f'ALTER TABLE {T} DEDUP ENABLE UPSERT KEYS("timestamp", "host")'],
        ),
        ({"dedup_upsert_keys": ["env", "HOST", "timestamp"]}, []),
        (
            {"columns": [{"name": "host", "type": "SYMBOL", "cache": False, "index": True},
                         {"name": "env", "type": "SYMBOL", "cache": True, "index": False},
                         {"name": "fetch_count", "type": "LONG"}]},
            [f'ALTER TABLE {T} ALTER COLUMN "host" NOCACHE',
             f'ALTER TABLE {T} ALTER COLUMN "host" ADD INDEX'],
        ),
        (
            {"columns": [{"name": "HOST", "type": "SYMBOL", "capacity": 4096},
                         {"name": "env", "type": "SYMBOL"}, {"name": "fetch_count", "type": "bigint"}]},
            [],
        ),
    ],
)  # fmt: skip
def test_plan_in_place(overrides: dict[str, Any], queries: list[str]) -> None:
    plan = plan_changes(spec(**overrides), server())
    assert plan.refusals == []
    assert plan.queries == queries
    assert not plan.recreate


def test_plan_orders_columns_then_ttl_then_dedup() -> None:
    declared = spec(
        ttl="1w",
        dedup_upsert_keys=["timestamp", "host", "env", "exchange"],
        columns=[{"name": "host", "type": "SYMBOL"}, {"name": "env", "type": "SYMBOL"},
                 {"name": "fetch_count", "type": "LONG"}, {"name": "exchange", "type": "SYMBOL"}],
    )  # fmt: skip
    assert plan_changes(declared, server()).queries == [
        f'ALTER TABLE {T} ADD COLUMN "exchange" SYMBOL',
        f"ALTER TABLE {T} SET TTL 1 WEEK",
        f'ALTER TABLE {T} DEDUP ENABLE UPSERT KEYS("timestamp", "host", "env", "exchange")',
    ]


def test_plan_warns_about_undeclared_columns() -> None:
    current = server(columns=[*server().columns, Column("legacy", "INT"), Column("old", "VARCHAR")])
    plan = plan_changes(spec(), current)
    assert plan.queries == []
    assert plan.warnings == [
        "daemon_metrics: column(s) legacy, old exist on the server but are not declared;"
        " they are left in place (this module never drops columns)"
    ]


@pytest.mark.parametrize(
    ("declared", "current", "message"),
    [
        (
            {"columns": [{"name": "fetch_count", "type": "LONG"}], "dedup_upsert_keys": []},
            {
                "columns": [Column("timestamp", "TIMESTAMP"), Column("fetch_count", "INT")],
                "dedup_upsert_keys": [],
            },
            "daemon_metrics: column fetch_count is INT on the server but LONG is declared;"
            " QuestDB cannot change a column type in place;"
            " set force: true to drop and recreate the table (destroys its rows)",
        ),
        (
            {},
            {"partition_by": "HOUR"},
            "daemon_metrics: partition_by is HOUR on the server but DAY is declared;"
            " QuestDB cannot change a table's partitioning; set force: true",
        ),
        (
            {},
            {"timestamp": "ts"},
            "daemon_metrics: the designated timestamp is ts on the server but timestamp is declared;"
            " QuestDB cannot change a table's designated timestamp",
        ),
        (
            {"wal": False, "dedup_upsert_keys": []},
            {"dedup_upsert_keys": []},
            "daemon_metrics: wal is true on the server but false is declared;"
            " QuestDB converts between WAL and non-WAL tables only at a server restart",
        ),
        (
            {"partition_by": "MONTH", "ttl": None},
            {"partition_by": "MONTH", "ttl": Ttl(3, "MONTH")},
            "daemon_metrics: TTL 3M is set on the server but no TTL is declared; QuestDB cannot remove"
            " the TTL of a MONTH-partitioned table",
        ),
    ],
)
def test_plan_refusals(declared: dict[str, Any], current: dict[str, Any], message: str) -> None:
    plan = plan_changes(spec(**declared), server(**current))
    assert plan.refusals
    assert plan.queries == []
    assert plan.refusal_message("daemon_metrics").startswith(message)


def test_plan_refusals_are_all_listed() -> None:
    plan = plan_changes(spec(partition_by="HOUR", ttl=None), server(timestamp="ts"))
    assert len(plan.refusals) == 2
    assert "designated timestamp" in plan.refusals[0]
    assert "partition_by" in plan.refusals[1]


def test_plan_force_recreates() -> None:
    declared = spec(partition_by="HOUR", ttl="12h")
    plan = plan_changes(declared, server(columns=[*server().columns, Column("legacy", "INT")]), force=True)
    assert plan.recreate
    assert plan.queries == [f"DROP TABLE {T}", create_table_sql(declared)]
    assert "all its rows are deleted" in plan.warnings[0]


def test_plan_changing_ttl_on_month_table_is_in_place() -> None:
    declared = spec(partition_by="MONTH", ttl="1y")
    plan = plan_changes(declared, server(partition_by="MONTH", ttl=Ttl(3, "MONTH")))
    assert plan.queries == [f"ALTER TABLE {T} SET TTL 1 YEAR"]


# ------------------------------------------------------------------------------------------------
# Predicted state (check mode and diff 'after')
# ------------------------------------------------------------------------------------------------


def test_predicted_state_of_a_new_table() -> None:
    declared = spec(columns=[{"name": "host", "type": "SYMBOL", "index": True},
                             {"name": "env", "type": "SYMBOL"},
                             {"name": "fetch_count", "type": "LONG"}])  # fmt: skip
    after = predicted_state(declared, None, plan_changes(declared, None)).as_dict()
    assert after["columns"] == [
        {"name": "timestamp", "type": "TIMESTAMP"},
        {"name": "host", "type": "SYMBOL", "cache": True, "index": True},
        {"name": "env", "type": "SYMBOL", "cache": True, "index": False},
        {"name": "fetch_count", "type": "LONG"},
    ]
    assert after["ttl"] == "90d"
    assert after["exists"] is True


def test_predicted_state_keeps_undeclared_columns_and_applies_changes() -> None:
    current = server(columns=[*server().columns, Column("legacy", "INT")])
    declared = spec(
        ttl="14d",
        columns=[{"name": "host", "type": "SYMBOL", "cache": False}, {"name": "env", "type": "SYMBOL"},
                 {"name": "fetch_count", "type": "LONG"}, {"name": "new", "type": "VARCHAR"}],
    )  # fmt: skip
    after = predicted_state(declared, current, plan_changes(declared, current)).as_dict()
    assert [c["name"] for c in after["columns"]] == [
        "timestamp",
        "host",
        "env",
        "fetch_count",
        "legacy",
        "new",
    ]
    assert after["columns"][1] == {"name": "host", "type": "SYMBOL", "cache": False, "index": False}
    assert after["ttl"] == "2w"


def test_predicted_state_equals_server_state_when_nothing_changes() -> None:
    assert comparable(
        predicted_state(spec(), server(), plan_changes(spec(), server())).as_dict()
    ) == comparable(server().as_dict())
