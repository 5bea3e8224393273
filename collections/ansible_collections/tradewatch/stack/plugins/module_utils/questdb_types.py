# Copyright: tradewatch developers
# Apache License 2.0 (see galaxy.yml)
"""Pure helpers for QuestDB identifiers, column types, partitioning and TTLs.

No Ansible import here: unit tests use these functions directly. The rules were checked against
QuestDB 9.3.4 (see the questdb_table module's notes).
"""

from __future__ import annotations

import re

__all__ = [
    "PARTITION_UNITS",
    "SchemaError",
    "Ttl",
    "is_array_type",
    "normalize_type",
    "parse_ttl",
    "quote_ident",
    "ttl_from_server",
    "ttl_partition_error",
    "validate_identifier",
]

# QuestDB caps file names (hence table and column names) at 127 characters
# (cairo.max.file.name.length). We accept a strict, quoting-safe subset of its names.
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,126}$")

PARTITION_UNITS = ("NONE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR")


class SchemaError(ValueError):
    """A declared table is invalid (bad name, type, TTL, keys...)."""


def validate_identifier(kind: str, value: object) -> str:
    """Return `value` if it is a safe QuestDB identifier, else raise SchemaError naming `kind`."""
    if not isinstance(value, str) or not IDENTIFIER_RE.fullmatch(value):
        raise SchemaError(
            f"invalid {kind} {value!r}: use 1-127 characters from [A-Za-z0-9_], not starting with a digit"
        )
    return value


def quote_ident(name: str) -> str:
    """Double-quote an identifier that validate_identifier accepted (so keywords work as names)."""
    validate_identifier("identifier", name)
    return f'"{name}"'


# ---------------------------------------------------------------------------------------------
# Column types
# ---------------------------------------------------------------------------------------------

# Persistable types of QuestDB 9.3.4 without parameters (INTERVAL is not persistable).
SIMPLE_TYPES = frozenset(
    {
        "BOOLEAN",
        "BYTE",
        "SHORT",
        "CHAR",
        "INT",
        "LONG",
        "DATE",
        "TIMESTAMP",
        "TIMESTAMP_NS",
        "FLOAT",
        "DOUBLE",
        "STRING",
        "VARCHAR",
        "SYMBOL",
        "LONG128",
        "LONG256",
        "UUID",
        "IPV4",
        "BINARY",
    }
)

# Aliases the server accepts and reports under another name (checked with table_columns()).
TYPE_ALIASES = {
    "INTEGER": "INT",
    "BIGINT": "LONG",
    "SMALLINT": "SHORT",
    "REAL": "FLOAT",
    "DOUBLE PRECISION": "DOUBLE",
    "TEXT": "STRING",
}

TIMESTAMP_TYPES = ("TIMESTAMP", "TIMESTAMP_NS")

_GEOHASH_RE = re.compile(r"^GEOHASH\s*\(\s*(\d+)\s*([BC])\s*\)$")
_DECIMAL_RE = re.compile(r"^DECIMAL(?:\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$")
_ARRAY_RE = re.compile(r"^DOUBLE((?:\[\])+)$")
MAX_ARRAY_DIMS = 32
MAX_DECIMAL_PRECISION = 76


def normalize_type(declared: object) -> str:
    """Return QuestDB's canonical spelling of a column type, as table_columns() reports it.

    Examples: "integer" -> "INT", "GEOHASH(25b)" -> "GEOHASH(5c)", "DECIMAL" -> "DECIMAL(18,3)",
    "IPv4" -> "IPV4". Raises SchemaError for unknown or malformed types.
    """
    if not isinstance(declared, str) or not declared.strip():
        raise SchemaError(f"column type must be a non-empty string, got {declared!r}")
    text = " ".join(declared.strip().upper().split())
    text = TYPE_ALIASES.get(text, text)
    if text in SIMPLE_TYPES:
        return text
    match = _GEOHASH_RE.match(text)
    if match:
        return _normalize_geohash(declared, int(match.group(1)), match.group(2))
    match = _DECIMAL_RE.match(text)
    if match:
        return _normalize_decimal(declared, match.group(1), match.group(2))
    match = _ARRAY_RE.match(text)
    if match:
        dims = len(match.group(1)) // 2
        if dims > MAX_ARRAY_DIMS:
            raise SchemaError(f"column type {declared!r}: at most {MAX_ARRAY_DIMS} array dimensions")
        return "DOUBLE" + "[]" * dims
    if text.endswith("[]"):
        raise SchemaError(f"unknown column type {declared!r}: QuestDB arrays are DOUBLE[] (no spaces)")
    raise SchemaError(f"unknown column type {declared!r}; known types: {', '.join(known_types())}")


def _normalize_geohash(declared: str, size: int, unit: str) -> str:
    bits = size * 5 if unit == "C" else size
    if not 1 <= bits <= 60:
        raise SchemaError(f"column type {declared!r}: GEOHASH precision must be 1-60 bits (1-12 chars)")
    return f"GEOHASH({bits // 5}c)" if bits % 5 == 0 else f"GEOHASH({bits}b)"


def _normalize_decimal(declared: str, precision: str | None, scale: str | None) -> str:
    if precision is None:
        return "DECIMAL(18,3)"
    if scale is None:
        # The server's default scale for DECIMAL(p) depends on p (DECIMAL(4) -> (4,0), DECIMAL(10) -> (10,3)).
        raise SchemaError(f"column type {declared!r}: write DECIMAL(precision,scale) with an explicit scale")
    p, s = int(precision), int(scale)
    if not 1 <= p <= MAX_DECIMAL_PRECISION or s > p:
        raise SchemaError(
            f"column type {declared!r}: DECIMAL precision must be 1-{MAX_DECIMAL_PRECISION}"
            " and the scale at most the precision"
        )
    return f"DECIMAL({p},{s})"


def known_types() -> list[str]:
    params = ["GEOHASH(<n>b|<n>c)", "DECIMAL(<p>,<s>)", "DOUBLE[]..."]
    return [*sorted(SIMPLE_TYPES), *params, *sorted(TYPE_ALIASES)]


def is_array_type(canonical: str) -> bool:
    return canonical.endswith("[]")


def server_type(reported: object) -> str:
    """Canonical form of a type string read from table_columns(); unknown (newer) types pass through."""
    try:
        return normalize_type(reported)
    except SchemaError:
        return str(reported).upper()


# ---------------------------------------------------------------------------------------------
# TTL
# ---------------------------------------------------------------------------------------------

_HOURS = {"HOUR": 1, "DAY": 24, "WEEK": 168}
_MONTHS = {"MONTH": 1, "YEAR": 12}
_UNIT_WORDS = {
    "h": "HOUR",
    "hour": "HOUR",
    "hours": "HOUR",
    "d": "DAY",
    "day": "DAY",
    "days": "DAY",
    "w": "WEEK",
    "week": "WEEK",
    "weeks": "WEEK",
    "M": "MONTH",
    "month": "MONTH",
    "months": "MONTH",
    "y": "YEAR",
    "year": "YEAR",
    "years": "YEAR",
}
_SHORT = {"HOUR": "h", "DAY": "d", "WEEK": "w", "MONTH": "M", "YEAR": "y"}
_TTL_RE = re.compile(r"^(\d+)\s*([A-Za-z]+)$")
_MAX_TTL = 2**31 - 1  # QuestDB stores the TTL as an int of hours or months


class Ttl:
    """A non-zero TTL in QuestDB's canonical form: the largest unit that divides it exactly.

    QuestDB stores a TTL as hours (HOUR/DAY/WEEK) or months (MONTH/YEAR) and reports it back in
    the largest whole unit (14 DAYS reads back as 2 WEEK, 12 MONTHS as 1 YEAR), so equal
    durations compare equal here. Hours and months never compare equal (30d != 1M).
    """

    __slots__ = ("amount", "unit")

    def __init__(self, amount: int, unit: str) -> None:
        if unit in _HOURS:
            total, scale = amount * _HOURS[unit], _HOURS
        elif unit in _MONTHS:
            total, scale = amount * _MONTHS[unit], _MONTHS
        else:
            raise SchemaError(f"unknown TTL unit {unit!r}")
        if total <= 0:
            raise SchemaError("a TTL must be positive (use 0 or omit ttl for no TTL)")
        if total > _MAX_TTL:
            raise SchemaError(f"TTL {amount} {unit} is too large")
        largest_first = sorted(scale.items(), key=lambda item: -item[1])
        unit = next(name for name, size in largest_first if total % size == 0)
        self.amount: int = total // scale[unit]
        self.unit: str = unit

    @property
    def hours(self) -> int | None:
        return self.amount * _HOURS[self.unit] if self.unit in _HOURS else None

    @property
    def months(self) -> int | None:
        return self.amount * _MONTHS[self.unit] if self.unit in _MONTHS else None

    def sql(self) -> str:
        """The TTL clause value, e.g. '90 DAYS' or '1 YEAR'."""
        return f"{self.amount} {self.unit}{'S' if self.amount != 1 else ''}"

    def short(self) -> str:
        """The short form used in results and messages, e.g. '90d', '2w', '3M', '1y'."""
        return f"{self.amount}{_SHORT[self.unit]}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ttl) and (self.amount, self.unit) == (other.amount, other.unit)

    def __hash__(self) -> int:
        return hash((self.amount, self.unit))

    def __repr__(self) -> str:
        return f"Ttl({self.amount}, {self.unit!r})"


def parse_ttl(value: object) -> Ttl | None:
    """Parse a declared TTL: '90d', '90 DAYS', '2w', '12h', '3M', '1y'. None/''/'0'/'none' mean no TTL.

    Units: h/hour(s), d/day(s), w/week(s), M/month(s), y/year(s), case-insensitive except the
    single letter M: a lowercase 'm' is refused as ambiguous (QuestDB reads it as months, most
    people as minutes).
    """
    if value is None or isinstance(value, bool):
        if value is None:
            return None
        raise SchemaError(f"invalid ttl {value!r}")
    text = str(value).strip()
    if text.lower() in ("", "0", "none", "null"):
        return None
    match = _TTL_RE.match(text)
    if not match:
        raise SchemaError(f"invalid ttl {value!r}: expected '<n><unit>' or '<n> <UNIT>', e.g. 90d, '90 DAYS'")
    amount, word = int(match.group(1)), match.group(2)
    if word == "m":
        raise SchemaError(f"ambiguous ttl {value!r}: write M or MONTHS for months (there is no minute TTL)")
    unit = _UNIT_WORDS.get(word if word == "M" else word.lower())
    if unit is None:
        raise SchemaError(
            f"invalid ttl unit in {value!r}: use h, d, w, M or y (or HOURS, DAYS, WEEKS, MONTHS, YEARS)"
        )
    if amount == 0:
        return None
    return Ttl(amount, unit)


def ttl_from_server(value: object, unit: object) -> Ttl | None:
    """The TTL read from tables() (ttlValue, ttlUnit); ttlValue 0 means no TTL (unit reads HOUR)."""
    if not value:
        return None
    return Ttl(int(str(value)), str(unit).upper().rstrip("S"))


def ttl_short(ttl: Ttl | None) -> str | None:
    return ttl.short() if ttl is not None else None


def ttl_partition_error(ttl: Ttl | None, partition_by: str) -> str | None:
    """Why QuestDB would reject `ttl` on a table partitioned by `partition_by`, or None.

    Mirrors QuestDB 9.3.4 (PartitionBy.validateTtlGranularity): any TTL for HOUR; whole days for
    DAY and whole weeks for WEEK (or any months); only months for MONTH; whole years for YEAR.
    """
    if ttl is None:
        return None
    if partition_by == "NONE":
        return f"TTL {ttl.short()} needs a partitioned table but partition_by is NONE"
    hours, months = ttl.hours, ttl.months
    ok = {
        "HOUR": True,
        "DAY": months is not None or (hours is not None and hours % 24 == 0),
        "WEEK": months is not None or (hours is not None and hours % 168 == 0),
        "MONTH": months is not None,
        "YEAR": months is not None and months % 12 == 0,
    }[partition_by]
    if ok:
        return None
    return f"TTL {ttl.short()} is not a whole multiple of the partition size ({partition_by})"


def declared_ttl(name: str, value: object, partition_by: str | None) -> Ttl | None:
    """The TTL declared for table or view `name` (parse_ttl), checked against its partitioning
    (ttl_partition_error; None: not declared, which a TTL needs). Raise SchemaError naming `name`."""
    try:
        ttl = parse_ttl(value)
    except SchemaError as exc:
        raise SchemaError(f"{name}: {exc}") from None
    if ttl is None:
        return None
    if partition_by is None:
        raise SchemaError(f"{name}: a ttl needs partition_by (a TTL must be a multiple of the partition)")
    problem = ttl_partition_error(ttl, partition_by)
    if problem:
        raise SchemaError(f"{name}: {problem}")
    return ttl


def ttl_removable(partition_by: str) -> bool:
    """QuestDB 9.3.4 rejects SET TTL 0 (any unit) on MONTH- and YEAR-partitioned tables."""
    return partition_by not in ("MONTH", "YEAR")
