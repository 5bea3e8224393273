"""The monitoring schema (roles/questdb/vars/main.yml) created on a test server.

The SQL comes from the questdb_table module's own builder, so tests get exactly the tables a
deploy creates.
"""

from __future__ import annotations

from typing import Any

import yaml
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_plan import create_table_sql
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_schema import build_spec

from tests.support.paths import REPO
from tests.support.questdb_server import QuestDBServer


def schema() -> list[dict[str, Any]]:
    role_vars = yaml.safe_load((REPO / "roles" / "questdb" / "vars" / "main.yml").read_text())
    return list(role_vars["_questdb_schema"])


def create_schema(server: QuestDBServer, ttl: dict[str, str] | None = None) -> None:
    """Create the monitoring tables that do not exist yet (optionally with TTLs per table)."""
    existing = {row[0] for row in server.rows("SELECT table_name FROM tables()")}
    for table in schema():
        if table["name"] not in existing:
            spec = build_spec({**table, "ttl": (ttl or {}).get(table["name"])})
            server.exec(create_table_sql(spec))
