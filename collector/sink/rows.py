"""The unit the sink ships: one typed row of one table, and its spool encoding.

A row is encoded as one JSON line (UTF-8, no NaN/inf, newline-terminated):
``[table, timestamp_ns, {symbol: str}, {column: bool|int|float|str}, {timestamp_column: ns}]``.
JSON keeps ``int`` and ``float`` apart (``1`` vs ``1.0``), so LONG and DOUBLE columns round-trip.
"""

from __future__ import annotations

import json
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


def _no_default(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not a JSON value")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_no_default)
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_C_BASESTRING = getattr(json.encoder, "c_encode_basestring", None)
if _C_ENCODER is not None and _C_BASESTRING is not None:
    # The same C encoder JSONEncoder builds on every call, built once (it keeps no state).
    _c_encode = _C_ENCODER(None, _no_default, _C_BASESTRING, None, ":", ",", False, False, False)

    def _encode(row: Row) -> str:
        return "".join(_c_encode(row, 0))

else:  # pragma: no cover - interpreters without the C accelerator

    def _encode(row: Row) -> str:
        return _ENCODER.encode(row)


def encode_row(row: Row) -> bytes:
    """One spool line; a Row is a tuple, so it encodes as the JSON array described above."""
    try:
        return (_encode(row) + "\n").encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError) as err:
        raise RowEncodingError(f"cannot encode row for table {row.table!r}: {err}") from err


def decode_row(line: bytes) -> Row:
    try:
        table, ts, symbols, columns, timestamps = json.loads(line)
    except (ValueError, TypeError) as err:
        raise RowEncodingError(f"corrupt spool record: {err}") from err
    if type(table) is not str or type(ts) is not int or type(symbols) is not dict:
        raise RowEncodingError("corrupt spool record: unexpected shape")
    if type(columns) is not dict or type(timestamps) is not dict:
        raise RowEncodingError("corrupt spool record: unexpected shape")
    return Row(table, ts, symbols, columns, timestamps)


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
