"""The monitoring schema (roles/questdb/files/schema.yml, from the collector's models) on a test server.

The SQL comes from the questdb_table and questdb_materialized_view modules' own builders, so tests
and the bench get exactly the tables and rollup views a deploy creates.
"""

from __future__ import annotations

import importlib.util
import time
from types import ModuleType
from typing import Any

import yaml
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_plan import create_table_sql
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_schema import build_spec
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_view import (
    build_view_spec,
    create_view_sql,
)

from tests.support.paths import REPO
from tests.support.questdb_server import QuestDBServer


def _role_vars() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "roles" / "questdb" / "vars" / "main.yml").read_text()))


def schema() -> list[dict[str, Any]]:
    """The tables the questdb role creates: its files/schema.yml, generated from the collector's models."""
    return list(yaml.safe_load((REPO / "roles" / "questdb" / "files" / "schema.yml").read_text()))


def views() -> list[dict[str, Any]]:
    """The rollup views of the role (``_questdb_views``), in the order the role creates them."""
    return list(_role_vars().get("_questdb_views") or [])


def parquet_job() -> ModuleType:
    """The questdb role's nightly Parquet conversion (roles/questdb/files/questdb_parquet.py), as the
    program the timer runs: tests and the bench convert with its own statement."""
    path = REPO / "roles" / "questdb" / "files" / "questdb_parquet.py"
    spec = importlib.util.spec_from_file_location("questdb_parquet", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def create_schema(server: QuestDBServer, ttl: dict[str, str] | None = None) -> None:
    """Create the monitoring tables that do not exist yet (optionally with TTLs per table)."""
    existing = {row[0] for row in server.rows("SELECT table_name FROM tables()")}
    for table in schema():
        if table["name"] not in existing:
            spec = build_spec({**table, "ttl": (ttl or {}).get(table["name"])})
            server.exec(create_table_sql(spec))


def create_views(server: QuestDBServer) -> list[str]:
    """Create the role's views that do not exist yet; return their names (in declaration order)."""
    existing = {row[0] for row in server.rows("SELECT view_name FROM materialized_views()")}
    names = []
    for view in views():
        if view["name"] not in existing:
            server.exec(create_view_sql(build_view_spec(view)))
        names.append(view["name"])
    return names


def wait_views(server: QuestDBServer, timeout: float = 600.0) -> None:
    """Wait until every materialized view caught up with its base table's transactions."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = server.rows(
            "SELECT view_name, view_status, refresh_base_table_txn, base_table_txn FROM materialized_views()"
        )
        bad = [r for r in rows if r[1] == "invalid"]
        if bad:
            raise RuntimeError(f"materialized views invalid: {bad}")
        if all(r[2] == r[3] for r in rows):
            return
        time.sleep(0.5)
    raise TimeoutError("materialized views did not catch up")
