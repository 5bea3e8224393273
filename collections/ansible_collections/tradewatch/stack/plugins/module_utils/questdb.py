# Copyright: tradewatch developers
# Apache License 2.0 (see galaxy.yml)
"""Shared pieces of the tradewatch.stack QuestDB modules.

- questdb_common_argument_spec(): the connection options every module takes
- client_from_params(): a QuestDBClient (module_utils/questdb_http.py) from those options
- read_table() / wait_wal(): the current state of a table from tables() and table_columns()

Pure schema logic lives in questdb_types.py and questdb_schema.py.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_http import (
    QuestDBClient,
    QuestDBError,
)
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_schema import Table, from_server
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import validate_identifier

DEFAULT_URL = "http://127.0.0.1:9000"


def questdb_common_argument_spec() -> dict[str, Any]:
    """Connection options shared by the QuestDB modules (extend it with the module's own)."""
    return {
        "url": {"type": "str", "default": DEFAULT_URL},
        "user": {"type": "str", "aliases": ["login_user"]},
        "password": {"type": "str", "no_log": True, "aliases": ["login_password"]},
        "timeout": {"type": "float", "default": 30.0},
        "validate_certs": {"type": "bool", "default": True},
    }


def client_from_params(params: dict[str, Any]) -> QuestDBClient:
    return QuestDBClient(
        url=params["url"],
        user=params.get("user"),
        password=params.get("password"),
        timeout=float(params.get("timeout") or 30.0),
        validate_certs=bool(params.get("validate_certs", True)),
    )


class TableInfo:
    """What tables() says about a name: its kind (T table, M materialized view, V view) and row."""

    KINDS: ClassVar[dict[str, str]] = {"T": "table", "M": "materialized view", "V": "view"}

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.name = str(row.get("table_name"))
        kind = row.get("table_type") or ("M" if row.get("matView") else "T")
        self.kind = self.KINDS.get(str(kind), f"object of type {kind}")

    @property
    def is_table(self) -> bool:
        return self.kind == "table"


def find_table(client: QuestDBClient, name: str) -> TableInfo | None:
    """The tables() row whose name equals `name` case-insensitively (QuestDB names are), or None."""
    validate_identifier("table name", name)
    rows = client.rows(f"SELECT * FROM tables() WHERE lower(table_name) = '{name.lower()}'")
    return TableInfo(rows[0]) if rows else None


def read_table(client: QuestDBClient, info: TableInfo) -> Table:
    """The server-side structure of a table found by find_table()."""
    validate_identifier("table name", info.name)
    columns = client.rows(f"SELECT * FROM table_columns('{info.name}')")
    return from_server(info.row, columns)


def wal_lag(client: QuestDBClient, name: str) -> tuple[int, bool]:
    """(sequencerTxn - writerTxn, suspended) of a WAL table; (0, False) if it has no WAL."""
    validate_identifier("table name", name)
    rows = client.rows(f"SELECT * FROM wal_tables() WHERE lower(name) = '{name.lower()}'")
    if not rows:
        return 0, False
    row = rows[0]
    return int(row.get("sequencerTxn") or 0) - int(row.get("writerTxn") or 0), bool(row.get("suspended"))


def wait_wal(client: QuestDBClient, name: str, timeout: float) -> int:
    """Wait until QuestDB applied every WAL transaction of `name` (metadata changes of WAL tables are
    applied asynchronously, and tables()/table_columns() show the applied state). Return the number of
    transactions still pending when `timeout` ran out (0 = caught up). Raise if the table is suspended.
    """
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        pending, suspended = wal_lag(client, name)
        if suspended:
            raise QuestDBError(
                f"{name}: the WAL table is suspended ({pending} transaction(s) not applied); QuestDB applies"
                f" no change until it is resumed: ALTER TABLE {name} RESUME WAL"
            )
        if pending <= 0 or time.monotonic() >= deadline:
            return max(pending, 0)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
