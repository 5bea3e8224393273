# Copyright: tradewatch developers
# Apache License 2.0 (see galaxy.yml)
"""Declared vs. server state of a QuestDB table: validation, comparison and the SQL to converge.

Pure Python (no Ansible import) so the unit tests exercise it directly.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import (
    PARTITION_UNITS,
    TIMESTAMP_TYPES,
    SchemaError,
    Ttl,
    declared_ttl,
    is_array_type,
    normalize_type,
    quote_ident,
    server_type,
    ttl_from_server,
    ttl_short,
    validate_identifier,
)


class Column:
    """A column, declared or read from table_columns(). cache/index None = not managed."""

    __slots__ = ("cache", "capacity", "index", "name", "type")

    def __init__(
        self,
        name: str,
        type: str,
        capacity: int | None = None,
        cache: bool | None = None,
        index: bool | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.capacity = capacity
        self.cache = cache
        self.index = index

    def definition(self) -> str:
        """Column definition for CREATE TABLE / ADD COLUMN, e.g. '"host" SYMBOL CAPACITY 256 CACHE INDEX'."""
        parts = [quote_ident(self.name), self.type]
        if self.type == "SYMBOL":
            if self.capacity is not None:
                parts.append(f"CAPACITY {self.capacity}")
            if self.cache is not None:
                parts.append("CACHE" if self.cache else "NOCACHE")
            if self.index:
                parts.append("INDEX")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.type == "SYMBOL":
            out["cache"] = self.cache
            out["index"] = self.index
        return out


class Table:
    """A table's structure: as declared (TableSpec) or as read from the server (from_server)."""

    def __init__(
        self,
        name: str,
        columns: list[Column],
        timestamp: str | None,
        partition_by: str,
        wal: bool,
        dedup_upsert_keys: list[str],
        ttl: Ttl | None,
        suspended: bool = False,
    ) -> None:
        self.name = name
        self.columns = columns
        self.timestamp = timestamp
        self.partition_by = partition_by
        self.wal = wal
        self.dedup_upsert_keys = dedup_upsert_keys
        self.ttl = ttl
        self.suspended = suspended

    def column(self, name: str) -> Column | None:
        lname = name.lower()
        return next((col for col in self.columns if col.name.lower() == lname), None)

    def as_dict(self) -> dict[str, Any]:
        """The `state` return value (and each side of the diff)."""
        return {
            "name": self.name,
            "exists": True,
            "columns": [col.as_dict() for col in self.columns],
            "timestamp": self.timestamp,
            "partition_by": self.partition_by,
            "wal": self.wal,
            "dedup_upsert_keys": list(self.dedup_upsert_keys),
            "ttl": ttl_short(self.ttl),
        }


def absent_state(name: str) -> dict[str, Any]:
    return {"name": name, "exists": False}


# ---------------------------------------------------------------------------------------------
# Declared state
# ---------------------------------------------------------------------------------------------


def build_spec(params: dict[str, Any]) -> Table:
    """Validate the module parameters of state=present and return the declared table."""
    name = validate_identifier("table name", params.get("name"))
    timestamp = params.get("timestamp")
    if timestamp is not None:
        validate_identifier(f"{name}: timestamp column name", timestamp)
    columns = _build_columns(name, params.get("columns") or [])
    if timestamp is not None:
        ts_col = next((col for col in columns if col.name.lower() == timestamp.lower()), None)
        if ts_col is None:
            columns.insert(0, Column(timestamp, "TIMESTAMP"))
        elif ts_col.type not in TIMESTAMP_TYPES:
            raise SchemaError(
                f"{name}: the designated timestamp {ts_col.name} must be a TIMESTAMP column,"
                f" not {ts_col.type}"
            )
        else:
            timestamp = ts_col.name
    if not columns:
        raise SchemaError(f"{name}: declare at least one column (or a timestamp)")

    partition_by = params.get("partition_by")
    partition_by = partition_by.upper() if partition_by else ("DAY" if timestamp else "NONE")
    if partition_by not in PARTITION_UNITS:
        raise SchemaError(f"{name}: partition_by must be one of {', '.join(PARTITION_UNITS)}")
    if partition_by != "NONE" and timestamp is None:
        raise SchemaError(f"{name}: partition_by {partition_by} needs a designated timestamp (set timestamp)")

    wal = params.get("wal")
    if wal is None:
        wal = partition_by != "NONE"
    if wal and partition_by == "NONE":
        raise SchemaError(f"{name}: a WAL table must be partitioned (partition_by is NONE); set wal: false")

    keys = _build_dedup_keys(name, params.get("dedup_upsert_keys") or [], columns, timestamp, wal)

    ttl = declared_ttl(name, params.get("ttl"), partition_by)
    return Table(name, columns, timestamp, partition_by, bool(wal), keys, ttl)


def _build_columns(table: str, raw: list[Any]) -> list[Column]:
    columns: list[Column] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, dict):
            raise SchemaError(f"{table}: each column must be a dict with name and type, got {item!r}")
        cname = validate_identifier(f"{table}: column name", item.get("name"))
        if cname.lower() in seen:
            raise SchemaError(f"{table}: column {cname} is declared twice (names are case-insensitive)")
        seen.add(cname.lower())
        try:
            ctype = normalize_type(item.get("type"))
        except SchemaError as exc:
            raise SchemaError(f"{table}: column {cname}: {exc}") from None
        capacity, cache, index = item.get("capacity"), item.get("cache"), item.get("index")
        if ctype != "SYMBOL" and (capacity is not None or cache is not None or index):
            raise SchemaError(
                f"{table}: column {cname}: capacity, cache and index apply to SYMBOL columns only"
            )
        bad_capacity = isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1
        if capacity is not None and bad_capacity:
            raise SchemaError(f"{table}: column {cname}: capacity must be a positive integer")
        columns.append(Column(cname, ctype, capacity, cache, index))
    return columns


def _build_dedup_keys(
    table: str, raw: list[Any], columns: list[Column], timestamp: str | None, wal: bool
) -> list[str]:
    if not raw:
        return []
    if not wal:
        raise SchemaError(f"{table}: dedup_upsert_keys need a WAL table (wal: true)")
    by_name = {col.name.lower(): col for col in columns}
    keys: list[str] = []
    for key in raw:
        validate_identifier(f"{table}: dedup key", key)
        col = by_name.get(key.lower())
        if col is None:
            raise SchemaError(f"{table}: dedup key {key} is not among the declared columns")
        if is_array_type(col.type):
            raise SchemaError(f"{table}: dedup key {key} is an array column ({col.type}); QuestDB refuses it")
        if col.name in keys:
            raise SchemaError(f"{table}: dedup key {key} is listed twice")
        keys.append(col.name)
    if timestamp is None or timestamp.lower() not in (k.lower() for k in keys):
        raise SchemaError(f"{table}: dedup_upsert_keys must include the designated timestamp ({timestamp})")
    return keys


# ---------------------------------------------------------------------------------------------
# Server state
# ---------------------------------------------------------------------------------------------


def from_server(table_row: dict[str, Any], column_rows: list[dict[str, Any]]) -> Table:
    """Build the server-side Table from a tables() row and table_columns() rows (dicts by column name)."""
    dedup = bool(table_row.get("dedup"))
    columns: list[Column] = []
    keys: list[str] = []
    for row in column_rows:
        ctype = server_type(row.get("type"))
        sym = ctype == "SYMBOL"
        columns.append(
            Column(
                str(row.get("column")),
                ctype,
                capacity=row.get("symbolCapacity") if sym else None,
                cache=bool(row.get("symbolCached")) if sym else None,
                index=bool(row.get("indexed")) if sym else None,
            )
        )
        if dedup and row.get("upsertKey"):
            keys.append(str(row.get("column")))
    return Table(
        name=str(table_row.get("table_name")),
        columns=columns,
        timestamp=table_row.get("designatedTimestamp") or None,
        partition_by=str(table_row.get("partitionBy") or "NONE").upper(),
        wal=bool(table_row.get("walEnabled")),
        dedup_upsert_keys=keys,
        ttl=ttl_from_server(table_row.get("ttlValue"), table_row.get("ttlUnit")),
        suspended=bool(table_row.get("table_suspended")),
    )


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """A state dict with case-insensitive names and unordered key lists, to compare two states."""
    if not state.get("exists"):
        return {"exists": False}
    return {
        "columns": sorted(
            (tuple(sorted((k, str(v).lower() if k == "name" else v) for k, v in col.items())))
            for col in state["columns"]
        ),
        "timestamp": (state["timestamp"] or "").lower(),
        "partition_by": state["partition_by"],
        "wal": state["wal"],
        "dedup_upsert_keys": sorted(k.lower() for k in state["dedup_upsert_keys"]),
        "ttl": state["ttl"],
    }
