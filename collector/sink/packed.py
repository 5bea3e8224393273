"""Packed records: many rows in one spool record, the encoding of the client's hot path.

A packed record is the CRC-32 of its payload (4 bytes, little-endian), then the payload: ``marshal``
(format 4) of the rows transposed into five tuples (tables, timestamps, symbols, columns, timestamp
columns). marshal is C-speed in both directions and keeps ``bool``/``int``/``float``/``str``/``None``
apart exactly; the CRC catches a record damaged on disk (SQLite checks no pages), which is then
dead-lettered instead of delivered with a changed value.

Only well-formed rows are packed: rows from validated models (``schema.to_row``), or rows that
passed ``check_row`` (finite floats, UTF-8 text, values that are bool/int/float/str/None, mappings
that are dicts of them), so every row that goes in comes out equal.
"""

from __future__ import annotations

import marshal
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from collector.sink.rows import Row, RowEncodingError

MARSHAL_VERSION = 4
_CRC = struct.Struct("<I")
_ROW_NEW = tuple.__new__


def pack_rows(rows: Sequence[Row]) -> bytes:
    """One packed record of ``rows`` (at least one)."""
    try:
        payload = marshal.dumps(tuple(zip(*rows, strict=True)), MARSHAL_VERSION)
    except (ValueError, TypeError) as err:
        raise RowEncodingError(f"cannot pack rows: {err}") from err
    return _CRC.pack(zlib.crc32(payload)) + payload


def unpack_rows(record: bytes, count: int) -> list[Row]:
    """The ``count`` rows of a packed record; RowEncodingError if it is damaged."""
    if len(record) < _CRC.size or _CRC.unpack_from(record)[0] != zlib.crc32(record[_CRC.size :]):
        raise RowEncodingError("corrupt packed spool record: checksum mismatch")
    try:
        columns = marshal.loads(record[_CRC.size :])
    except (ValueError, EOFError, TypeError) as err:
        raise RowEncodingError(f"corrupt packed spool record: {err}") from err
    if type(columns) is not tuple or len(columns) != 5 or any(len(part) != count for part in columns):
        raise RowEncodingError("corrupt packed spool record: unexpected shape")
    return [_ROW_NEW(Row, values) for values in zip(*columns, strict=True)]


# --- checking rows that did not come from a model ---------------------------------------------------


def _text_ok(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _scalars(mapping: Mapping[str, Any], what: str, table: str) -> dict[str, Any]:
    if type(mapping) is dict:
        values = mapping
    else:
        try:
            values = dict(mapping)
        except (TypeError, ValueError) as err:
            raise RowEncodingError(f"cannot encode row for table {table!r}: {what}s: {err}") from err
    for name, value in values.items():
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # inf - inf and nan - nan are nan
                raise RowEncodingError(f"cannot encode row for table {table!r}: {what} {name!r} is {value}")
        elif kind is str:
            if not _text_ok(value):
                raise RowEncodingError(f"cannot encode row for table {table!r}: {what} {name!r} is not UTF-8")
        elif kind is not int and kind is not bool and value is not None:
            raise RowEncodingError(
                f"cannot encode row for table {table!r}: {what} {name!r} is {kind.__name__}, "
                "not bool, int, float or str"
            )
        if type(name) is not str or not _text_ok(name):
            raise RowEncodingError(f"cannot encode row for table {table!r}: {what} name {name!r}")
    return values


def check_row(row: Row) -> Row:
    """``row`` with plain dicts if it can be packed; RowEncodingError naming the problem otherwise."""
    try:
        table, ts, symbols, columns, timestamps = row
    except (TypeError, ValueError) as err:
        raise RowEncodingError(f"cannot encode row: not a Row ({err})") from err
    if type(table) is not str or not _text_ok(table):
        raise RowEncodingError(f"cannot encode row: table name {table!r}")
    if type(ts) is not int:
        raise RowEncodingError(f"cannot encode row for table {table!r}: timestamp_ns is {type(ts).__name__}")
    symbols = _scalars(symbols, "symbol", table)
    columns = _scalars(columns, "column", table)
    timestamps = _scalars(timestamps, "timestamp column", table)
    if any(type(value) is not str and value is not None for value in symbols.values()):
        raise RowEncodingError(f"cannot encode row for table {table!r}: symbol values must be text")
    if any(type(value) is not int for value in timestamps.values()):
        raise RowEncodingError(f"cannot encode row for table {table!r}: timestamp columns must be int ns")
    same = symbols is row.symbols and columns is row.columns and timestamps is row.timestamps
    if type(row) is Row and same:
        return row
    return _ROW_NEW(Row, (table, ts, symbols, columns, timestamps))
