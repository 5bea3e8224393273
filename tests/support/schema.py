"""The monitoring schema (roles/questdb/vars/main.yml) created on a test server."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.paths import REPO
from tests.support.questdb_server import QuestDBServer


def schema() -> list[dict[str, Any]]:
    role_vars = yaml.safe_load((REPO / "roles" / "questdb" / "vars" / "main.yml").read_text())
    return list(role_vars["_questdb_schema"])


def create_table_sql(table: dict[str, Any]) -> str:
    columns = ", ".join(f"{c['name']} {c['type']}" for c in table["columns"])
    keys = ", ".join(table["dedup_upsert_keys"])
    return (
        f"CREATE TABLE IF NOT EXISTS {table['name']} ({columns}) TIMESTAMP({table['timestamp']}) "
        f"PARTITION BY {table['partition_by']} WAL DEDUP UPSERT KEYS({keys})"
    )


def create_schema(server: QuestDBServer) -> None:
    """Create the four monitoring tables (idempotent)."""
    for table in schema():
        server.exec(create_table_sql(table))
