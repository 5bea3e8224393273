"""The deployed schema (roles/questdb/vars/main.yml) and the model → row mapping.

The collector writes exactly these columns with these types: SYMBOL columns as ILP symbols,
TIMESTAMP columns as timestamps, LONG as integers, DOUBLE as floats, BOOLEAN as booleans and
VARCHAR as strings. ``tests/collector/test_schema.py`` keeps this in step with the role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

from collector.models import (
    CollectorSelfMetrics,
    DaemonMetrics,
    ExchangeStatus,
    MetricModel,
    PipelineMetrics,
    TradingMetrics,
)
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
            _spec(
                "collector_metrics",
                ("timestamp", "host", "env"),
                ("host", "SYMBOL"),
                ("env", "SYMBOL"),
                ("rows_sent", "LONG"),
                ("rows_spooled", "LONG"),
                ("spool_bytes", "LONG"),
                ("spool_age_seconds", "DOUBLE"),
                ("flush_latency_ms", "DOUBLE"),
                ("retries", "LONG"),
                ("rejects", "LONG"),
                ("drops", "LONG"),
            ),
        )
    }
)

MODEL_FOR_TABLE: MappingProxyType[str, type[MetricModel]] = MappingProxyType(
    {
        model.TABLE: model
        for model in (DaemonMetrics, ExchangeStatus, PipelineMetrics, TradingMetrics, CollectorSelfMetrics)
    }
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def datetime_ns(value: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exact to the microsecond."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


_NEW = tuple.__new__


def _nullable(table: str) -> frozenset[str]:
    """The fields of a table's model that may hold None (an unknown name counts as nullable)."""
    fields = MODEL_FOR_TABLE[table].model_fields
    return frozenset(
        name
        for name, info in fields.items()
        if info.default is None or type(None) in get_args(info.annotation) or info.annotation is None
    )


def _mapping_source(variable: str, names: tuple[str, ...], nullable: frozenset[str] | None) -> list[str]:
    """Lines that build ``variable`` as a dict display of ``d[name]``, without the None values."""
    items = ", ".join(f"{name!r}: d[{name!r}]" for name in names)
    lines = [f"    {variable} = {{{items}}}"]
    for name in names:
        if nullable is None or name in nullable:
            lines += [f"    if {variable}[{name!r}] is None:", f"        del {variable}[{name!r}]"]
    return lines


def _converter(spec: TableSpec) -> Callable[[dict[str, Any]], Row]:
    """A model's ``__dict__`` → Row function for one table, generated from its spec.

    This is the client's hot path (one call per row): dict displays with constant keys are several
    times faster than building the dicts in a loop or from ``zip()``. The names are the schema's
    own identifiers, checked below, so the generated source is plain and safe.
    """
    kinds = spec.columns[1:]
    symbols = tuple(name for name, kind in kinds if kind == "SYMBOL")
    columns = tuple(name for name, kind in kinds if kind in ("LONG", "DOUBLE", "BOOLEAN", "VARCHAR"))
    timestamps = tuple(name for name, kind in kinds if kind == "TIMESTAMP")
    for name in (spec.name, spec.timestamp, *symbols, *columns, *timestamps):
        if not name.isidentifier():
            raise ValueError(f"not an identifier: {name!r}")
    lines = ["def convert(d):", f"    when = d[{spec.timestamp!r}]", "    last = _last[0]"]
    lines += ["    if when == last[0]:", "        at = last[1]", "    else:"]
    lines += ["        at = _ns(when)", "        _last[0] = (when, at)"]
    nullable = _nullable(spec.name) if spec.name in MODEL_FOR_TABLE else None
    lines += _mapping_source("s", symbols, nullable) + _mapping_source("c", columns, nullable)
    lines.append("    t = {}")
    for name in timestamps:
        lines += [f"    v = d[{name!r}]", "    if v is not None:", f"        t[{name!r}] = _ns(v)"]
    lines.append(f"    return _new(_Row, ({spec.name!r}, at, s, c, t))")
    scope: dict[str, Any] = {"_ns": datetime_ns, "_new": _NEW, "_Row": Row, "_last": [(None, 0)]}
    exec(compile("\n".join(lines), f"<to_row {spec.name}>", "exec"), scope)
    return cast(Callable[[dict[str, Any]], Row], scope["convert"])


_CONVERTERS = {name: _converter(spec) for name, spec in TABLES.items()}


def to_row(sample: MetricModel) -> Row:
    """The row of a validated model (None columns are left out).

    The models' strict types already are the schema's: LONG → int, DOUBLE → float (pydantic turns
    an int into a float), BOOLEAN → bool, VARCHAR → str; tests/collector/test_schema.py checks it.
    The rows of one poll share their timestamp: each table's converter remembers the last one.
    """
    return _CONVERTERS[sample.TABLE](sample.__dict__)


def to_rows(samples: Iterable[MetricModel]) -> list[Row]:
    """``[to_row(sample) for sample in samples]`` without a call per sample (the client's hot path)."""
    converters = _CONVERTERS
    return [converters[sample.TABLE](sample.__dict__) for sample in samples]
