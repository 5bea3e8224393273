"""tradewatch.stack.questdb_materialized_view through ansible-playbook against the real QuestDB.

Same harness as the questdb_table tests (tests/integration/test_questdb_table.py: its Runner, run
with this module's name): each test uses its own base table and view names on the shared server,
and checks the outcome on the server with SQL. One test applies the role's ``_questdb_views`` to a
fresh server with the role's schema, twice.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration import test_questdb_table as harness
from tests.integration.test_questdb_table import Runner, query, unique, working_python39
from tests.support.questdb_server import QuestDBServer
from tests.support.schema import create_schema

MODULE = "tradewatch.stack.questdb_materialized_view"
ROLE_VIEWS: list[dict[str, Any]] = yaml.safe_load(
    (harness.REPO / "roles" / "questdb" / "vars" / "main.yml").read_text()
)["_questdb_views"]


@pytest.fixture
def ansible(questdb: QuestDBServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runner:
    monkeypatch.setattr(harness, "MODULE", MODULE)
    return Runner(questdb, tmp_path)


def base_table(server: QuestDBServer) -> str:
    name = unique("mv_base")
    server.exec(
        f'CREATE TABLE "{name}" (ts TIMESTAMP, host SYMBOL, value DOUBLE) TIMESTAMP(ts) PARTITION BY DAY WAL'
    )
    return name


def view_args(name: str, base: str, **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": name,
        "query": f"SELECT ts, host, sum(value) AS value, count() AS samples FROM {base} SAMPLE BY 1m",
        "partition_by": "DAY",
        "ttl": "90d",
    }
    args.update(overrides)
    return args


def view_row(server: QuestDBServer, name: str) -> dict[str, Any] | None:
    rows = query(server, f"SELECT * FROM materialized_views() WHERE view_name = '{name}'")
    return rows[0] if rows else None


def table_row(server: QuestDBServer, name: str) -> dict[str, Any]:
    return query(server, f"SELECT * FROM tables() WHERE table_name = '{name}'")[0]


def test_create_check_mode_then_real_then_unchanged(ansible: Runner, questdb: QuestDBServer) -> None:
    base, name = base_table(questdb), unique("mv")
    check, created, again = ansible.tasks(
        {**view_args(name, base), "_check": True}, view_args(name, base), view_args(name, base)
    )
    expected = (
        f'CREATE MATERIALIZED VIEW "{name}" REFRESH IMMEDIATE AS (SELECT ts, host, sum(value) AS value,'
        f" count() AS samples FROM {base} SAMPLE BY 1m) PARTITION BY DAY TTL 90 DAYS"
    )
    assert check["changed"] is True and check["queries"] == [expected]
    assert created["changed"] is True and created["queries"] == [expected], created
    assert created["state"]["status"] == "valid"
    assert created["state"]["base_table"] == base
    assert again["changed"] is False and again["queries"] == []
    row = table_row(questdb, name)
    assert (row["table_type"], row["partitionBy"], row["ttlValue"], row["ttlUnit"]) == ("M", "DAY", 90, "DAY")
    # the view materializes what lands in its base table
    rows = "('2025-01-01T00:00:10Z', 'h', 1.5), ('2025-01-01T00:00:20Z', 'h', 2.5)"
    questdb.exec(f'INSERT INTO "{base}" VALUES {rows}')
    questdb.wait_wal(base)
    deadline = time.monotonic() + 30
    while not query(questdb, f'SELECT * FROM "{name}"') and time.monotonic() < deadline:
        time.sleep(0.1)
    assert query(questdb, f'SELECT value, samples FROM "{name}"') == [{"value": 4.0, "samples": 2}]


def test_check_mode_creates_nothing(ansible: Runner, questdb: QuestDBServer) -> None:
    base, name = base_table(questdb), unique("mv")
    result = ansible.run(**view_args(name, base), _check=True)
    assert result["changed"] is True
    assert view_row(questdb, name) is None


def test_ttl_and_refresh_change_in_place(ansible: Runner, questdb: QuestDBServer) -> None:
    base, name = base_table(questdb), unique("mv")
    ansible.run(**view_args(name, base))
    ttl, same, refresh, timer, removed = ansible.tasks(
        view_args(name, base, ttl="30d"),
        view_args(name, base, ttl="30 DAYS"),
        view_args(name, base, ttl="30d", refresh="manual"),
        view_args(name, base, ttl="30d", refresh="timer", refresh_every="5m"),
        view_args(name, base, ttl=None, refresh="timer", refresh_every="5m"),
    )
    assert ttl["queries"] == [f'ALTER MATERIALIZED VIEW "{name}" SET TTL 30 DAYS']
    assert same["changed"] is False
    assert refresh["queries"] == [f'ALTER MATERIALIZED VIEW "{name}" SET REFRESH MANUAL']
    assert timer["queries"] == [f'ALTER MATERIALIZED VIEW "{name}" SET REFRESH EVERY 5m']
    assert timer["state"]["refresh"] == "timer" and timer["state"]["refresh_every"] == "5m"
    assert removed["queries"] == [f'ALTER MATERIALIZED VIEW "{name}" SET TTL 0 HOURS']
    row = view_row(questdb, name)
    assert row is not None and (row["refresh_type"], row["timer_interval"]) == ("timer", 5)
    assert table_row(questdb, name)["ttlValue"] == 0


def test_check_mode_diff_of_an_in_place_change(ansible: Runner, questdb: QuestDBServer) -> None:
    base, name = base_table(questdb), unique("mv")
    ansible.run(**view_args(name, base))
    check, refused = ansible.tasks(
        {**view_args(name, base, ttl="30d"), "_check": True, "_diff": True},
        {
            **view_args(name, base, query=f"SELECT ts, max(value) AS value FROM {base} SAMPLE BY 1m"),
            "_check": True,
        },
    )
    assert check["changed"] is True
    assert check["queries"] == [f'ALTER MATERIALIZED VIEW "{name}" SET TTL 30 DAYS']
    before, after = check["diff"]["before"], check["diff"]["after"]
    assert {key for key in before if before[key] != after.get(key)} == {"ttl"}
    assert (before["ttl"], after["ttl"]) == ("90d", "30d")
    assert refused["failed"] is True and "force" in refused["msg"]  # refused in check mode too
    assert (table_row(questdb, name)["ttlValue"], table_row(questdb, name)["ttlUnit"]) == (90, "DAY")


def test_query_change_is_refused_then_forced(ansible: Runner, questdb: QuestDBServer) -> None:
    base, name = base_table(questdb), unique("mv")
    other = view_args(name, base, query=f"SELECT ts, host, max(value) AS value FROM {base} SAMPLE BY 1m")
    _, refused, whitespace, forced = ansible.tasks(
        view_args(name, base),
        other,
        {**view_args(name, base), "query": view_args(name, base)["query"].replace(" ", "\n  ")},
        {**other, "force": True},
    )
    assert refused["failed"] is True
    assert "QuestDB cannot change a materialized view's query in place" in refused["msg"]
    assert "set force: true to drop and recreate the view" in refused["msg"]
    assert whitespace["changed"] is False  # the same query, laid out differently
    assert forced["queries"][0] == f'DROP MATERIALIZED VIEW "{name}"'
    assert forced["queries"][1].startswith(
        f'CREATE MATERIALIZED VIEW "{name}" REFRESH IMMEDIATE AS (SELECT ts, host, max'
    )
    assert any("rebuilt from its base table" in w for w in forced.get("warnings", []))
    row = view_row(questdb, name)
    assert row is not None and "max(value)" in row["view_sql"]


def test_diff_and_absent(ansible: Runner, questdb: QuestDBServer) -> None:
    base, name = base_table(questdb), unique("mv")
    created, dropped, again = ansible.tasks(
        {**view_args(name, base), "_diff": True},
        {"name": name, "state": "absent", "_diff": True},
        {"name": name, "state": "absent"},
    )
    assert created["diff"]["before"] == {"name": name, "exists": False}
    assert created["diff"]["after"]["ttl"] == "90d"
    assert dropped["queries"] == [f'DROP MATERIALIZED VIEW "{name}"']
    assert dropped["diff"]["after"] == {"name": name, "exists": False}
    assert again["changed"] is False
    assert view_row(questdb, name) is None


def test_refusals_and_errors(ansible: Runner, questdb: QuestDBServer) -> None:
    base, name = base_table(questdb), unique("mv")
    table, missing_base, bad_ttl, no_sample = ansible.tasks(
        view_args(base, base),  # the name of a table
        view_args(name, "no_such_table"),
        view_args(name, base, partition_by="MONTH", ttl="90d"),
        view_args(name, base, query=f"SELECT ts, value FROM {base}"),
    )
    assert table["failed"] and "is a table, not a materialized view" in table["msg"]
    assert missing_base["failed"] and "table does not exist" in missing_base["msg"]
    assert bad_ttl["failed"] and "not a whole multiple of the partition size (MONTH)" in bad_ttl["msg"]
    assert no_sample["failed"] and "QuestDB rejected" in no_sample["msg"]
    assert view_row(questdb, name) is None


def test_an_invalid_view_is_reported(ansible: Runner, questdb: QuestDBServer) -> None:
    base, name = base_table(questdb), unique("mv")
    ansible.run(**view_args(name, base))
    questdb.exec(f'DROP TABLE "{base}"')
    result = ansible.run(**view_args(name, base))
    assert result["changed"] is False
    assert result["state"]["status"] == "invalid"
    assert any("invalid on the server" in w for w in result.get("warnings", [])), result


def test_the_role_views_apply_and_are_idempotent(
    fresh_questdb: QuestDBServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "MODULE", MODULE)
    create_schema(fresh_questdb)
    runner = Runner(fresh_questdb, tmp_path)
    first = runner.tasks(*ROLE_VIEWS)
    second = runner.tasks(*ROLE_VIEWS)
    assert all(r["changed"] for r in first), [r.get("msg") for r in first]
    assert not any(r["changed"] for r in second), [r["queries"] for r in second]
    rows = {r["view_name"]: r for r in query(fresh_questdb, "SELECT * FROM materialized_views()")}
    assert set(rows) == {v["name"] for v in ROLE_VIEWS}
    assert all(r["view_status"] == "valid" for r in rows.values())


def test_runs_on_python39_target(ansible: Runner, questdb: QuestDBServer) -> None:
    python = working_python39()
    if python is None:
        pytest.skip("no Python 3.9 interpreter (set TRADEWATCH_PYTHON39)")
    base, name = base_table(questdb), unique("mv")
    result = ansible.run(python=python, **view_args(name, base))
    assert result["changed"] is True, result
