"""The deployed schema of the four tables (roles/questdb/vars/main.yml) and model → row mapping.

The collector writes exactly these columns with these types: SYMBOL columns as ILP symbols,
TIMESTAMP columns as timestamps, LONG as integers, DOUBLE as floats, BOOLEAN as booleans and
VARCHAR as strings. ``tests/collector/test_schema.py`` keeps this in step with the role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Literal

from collector.models import DaemonMetrics, ExchangeStatus, MetricModel, PipelineMetrics, TradingMetrics
from collector.sink.rows import Row

ColumnType = Literal["TIMESTAMP", "SYMBOL", "LONG", "DOUBLE", "BOOLEAN", "VARCHAR"]


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, ColumnType], ...]
    dedup_upsert_keys: tuple[str, ...]
    timestamp: str = "timestamp"

    def column_types(self) -> dict[str, ColumnType]:
        return dict(self.columns)


def _spec(name: str, keys: tuple[str, ...], *columns: tuple[str, ColumnType]) -> TableSpec:
    return TableSpec(name, (("timestamp", "TIMESTAMP"), *columns), keys)


TABLES: MappingProxyType[str, TableSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _spec(
                "daemon_metrics",
                ("timestamp", "host", "env"),
                ("host", "SYMBOL"),
                ("env", "SYMBOL"),
                ("fetch_count", "LONG"),
                ("error_count", "LONG"),
                ("liquidation_count", "LONG"),
                ("uptime_seconds", "DOUBLE"),
                ("running", "BOOLEAN"),
                ("last_error", "VARCHAR"),
                ("memory_rss_bytes", "LONG"),
                ("cpu_percent", "DOUBLE"),
                ("restart_count", "LONG"),
            ),
            _spec(
                "exchange_status",
                ("timestamp", "exchange", "host", "env"),
                ("exchange", "SYMBOL"),
                ("host", "SYMBOL"),
                ("env", "SYMBOL"),
                ("connected", "BOOLEAN"),
                ("latency_ms", "DOUBLE"),
                ("reconnect_count", "LONG"),
                ("last_message_at", "TIMESTAMP"),
                ("disconnected_at", "TIMESTAMP"),
            ),
            _spec(
                "pipeline_metrics",
                ("timestamp", "exchange", "symbol", "data_type", "host", "env"),
                ("exchange", "SYMBOL"),
                ("symbol", "SYMBOL"),
                ("data_type", "SYMBOL"),
                ("host", "SYMBOL"),
                ("env", "SYMBOL"),
                ("records_count", "LONG"),
                ("bytes_written", "LONG"),
                ("latency_ms", "DOUBLE"),
                ("gap_detected", "BOOLEAN"),
                ("gap_duration_seconds", "DOUBLE"),
            ),
            _spec(
                "trading_metrics",
                ("timestamp", "strategy", "symbol", "venue", "env"),
                ("strategy", "SYMBOL"),
                ("symbol", "SYMBOL"),
                ("venue", "SYMBOL"),
                ("env", "SYMBOL"),
                ("host", "SYMBOL"),
                ("pnl", "DOUBLE"),
                ("unrealized_pnl", "DOUBLE"),
                ("position_size", "DOUBLE"),
                ("orders_placed", "LONG"),
                ("orders_filled", "LONG"),
                ("fill_rate", "DOUBLE"),
                ("exposure", "DOUBLE"),
                ("drawdown", "DOUBLE"),
            ),
        )
    }
)

MODEL_FOR_TABLE: MappingProxyType[str, type[MetricModel]] = MappingProxyType(
    {model.TABLE: model for model in (DaemonMetrics, ExchangeStatus, PipelineMetrics, TradingMetrics)}
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def datetime_ns(value: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exact to the microsecond."""
    return ((value - _EPOCH) // _MICROSECOND) * 1_000


_PLAN = {
    name: (
        tuple(column for column, kind in spec.columns[1:] if kind == "SYMBOL"),
        tuple(
            column for column, kind in spec.columns[1:] if kind in ("LONG", "DOUBLE", "BOOLEAN", "VARCHAR")
        ),
        tuple(column for column, kind in spec.columns[1:] if kind == "TIMESTAMP"),
    )
    for name, spec in TABLES.items()
}


def to_row(sample: MetricModel) -> Row:
    """The row of a validated model (None columns are left out).

    The models' strict types already are the schema's: LONG → int, DOUBLE → float (pydantic turns
    an int into a float), BOOLEAN → bool, VARCHAR → str; tests/collector/test_schema.py checks it.
    """
    table = sample.TABLE
    symbol_names, column_names, timestamp_names = _PLAN[table]
    values = sample.__dict__
    symbols = {name: values[name] for name in symbol_names if values[name] is not None}
    columns = {name: values[name] for name in column_names if values[name] is not None}
    timestamps = {name: datetime_ns(values[name]) for name in timestamp_names if values[name] is not None}
    return Row(table, datetime_ns(values["timestamp"]), symbols, columns, timestamps)
