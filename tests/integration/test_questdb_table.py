"""tradewatch.stack.questdb_table through ansible-playbook against the real QuestDB of tests/support.

Each test uses its own table names (the server is shared by the whole run). Every task runs through
Ansible itself (ansible-playbook, connection local, JSON stdout callback) and the outcome is checked
on the server with SQL, as community.postgresql's integration targets do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.questdb_server import QuestDBServer, free_port
from tests.support.schema import schema

REPO = Path(__file__).resolve().parents[2]
MODULE = "tradewatch.stack.questdb_table"
# The role's tables as its task passes them to the module (`writer`, who writes the rows, is not a
# module option), and a TTL fit for each one's partitioning.
ROLE_SCHEMA: list[dict[str, Any]] = [{k: v for k, v in t.items() if k != "writer"} for t in schema()]
TTL_FOR = {"DAY": "90d", "MONTH": "12M"}
FORCE_HINT = "set force: true to drop and recreate the table (destroys its rows)"


def target_python() -> str:
    """The target's interpreter: the system python (the module must need nothing else)."""
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def working_python39() -> str | None:
    """A Python 3.9 to run the module with (the oldest target we support): $TRADEWATCH_PYTHON39,
    python3.9 on PATH, or a pyenv 3.9 install."""
    candidates = [os.environ.get("TRADEWATCH_PYTHON39"), shutil.which("python3.9")]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.9*/bin/python3.9"))
    for path in filter(None, candidates):
        if subprocess.run([path, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return path
    return None


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


class Runner:
    """Runs questdb_table tasks with ansible-playbook and returns each task's result dict."""

    def __init__(self, server: QuestDBServer, tmp_path: Path) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.last_stdout = ""

    def connection(self) -> dict[str, Any]:
        return {
            "url": self.server.http_url,
            "user": self.server.http_user,
            "password": self.server.http_password,
        }

    def tasks(self, *steps: dict[str, Any], python: str | None = None) -> list[dict[str, Any]]:
        """Each step: module args plus optional '_check' / '_diff' / '_raw' (no connection defaults)."""
        tasks = []
        for i, step in enumerate(steps):
            args = {k: v for k, v in step.items() if not k.startswith("_")}
            if not step.get("_raw"):
                args = {**self.connection(), **args}
            tasks.append(
                {
                    "name": f"step {i}",
                    MODULE: args,
                    "check_mode": bool(step.get("_check")),
                    "diff": bool(step.get("_diff")),
                    "ignore_errors": True,
                }
            )
        playbook = self.tmp_path / f"playbook-{uuid.uuid4().hex[:8]}.yml"
        playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": f"{REPO / 'collections'}:{REPO / '.ansible' / 'collections'}",
            "ANSIBLE_STDOUT_CALLBACK": "json",
            "ANSIBLE_LOCAL_TEMP": str(self.tmp_path / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1",
        }
        cmd = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={python or target_python()}",
            str(playbook),
        ]
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=300, check=False
        )
        self.last_stdout = proc.stdout + proc.stderr
        assert proc.returncode == 0, self.last_stdout
        tasks_out = json.loads(proc.stdout)["plays"][0]["tasks"]
        assert len(tasks_out) == len(steps), self.last_stdout
        results = [task["hosts"]["localhost"] for task in tasks_out]
        for result in results:
            # The module warns when the state it reads back after a change is not the one it predicted.
            assert not any("state read back differs" in w for w in result.get("warnings", [])), result
        return results

    def run(self, python: str | None = None, **step: Any) -> dict[str, Any]:
        return self.tasks(step, python=python)[0]


@pytest.fixture
def ansible(questdb: QuestDBServer, tmp_path: Path) -> Runner:
    return Runner(questdb, tmp_path)


# ------------------------------------------------------------------------------------------------
# Server-side checks
# ------------------------------------------------------------------------------------------------


def query(server: QuestDBServer, sql: str) -> list[dict[str, Any]]:
    answer = server.exec(sql)
    names = [col["name"] for col in answer.get("columns", [])]
    return [dict(zip(names, row, strict=True)) for row in answer.get("dataset", [])]


def table_row(server: QuestDBServer, name: str) -> dict[str, Any] | None:
    rows = query(server, f"SELECT * FROM tables() WHERE table_name = '{name}'")
    return rows[0] if rows else None


def columns(server: QuestDBServer, name: str) -> dict[str, dict[str, Any]]:
    return {row["column"]: row for row in query(server, f"SELECT * FROM table_columns('{name}')")}


def column_types(server: QuestDBServer, name: str) -> dict[str, str]:
    return {col: row["type"] for col, row in columns(server, name).items()}


def dedup_keys(server: QuestDBServer, name: str) -> list[str]:
    return [col for col, row in columns(server, name).items() if row["upsertKey"]]


def ttl(server: QuestDBServer, name: str) -> tuple[int, str]:
    row = table_row(server, name)
    assert row is not None
    return row["ttlValue"], row["ttlUnit"]


def metrics(name: str, **overrides: Any) -> dict[str, Any]:
    """The role's daemon_metrics spec under another name, with the TTL the role adds."""
    spec = {**next(t for t in ROLE_SCHEMA if t["name"] == "daemon_metrics"), "name": name, "ttl": "90d"}
    spec.update(overrides)
    return spec


def small(name: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "timestamp": "ts",
        "partition_by": "DAY",
        "wal": True,
        "columns": [{"name": "host", "type": "SYMBOL"}, {"name": "value", "type": "DOUBLE"}],
    }
    spec.update(overrides)
    return spec


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


def test_create_check_mode_then_real_then_unchanged(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("dm")
    check, created, again = ansible.tasks(
        {**metrics(name), "_check": True},
        metrics(name),
        metrics(name),
    )
    columns = ", ".join(f'"{c["name"]}" {c["type"]}' for c in metrics(name)["columns"])
    expected_create = (
        f'CREATE TABLE "{name}" ({columns}) TIMESTAMP("timestamp") PARTITION BY DAY TTL 90 DAYS WAL '
        'DEDUP UPSERT KEYS("timestamp", "host", "env")'
    )
    assert check["changed"] is True
    assert check["queries"] == [expected_create]
    assert check["state"]["exists"] is True
    assert created["changed"] is True, created
    assert created["queries"] == [expected_create]
    assert "warnings" not in created
    assert again["changed"] is False, again
    assert again["queries"] == []
    assert again["state"] == created["state"]

    row = table_row(questdb, name)
    assert row is not None
    assert (row["designatedTimestamp"], row["partitionBy"], row["walEnabled"], row["dedup"]) == (
        "timestamp",
        "DAY",
        True,
        True,
    )
    assert ttl(questdb, name) == (90, "DAY")
    assert dedup_keys(questdb, name) == ["timestamp", "host", "env"]
    assert column_types(questdb, name) == {c["name"]: c["type"] for c in metrics(name)["columns"]}
    assert created["state"]["ttl"] == "90d"


def test_check_mode_creates_nothing(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("chk")
    result = ansible.run(**small(name), _check=True)
    assert result["changed"] is True
    assert result["queries"][0].startswith(f'CREATE TABLE "{name}"')
    assert table_row(questdb, name) is None


def test_role_schema_is_idempotent(ansible: Runner, questdb: QuestDBServer) -> None:
    suffix = uuid.uuid4().hex[:6]
    specs = [{**t, "name": f"{t['name']}_{suffix}", "ttl": TTL_FOR[t["partition_by"]]} for t in ROLE_SCHEMA]
    first = ansible.tasks(*specs)
    second = ansible.tasks(*specs)
    assert [r["changed"] for r in first] == [True] * len(specs), first
    assert [r["changed"] for r in second] == [False] * len(specs), second
    for spec in specs:
        # DEDUP UPSERT KEYS are a set: QuestDB lists them in column order
        assert sorted(dedup_keys(questdb, spec["name"])) == sorted(spec["dedup_upsert_keys"])


def test_add_columns_and_warn_about_undeclared(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("addcol")
    ansible.run(**small(name))
    questdb.exec(f"ALTER TABLE {name} ADD COLUMN legacy INT")
    cols = [
        *small(name)["columns"],
        {"name": "rss", "type": "long"},
        {"name": "kind", "type": "SYMBOL", "cache": False, "index": True},
        {"name": "symbol", "type": "SYMBOL"},
    ]
    added, again = ansible.tasks(small(name, columns=cols), small(name, columns=cols))
    assert added["changed"] is True, added
    assert added["queries"] == [
        f'ALTER TABLE "{name}" ADD COLUMN "rss" LONG',
        f'ALTER TABLE "{name}" ADD COLUMN "kind" SYMBOL NOCACHE INDEX',
        f'ALTER TABLE "{name}" ADD COLUMN "symbol" SYMBOL',
    ]
    warning = f"{name}: column(s) legacy exist on the server but are not declared"
    assert any(warning in w for w in added["warnings"]), added
    assert again["changed"] is False, again
    server_cols = columns(questdb, name)
    assert server_cols["rss"]["type"] == "LONG"
    assert server_cols["kind"]["indexed"] is True
    assert server_cols["kind"]["symbolCached"] is False
    assert "legacy" in server_cols


def test_symbol_cache_and_index_in_place(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("sym")
    ansible.run(**small(name))
    cols = [
        {"name": "host", "type": "SYMBOL", "cache": False, "index": True},
        {"name": "value", "type": "DOUBLE"},
    ]
    changed, again = ansible.tasks(small(name, columns=cols), small(name, columns=cols))
    assert changed["queries"] == [
        f'ALTER TABLE "{name}" ALTER COLUMN "host" NOCACHE',
        f'ALTER TABLE "{name}" ALTER COLUMN "host" ADD INDEX',
    ]
    assert again["changed"] is False, again
    host = columns(questdb, name)["host"]
    assert (host["symbolCached"], host["indexed"]) == (False, True)
    cols[0] = {"name": "host", "type": "SYMBOL", "index": False}
    dropped = ansible.run(**small(name, columns=cols))
    assert dropped["queries"] == [f'ALTER TABLE "{name}" ALTER COLUMN "host" DROP INDEX']
    assert columns(questdb, name)["host"]["indexed"] is False


def test_ttl_change_normalise_and_remove(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("ttl")
    ansible.run(**small(name, ttl="90d"))
    assert ttl(questdb, name) == (90, "DAY")
    to_2w, same_14d, same_words, removed, removed_again = ansible.tasks(
        small(name, ttl="2w"),
        small(name, ttl="14d"),
        small(name, ttl="2 WEEKS"),
        small(name, ttl="0"),
        small(name),
    )
    assert to_2w["queries"] == [f'ALTER TABLE "{name}" SET TTL 2 WEEKS']
    assert to_2w["state"]["ttl"] == "2w"
    assert same_14d["changed"] is False, same_14d
    assert same_words["changed"] is False, same_words
    assert removed["queries"] == [f'ALTER TABLE "{name}" SET TTL 0 HOURS']
    assert removed["state"]["ttl"] is None
    assert removed_again["changed"] is False
    assert ttl(questdb, name)[0] == 0


def test_ttl_validation_errors(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("ttlbad")
    not_multiple, no_partition, ambiguous = ansible.tasks(
        small(name, ttl="12h"),
        small(name, partition_by="NONE", wal=False, ttl="1d"),
        small(name, ttl="30m"),
    )
    assert not_multiple["failed"] is True
    assert not_multiple["msg"] == f"{name}: TTL 12h is not a whole multiple of the partition size (DAY)"
    assert no_partition["msg"] == f"{name}: TTL 1d needs a partitioned table but partition_by is NONE"
    assert "ambiguous ttl '30m'" in ambiguous["msg"]
    assert table_row(questdb, name) is None


def test_ttl_removal_refused_on_month_partitions(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("ttlmonth")
    ansible.run(**small(name, partition_by="MONTH", ttl="3M"))
    refused = ansible.run(**small(name, partition_by="MONTH"))
    assert refused["failed"] is True
    assert refused["msg"] == (
        f"{name}: TTL 3M is set on the server but no TTL is declared; QuestDB cannot remove the TTL of a"
        f" MONTH-partitioned table (it rejects SET TTL 0); {FORCE_HINT}"
    )
    assert ttl(questdb, name) == (3, "MONTH")
    changed = ansible.run(**small(name, partition_by="MONTH", ttl="12M"))
    assert changed["queries"] == [f'ALTER TABLE "{name}" SET TTL 1 YEAR']
    assert ttl(questdb, name) == (1, "YEAR")


def test_dedup_enable_alter_disable(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("dedup")
    ansible.run(**small(name))
    assert table_row(questdb, name)["dedup"] is False  # type: ignore[index]
    enabled, same, altered, disabled, again = ansible.tasks(
        small(name, dedup_upsert_keys=["ts", "host"]),
        small(name, dedup_upsert_keys=["HOST", "ts"]),
        small(name, dedup_upsert_keys=["ts"]),
        small(name, dedup_upsert_keys=[]),
        small(name),
    )
    assert enabled["queries"] == [f'ALTER TABLE "{name}" DEDUP ENABLE UPSERT KEYS("ts", "host")']
    assert enabled["state"]["dedup_upsert_keys"] == ["ts", "host"]
    assert same["changed"] is False, same
    assert altered["queries"] == [f'ALTER TABLE "{name}" DEDUP ENABLE UPSERT KEYS("ts")']
    assert disabled["queries"] == [f'ALTER TABLE "{name}" DEDUP DISABLE']
    assert again["changed"] is False
    assert table_row(questdb, name)["dedup"] is False  # type: ignore[index]
    assert dedup_keys(questdb, name) == []


def test_dedup_validation_errors(ansible: Runner) -> None:
    name = unique("dedupbad")
    no_ts, unknown, no_wal = ansible.tasks(
        small(name, dedup_upsert_keys=["host"]),
        small(name, dedup_upsert_keys=["ts", "nope"]),
        small(name, wal=False, dedup_upsert_keys=["ts"]),
    )
    assert no_ts["msg"] == f"{name}: dedup_upsert_keys must include the designated timestamp (ts)"
    assert no_ts["queries"] == []
    assert unknown["msg"] == f"{name}: dedup key nope is not among the declared columns"
    assert no_wal["msg"] == f"{name}: dedup_upsert_keys need a WAL table (wal: true)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"columns": [{"name": "host", "type": "SYMBOL"}, {"name": "value", "type": "LONG"}]},
            "column value is DOUBLE on the server but LONG is declared;"
            " QuestDB cannot change a column type in place",
        ),
        (
            {"partition_by": "HOUR"},
            "partition_by is DAY on the server but HOUR is declared;"
            " QuestDB cannot change a table's partitioning",
        ),
        (
            {"timestamp": "ts2"},
            "the designated timestamp is ts on the server but ts2 is declared;"
            " QuestDB cannot change a table's designated timestamp",
        ),
        (
            {"wal": False},
            "wal is true on the server but false is declared;"
            " QuestDB converts between WAL and non-WAL tables only at a server restart"
            " (ALTER TABLE SET TYPE)",
        ),
    ],
    ids=["type", "partition", "timestamp", "wal"],
)
def test_refuses_destructive_changes(
    ansible: Runner, questdb: QuestDBServer, change: dict[str, Any], message: str
) -> None:
    name = unique("refuse")
    ansible.run(**small(name))
    before = (table_row(questdb, name), columns(questdb, name))
    refused = ansible.run(**small(name, **change))
    assert refused["failed"] is True
    assert refused["changed"] is False
    assert refused["msg"] == f"{name}: {message}; {FORCE_HINT}"
    assert (table_row(questdb, name), columns(questdb, name)) == before


def test_force_recreates_and_destroys_rows(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("force")
    ansible.run(**small(name))
    questdb.exec(f"INSERT INTO {name} (ts, host, value) VALUES (now(), 'h1', 1.5)")
    questdb.exec(f"ALTER TABLE {name} ADD COLUMN legacy INT")
    questdb.wait_wal(name)
    assert questdb.rows(f"SELECT count() FROM {name}") == [[1]]
    declared = small(
        name,
        partition_by="HOUR",
        columns=[{"name": "host", "type": "SYMBOL"}, {"name": "value", "type": "LONG"}],
        force=True,
    )
    check, forced, again = ansible.tasks({**declared, "_check": True}, declared, declared)
    expected = [
        f'DROP TABLE "{name}"',
        f'CREATE TABLE "{name}" ("ts" TIMESTAMP, "host" SYMBOL, "value" LONG)'
        ' TIMESTAMP("ts") PARTITION BY HOUR WAL',
    ]
    assert check["queries"] == expected
    assert forced["changed"] is True, forced
    assert forced["queries"] == expected
    assert any("all its rows are deleted" in w for w in forced["warnings"])
    assert again["changed"] is False
    assert questdb.rows(f"SELECT count() FROM {name}") == [[0]]
    assert column_types(questdb, name) == {"ts": "TIMESTAMP", "host": "SYMBOL", "value": "LONG"}
    assert table_row(questdb, name)["partitionBy"] == "HOUR"  # type: ignore[index]


def test_check_mode_changes_nothing_on_existing_table(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("chk2")
    ansible.run(**small(name, ttl="90d"))
    before = (table_row(questdb, name), columns(questdb, name))
    declared = small(
        name,
        ttl="1w",
        dedup_upsert_keys=["ts", "host"],
        columns=[*small(name)["columns"], {"name": "extra", "type": "VARCHAR"}],
    )
    check, forced_check, absent_check = ansible.tasks(
        {**declared, "_check": True, "_diff": True},
        {**small(name, partition_by="HOUR", force=True), "_check": True},
        {"name": name, "state": "absent", "_check": True},
    )
    assert check["changed"] is True
    assert check["queries"] == [
        f'ALTER TABLE "{name}" ADD COLUMN "extra" VARCHAR',
        f'ALTER TABLE "{name}" SET TTL 1 WEEK',
        f'ALTER TABLE "{name}" DEDUP ENABLE UPSERT KEYS("ts", "host")',
    ]
    assert check["state"]["ttl"] == "1w"
    assert check["diff"]["before"]["ttl"] == "90d"
    assert check["diff"]["after"]["ttl"] == "1w"
    assert forced_check["queries"][0] == f'DROP TABLE "{name}"'
    assert absent_check["changed"] is True
    assert absent_check["queries"] == [f'DROP TABLE "{name}"']
    assert (table_row(questdb, name), columns(questdb, name)) == before


def test_diff_output(ansible: Runner) -> None:
    name = unique("diff")
    created, changed, unchanged = ansible.tasks(
        {**small(name), "_diff": True},
        {**small(name, ttl="2d", dedup_upsert_keys=["ts", "host"]), "_diff": True},
        {**small(name, ttl="48h", dedup_upsert_keys=["ts", "host"]), "_diff": True},
    )
    assert created["diff"]["before"] == {"name": name, "exists": False}
    assert created["diff"]["after"]["columns"] == [
        {"name": "ts", "type": "TIMESTAMP"},
        {"name": "host", "type": "SYMBOL", "cache": True, "index": False},
        {"name": "value", "type": "DOUBLE"},
    ]
    before, after = changed["diff"]["before"], changed["diff"]["after"]
    assert (before["ttl"], after["ttl"]) == (None, "2d")
    assert (before["dedup_upsert_keys"], after["dedup_upsert_keys"]) == ([], ["ts", "host"])
    assert {k: v for k, v in before.items() if k not in ("ttl", "dedup_upsert_keys")} == {
        k: v for k, v in after.items() if k not in ("ttl", "dedup_upsert_keys")
    }
    assert unchanged["changed"] is False
    assert unchanged["diff"]["before"] == unchanged["diff"]["after"]


def test_absent(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("gone")
    ansible.run(**small(name))
    dropped, again = ansible.tasks(
        {"name": name, "state": "absent", "_diff": True}, {"name": name, "state": "absent"}
    )
    assert dropped["changed"] is True
    assert dropped["queries"] == [f'DROP TABLE "{name}"']
    assert dropped["state"] == {"name": name, "exists": False}
    assert dropped["diff"]["before"]["exists"] is True
    assert again["changed"] is False
    assert again["queries"] == []
    assert table_row(questdb, name) is None


def test_names_are_case_insensitive(ansible: Runner, questdb: QuestDBServer) -> None:
    name = unique("Mixed")
    ansible.run(**small(name))
    upper = ansible.run(
        **small(
            name.upper(), columns=[{"name": "HOST", "type": "symbol"}, {"name": "Value", "type": "double"}]
        )
    )
    assert upper["changed"] is False, upper
    assert table_row(questdb, name) is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"name": "bad-name"}, "invalid table name 'bad-name'"),
        ({"name": "x; DROP TABLE y"}, "invalid table name 'x; DROP TABLE y'"),
        (
            {"columns": [{"name": "a'b", "type": "LONG"}]},
            'invalid {name}: column name "a\'b"',
        ),
        ({"columns": [{"name": "n", "type": "BOOL"}]}, "{name}: column n: unknown column type 'BOOL'"),
        (
            {"columns": [{"name": "n", "type": "DECIMAL(10)"}]},
            "write DECIMAL(precision,scale) with an explicit scale",
        ),
        (
            {"columns": [{"name": "ts", "type": "DATE"}]},
            "{name}: the designated timestamp ts must be a TIMESTAMP column",
        ),
        ({"partition_by": "DECADE"}, "value of partition_by must be one of"),
    ],
    ids=["dash", "injection", "column-quote", "type", "decimal", "timestamp-type", "partition-choice"],
)
def test_bad_arguments(ansible: Runner, questdb: QuestDBServer, args: dict[str, Any], message: str) -> None:
    name = unique("bad")
    result = ansible.run(**{**small(name), **args})
    assert result["failed"] is True
    assert message.format(name=name) in result["msg"]
    assert table_row(questdb, name) is None


def test_refuses_a_materialized_view(ansible: Runner, questdb: QuestDBServer) -> None:
    base, view = unique("mvbase"), unique("mv")
    ansible.run(**small(base))
    questdb.exec(f"CREATE MATERIALIZED VIEW {view} AS (SELECT ts, avg(value) v FROM {base} SAMPLE BY 1h)")
    result = ansible.run(**small(view))
    assert result["msg"] == f"{view}: {view} is a materialized view, not a table; this module manages tables"


def test_unreachable_server(ansible: Runner) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = ansible.run(**small(unique("unreach")), url=url, timeout=5)
    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot reach QuestDB at {url}: ")


def test_wrong_password_and_no_credentials(ansible: Runner, questdb: QuestDBServer) -> None:
    secret = "not-the-password-" + uuid.uuid4().hex
    name = unique("auth")
    wrong, missing = ansible.tasks(
        {**small(name), "password": secret},
        {**small(name), "_raw": True, "url": questdb.http_url},
    )
    assert wrong["failed"] is True
    assert wrong["msg"] == (
        f"QuestDB at {questdb.http_url} rejected the credentials of user '{questdb.http_user}' (HTTP 401):"
        " check user and password"
    )
    assert secret not in ansible.last_stdout
    assert (
        missing["msg"]
        == f"QuestDB at {questdb.http_url} requires authentication (HTTP 401): set user and password"
    )
    assert table_row(questdb, name) is None


def test_runs_on_python39_target(ansible: Runner, questdb: QuestDBServer) -> None:
    python = working_python39()
    if python is None:
        pytest.skip("no working python3.9 on this machine")
    name = unique("py39")
    created = ansible.run(python=python, **small(name, ttl="1w", dedup_upsert_keys=["ts", "host"]))
    assert created["changed"] is True, created
    assert (
        ansible.run(python=python, **small(name, ttl="7d", dedup_upsert_keys=["ts", "host"]))["changed"]
        is False
    )
    assert ttl(questdb, name) == (1, "WEEK")
