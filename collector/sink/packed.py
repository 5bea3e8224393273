"""Packed spool records: many rows in one line, the encoding of the client's hot path.

A packed record is one newline-terminated line::

    \\x1e<rows> <crc32 of payload, 8 hex digits> <base64 of payload>\\n

where the payload is ``marshal`` (format 4) of the rows transposed into five tuples (tables,
timestamps, symbols, columns, timestamp columns). marshal is C-speed in both directions and keeps
``bool``/``int``/``float``/``str``/``None`` apart exactly; base64 keeps the record one line, so the
spool's framing (and its torn-tail recovery) is unchanged; the CRC catches a record damaged on disk.
The leading ``\\x1e`` (ASCII record separator) never starts a JSON line (JSON escapes control
characters), so plain one-row JSON lines (``rows.encode_row``, older spools) and packed records mix.

Only well-formed rows are packed: rows from validated models (``schema.to_row``), or rows that
passed ``check_row``, which refuses what the JSON encoding refused too (non-finite floats, text that
is not UTF-8, values that are not bool/int/float/str/None, mappings that are not dicts of them).
"""

from __future__ import annotations

import binascii
import marshal
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from collector.sink.rows import Row, RowEncodingError

MARK = b"\x1e"
MARSHAL_VERSION = 4
_ROW_NEW = tuple.__new__


def pack_rows(rows: Sequence[Row]) -> bytes:
    """One packed record of ``rows`` (at least one)."""
    try:
        payload = marshal.dumps(tuple(zip(*rows, strict=True)), MARSHAL_VERSION)
    except (ValueError, TypeError) as err:
        raise RowEncodingError(f"cannot pack rows: {err}") from err
    header = b"%b%d %08x " % (MARK, len(rows), zlib.crc32(payload))
    return header + binascii.b2a_base64(payload, newline=False) + b"\n"


def record_rows(record: bytes) -> int:
    """How many rows a spool record holds: 1 for a plain line, the header's count when packed."""
    if record[:1] != MARK:
        return 1
    try:
        return max(1, int(record[1 : record.index(b" ")]))
    except ValueError:
        return 1  # a damaged header: one (undecodable) record, dead-lettered when read


def count_rows(data: bytes, start: int = 0, end: int | None = None) -> int:
    """Rows of the complete records in ``data[start:end]`` (which must start at a record boundary)."""
    end = len(data) if end is None else end
    rows = data.count(b"\n", start, end)
    mark = data.find(MARK, start, end)
    while mark != -1:
        if mark == start or data[mark - 1] == 0x0A:  # only a record's first byte marks it
            stop = data.find(b"\n", mark, end)
            if stop == -1:
                break
            rows += record_rows(data[mark : min(stop, mark + 32)]) - 1
        mark = data.find(MARK, mark + 1, end)
    return rows


def unpack_rows(record: bytes) -> list[Row]:
    """The rows of a packed record; RowEncodingError if it is damaged."""
    try:
        count_text, crc_text, body = record[1:].rstrip(b"\n").split(b" ", 2)
        count, crc = int(count_text), int(crc_text, 16)
        payload = binascii.a2b_base64(body)
    except (ValueError, binascii.Error) as err:
        raise RowEncodingError(f"corrupt packed spool record: {err}") from err
    if zlib.crc32(payload) != crc:
        raise RowEncodingError("corrupt packed spool record: checksum mismatch")
    try:
        columns = marshal.loads(payload)
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
