"""The unit the sink ships: one typed row of one table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from questdb import TimestampMicros

ColumnValue = bool | int | float | str


class RowEncodingError(ValueError):
    """A row that cannot be encoded (non-finite float, text that is not UTF-8, wrong shape)."""


class Row(NamedTuple):
    """One row: designated timestamp in ns, SYMBOL values, other columns, TIMESTAMP columns in ns."""

    table: str
    timestamp_ns: int
    symbols: Mapping[str, str]
    columns: Mapping[str, ColumnValue]
    timestamps: Mapping[str, int]

    def key(self) -> tuple[str, int, tuple[tuple[str, str], ...]]:
        """Table, timestamp and symbols: identifies the row for DEDUP purposes in logs and tests."""
        return (self.table, self.timestamp_ns, tuple(sorted(self.symbols.items())))


def client_columns(row: Row) -> dict[str, Any]:
    """The row's columns as the questdb client takes them, its TIMESTAMP columns (ns) as TimestampMicros."""
    return {**row.columns, **{name: TimestampMicros(ns // 1_000) for name, ns in row.timestamps.items()}}


def _readable(mapping: object) -> object:
    try:
        return dict(mapping)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return repr(mapping)


def row_as_json(row: Row) -> dict[str, Any]:
    """A readable dict of the row (for the dead-letter file), whatever its fields hold."""
    return {
        "table": row.table,
        "timestamp_ns": row.timestamp_ns,
        "symbols": _readable(row.symbols),
        "columns": _readable(row.columns),
        "timestamps": _readable(row.timestamps),
    }
