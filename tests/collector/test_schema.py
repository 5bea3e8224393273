"""The tables derive from the models; the rows the collector writes match them exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from collector.models import DaemonMetrics, ExchangeStatus, MetricModel, PipelineMetrics, TradingMetrics
from collector.schema import ROLE_SCHEMA_FILE, TABLES, datetime_ns, role_schema_yaml, table_spec, to_row
from collector.sink.packed import check_row, pack_rows, unpack_rows
from collector.sink.rows import Row, RowEncodingError
from tests.support.paths import REPO
from tests.support.schema import schema

PYTHON_TYPES = {"LONG": int, "DOUBLE": float, "BOOLEAN": bool, "VARCHAR": str}


def test_the_role_schema_file_is_generated_from_the_models() -> None:
    """roles/questdb/files/schema.yml is what `python -m collector.schema` writes from the models."""
    generated = (REPO / ROLE_SCHEMA_FILE).read_text()
    assert generated == role_schema_yaml(), (
        f"{ROLE_SCHEMA_FILE} is behind the models: python -m collector.schema > {ROLE_SCHEMA_FILE}"
    )
    assert [t["name"] for t in schema()] == list(TABLES)


def test_every_field_is_a_column_of_its_declared_type() -> None:
    """The Column of each annotation decides the type; a field without one is refused."""
    assert TABLES["daemon_metrics"].column_types()["running"] == "BOOLEAN"
    assert TABLES["exchange_status"].column_types()["exchange"] == "SYMBOL"
    assert TABLES["exchange_status"].column_types()["last_message_at"] == "TIMESTAMP"
    assert TABLES["daemon_metrics"].column_types()["last_error"] == "VARCHAR"

    class Untyped(DaemonMetrics):
        TABLE: ClassVar[str] = "untyped"
        note: str | None = None

    with pytest.raises(TypeError, match=r"Untyped\.note has no Column type"):
        table_spec(Untyped)


def full_samples() -> list[MetricModel]:
    now = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    return [
        DaemonMetrics(
            timestamp=now,
            host="h",
            env="dev",
            running=True,
            fetch_count=1,
            error_count=2,
            liquidation_count=3,
            uptime_seconds=4,
            last_error="e",
            memory_rss_bytes=5,
            cpu_percent=6,
            restart_count=7,
        ),
        ExchangeStatus(
            timestamp=now,
            host="h",
            env="dev",
            exchange="okx",
            connected=False,
            latency_ms=1,
            reconnect_count=2,
            last_message_at=now - timedelta(seconds=2),
            disconnected_at=now - timedelta(seconds=1),
            request_count=9,
            error_count=3,
        ),
        PipelineMetrics(
            timestamp=now,
            host="h",
            env="dev",
            exchange="okx",
            symbol="BTC/USDT:USDT",
            data_type="oi",
            records_count=1,
            bytes_written=2,
            latency_ms=3,
            gap_detected=True,
            gap_duration_seconds=4,
            error_count=5,
        ),
        TradingMetrics(
            timestamp=now,
            host="h",
            env="dev",
            strategy="s",
            symbol="X",
            venue="okx",
            pnl=1,
            unrealized_pnl=2,
            position_size=3,
            orders_placed=4,
            orders_filled=2,
            exposure=5,
            drawdown=6,
        ),
    ]


@pytest.mark.parametrize("sample", full_samples(), ids=lambda s: s.TABLE)
def test_rows_are_typed_as_the_schema(sample: MetricModel) -> None:
    row = to_row(sample)
    spec = TABLES[row.table]
    kinds = spec.column_types()
    assert row.timestamp_ns == datetime_ns(sample.timestamp)
    assert row.timestamp_ns % 1_000_000_000 == 123_456_000
    assert {name for name in row.symbols} == {n for n, k in kinds.items() if k == "SYMBOL"}
    assert {name for name in row.timestamps} == {n for n, k in kinds.items() if k == "TIMESTAMP"} - {
        "timestamp"
    }
    expected_columns = {n for n, k in kinds.items() if k in PYTHON_TYPES}
    assert set(row.columns) == expected_columns
    for name, value in row.columns.items():
        assert type(value) is PYTHON_TYPES[kinds[name]], (name, value)
    assert unpack_rows(pack_rows([row]), 1) == [row]


def test_none_columns_are_left_out() -> None:
    sample = DaemonMetrics(timestamp=datetime(2025, 1, 1, tzinfo=UTC), host="h", env="dev", running=False)
    row = to_row(sample)
    assert row.columns == {"running": False}
    assert row.symbols == {"host": "h", "env": "dev"}


def test_encoding_round_trips_floats_ints_and_text() -> None:
    row = Row("daemon_metrics", 1, {"host": "ä ß,=\n"}, {"a": 1, "b": 1.0, "c": "x\ny", "d": True}, {"t": 5})
    (back,) = unpack_rows(pack_rows([row]), 1)
    assert back == row
    assert type(back.columns["a"]) is int
    assert type(back.columns["b"]) is float


@pytest.mark.parametrize(
    "columns",
    [{"x": float("nan")}, {"x": float("inf")}, {"x": object()}, {"x": "bad \udcff"}, {"x": b"bytes"}],
)
def test_unencodable_rows_are_refused(columns: dict[str, object]) -> None:
    with pytest.raises(RowEncodingError, match="cannot encode row for table 't'"):
        check_row(Row("t", 1, {}, columns, {}))  # type: ignore[arg-type]
