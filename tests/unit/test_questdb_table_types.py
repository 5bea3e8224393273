"""questdb_table module_utils: identifiers, column types and TTLs (facts checked on QuestDB 9.3.4)."""

from __future__ import annotations

import pytest
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import (
    SchemaError,
    Ttl,
    normalize_type,
    parse_ttl,
    quote_ident,
    server_type,
    ttl_from_server,
    ttl_partition_error,
    ttl_removable,
    validate_identifier,
)


@pytest.mark.parametrize("name", ["daemon_metrics", "_x", "T1", "symbol", "timestamp", "a" * 127])
def test_valid_identifiers(name: str) -> None:
    assert validate_identifier("table name", name) == name
    assert quote_ident(name) == f'"{name}"'


@pytest.mark.parametrize(
    "name",
    ["", "1abc", "a-b", "a b", 'x"; DROP TABLE y; --', "t'x", "a.b", "ä", "a" * 128, None, 5, "x\n"],
)
def test_invalid_identifiers(name: object) -> None:
    with pytest.raises(SchemaError, match="invalid column name"):
        validate_identifier("column name", name)


@pytest.mark.parametrize(
    ("declared", "canonical"),
    [
        ("LONG", "LONG"),
        ("long", "LONG"),
        (" varchar ", "VARCHAR"),
        ("Symbol", "SYMBOL"),
        ("TIMESTAMP", "TIMESTAMP"),
        ("timestamp_ns", "TIMESTAMP_NS"),
        ("integer", "INT"),
        ("BIGINT", "LONG"),
        ("smallint", "SHORT"),
        ("real", "FLOAT"),
        ("double  precision", "DOUBLE"),
        ("text", "STRING"),
        ("IPv4", "IPV4"),
        ("uuid", "UUID"),
        ("long256", "LONG256"),
        ("GEOHASH(5c)", "GEOHASH(5c)"),
        ("geohash(25b)", "GEOHASH(5c)"),
        ("GEOHASH(10B)", "GEOHASH(2c)"),
        ("GEOHASH(7b)", "GEOHASH(7b)"),
        ("GEOHASH(60b)", "GEOHASH(12c)"),
        ("DECIMAL", "DECIMAL(18,3)"),
        ("decimal(5, 2)", "DECIMAL(5,2)"),
        ("DECIMAL( 18 , 3 )", "DECIMAL(18,3)"),
        ("DECIMAL(76,76)", "DECIMAL(76,76)"),
        ("double[]", "DOUBLE[]"),
        ("DOUBLE[][]", "DOUBLE[][]"),
    ],
)
def test_normalize_type(declared: str, canonical: str) -> None:
    assert normalize_type(declared) == canonical
    # The canonical form is a fixed point (it is also what table_columns() reports).
    assert normalize_type(canonical) == canonical


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("BOOL", "unknown column type"),
        ("TINYINT", "unknown column type"),
        ("INTERVAL", "unknown column type"),
        ("LONGG", "unknown column type"),
        ("", "non-empty"),
        (None, "non-empty"),
        ("GEOHASH(61b)", "1-60 bits"),
        ("GEOHASH(13c)", "1-60 bits"),
        ("GEOHASH(0c)", "1-60 bits"),
        ("DECIMAL(10)", "explicit scale"),
        ("DECIMAL(77,1)", "precision"),
        ("DECIMAL(3,5)", "precision"),
        ("DECIMAL(0,0)", "precision"),
        ("float[]", "DOUBLE"),
        ("DOUBLE" + "[]" * 33, "32 array dimensions"),
        ("INT; DROP TABLE x", "unknown column type"),
    ],
)
def test_normalize_type_errors(declared: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        normalize_type(declared)


def test_server_type_passes_unknown_types_through() -> None:
    assert server_type("IPv4") == "IPV4"
    assert server_type("SomeFutureType") == "SOMEFUTURETYPE"


@pytest.mark.parametrize(
    ("declared", "amount", "unit"),
    [
        ("90d", 90, "DAY"),
        ("90 DAYS", 90, "DAY"),
        ("90 days", 90, "DAY"),
        ("90D", 90, "DAY"),
        ("1 day", 1, "DAY"),
        ("14d", 2, "WEEK"),
        ("2w", 2, "WEEK"),
        ("2 WEEKS", 2, "WEEK"),
        ("7 DAYS", 1, "WEEK"),
        ("12h", 12, "HOUR"),
        ("12 HOURS", 12, "HOUR"),
        ("24h", 1, "DAY"),
        ("48h", 2, "DAY"),
        ("168h", 1, "WEEK"),
        ("36h", 36, "HOUR"),
        ("3M", 3, "MONTH"),
        ("3 months", 3, "MONTH"),
        ("12M", 1, "YEAR"),
        ("13 MONTHS", 13, "MONTH"),
        ("24 MONTHS", 2, "YEAR"),
        ("1y", 1, "YEAR"),
        ("3 Years", 3, "YEAR"),
        ("03d", 3, "DAY"),
    ],
)
def test_parse_ttl_canonical(declared: str, amount: int, unit: str) -> None:
    # The canonical form is what tables() reports back (ttlValue, ttlUnit) for the same input.
    ttl = parse_ttl(declared)
    assert ttl is not None
    assert (ttl.amount, ttl.unit) == (amount, unit)
    assert ttl == ttl_from_server(amount, unit)


@pytest.mark.parametrize("declared", [None, "", "0", 0, "0h", "0d", "0 DAYS", "none", "None", "null"])
def test_parse_ttl_none(declared: object) -> None:
    assert parse_ttl(declared) is None


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("1m", "ambiguous"),
        ("30m", "ambiguous"),
        ("1.5d", "invalid ttl"),
        ("-1d", "invalid ttl"),
        ("+3d", "invalid ttl"),
        ("d", "invalid ttl"),
        ("90", "invalid ttl"),
        ("1 mo", "invalid ttl unit"),
        ("5 fortnights", "invalid ttl unit"),
        ("1s", "invalid ttl unit"),
        ("99999999999d", "too large"),
        (True, "invalid ttl"),
    ],
)
def test_parse_ttl_errors(declared: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_ttl(declared)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("14d", "2w", True),
        ("48h", "2d", True),
        ("12M", "1y", True),
        ("30d", "1M", False),
        ("52w", "1y", False),
    ],
)
def test_ttl_equality(a: str, b: str, equal: bool) -> None:
    assert (parse_ttl(a) == parse_ttl(b)) is equal


@pytest.mark.parametrize(
    ("ttl", "sql", "short"),
    [
        (Ttl(90, "DAY"), "90 DAYS", "90d"),
        (Ttl(1, "DAY"), "1 DAY", "1d"),
        (Ttl(2, "WEEK"), "2 WEEKS", "2w"),
        (Ttl(1, "YEAR"), "1 YEAR", "1y"),
        (Ttl(3, "MONTH"), "3 MONTHS", "3M"),
        (Ttl(12, "HOUR"), "12 HOURS", "12h"),
    ],
)
def test_ttl_rendering(ttl: Ttl, sql: str, short: str) -> None:
    assert ttl.sql() == sql
    assert ttl.short() == short
    assert parse_ttl(sql) == ttl
    assert parse_ttl(short) == ttl


@pytest.mark.parametrize(("value", "unit"), [(0, "HOUR"), (None, None), (0, "DAY")])
def test_ttl_from_server_none(value: object, unit: object) -> None:
    assert ttl_from_server(value, unit) is None


# (ttl, partition_by, accepted) as QuestDB 9.3.4 answered ALTER TABLE ... SET TTL.
@pytest.mark.parametrize(
    ("ttl", "partition_by", "accepted"),
    [
        ("1h", "HOUR", True),
        ("36h", "HOUR", True),
        ("13M", "HOUR", True),
        ("12h", "DAY", False),
        ("25h", "DAY", False),
        ("48h", "DAY", True),
        ("90d", "DAY", True),
        ("1M", "DAY", True),
        ("1y", "DAY", True),
        ("10d", "WEEK", False),
        ("14d", "WEEK", True),
        ("1M", "WEEK", True),
        ("60d", "MONTH", False),
        ("4w", "MONTH", False),
        ("1M", "MONTH", True),
        ("13M", "MONTH", True),
        ("6M", "YEAR", False),
        ("18M", "YEAR", False),
        ("365d", "YEAR", False),
        ("24M", "YEAR", True),
        ("1y", "YEAR", True),
        ("1d", "NONE", False),
    ],
)
def test_ttl_partition_rule(ttl: str, partition_by: str, accepted: bool) -> None:
    assert (ttl_partition_error(parse_ttl(ttl), partition_by) is None) is accepted


def test_ttl_partition_messages() -> None:
    assert ttl_partition_error(None, "NONE") is None
    assert ttl_partition_error(parse_ttl("12h"), "DAY") == (
        "TTL 12h is not a whole multiple of the partition size (DAY)"
    )
    assert "partitioned table" in str(ttl_partition_error(parse_ttl("1d"), "NONE"))


@pytest.mark.parametrize(
    ("partition_by", "removable"),
    [("HOUR", True), ("DAY", True), ("WEEK", True), ("MONTH", False), ("YEAR", False)],
)
def test_ttl_removable(partition_by: str, removable: bool) -> None:
    assert ttl_removable(partition_by) is removable
