"""The metric models of the data model (four tables, the collector's own health and the backups'
outcomes), with its rules.

Every model is one row of one QuestDB table (``TABLE``), and the one declaration of that table: its
fields are the columns, in order, each typed by the :class:`Column` of its annotation (SYMBOL,
TIMESTAMP, LONG, DOUBLE, BOOLEAN, VARCHAR); ``DEDUP_KEYS`` and ``PARTITION_BY`` complete the table.
``collector.schema`` derives the table specs, the row mapping and the questdb role's table list
(``roles/questdb/files/schema.yml``) from them. Validation follows the data model:
UTC timestamps that are not in the future beyond a small clock skew, non-negative counters, finite
numbers, ``env`` an environment name (``ENV_PATTERN``), ``host`` of at most 255 characters,
``last_message_at`` not after ``timestamp`` and a gap duration only with a gap.

Rules that depend on the deployment (the clock, the allowed skew, the configured exchanges and data
types) come from a :class:`ValidationContext` passed as pydantic validation context::

    DaemonMetrics.model_validate(data, context=ctx.as_context())

Without a context the real clock, a 5 s skew and no exchange / data-type restriction apply.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, TypeGuard

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

LONG_MAX = 2**63 - 1
MAX_SYMBOL_LEN = 255
MAX_TEXT_LEN = 4096
MAX_LATENCY_MS = 10_000.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CONTEXT_KEY = "tradewatch"

ColumnType = Literal["TIMESTAMP", "SYMBOL", "LONG", "DOUBLE", "BOOLEAN", "VARCHAR"]


@dataclass(frozen=True)
class Column:
    """Annotation metadata: the QuestDB type of the column a field is stored in."""

    type: ColumnType


# An environment is data (an inventory names its own): any short, plain name, the form every role checks
# too (tradewatch.stack's env_refusals filter). It is a SYMBOL in every row and a label on every alert.
ENV_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
Env = Annotated[str, Field(strict=True, pattern=ENV_PATTERN), Column("SYMBOL")]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ValidationContext:
    """Deployment-dependent validation rules (clock, skew, configured exchanges and data types)."""

    clock: Callable[[], datetime] = utc_now
    max_skew_seconds: float = 5.0
    exchanges: frozenset[str] | None = None
    data_types: frozenset[str] | None = None

    def as_context(self) -> dict[str, Any]:
        return {CONTEXT_KEY: self}


DEFAULT_CONTEXT = ValidationContext()


def context_of(info: ValidationInfo) -> ValidationContext:
    context = info.context
    ctx = context.get(CONTEXT_KEY) if type(context) is dict else None
    return ctx if type(ctx) is ValidationContext else DEFAULT_CONTEXT


# --- field validators ----------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _encodable(value: str) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValueError(f"is not valid UTF-8 text (character at position {err.start})") from None
    return value


def _symbol_text(value: str) -> str:
    _encodable(value)
    bad = _CONTROL.search(value)
    if bad is not None:
        raise ValueError(f"must not contain control characters (position {bad.start()})")
    if value[0].isspace() or value[-1].isspace():
        raise ValueError("must not start or end with whitespace")
    return value


def _utc_timestamp(value: datetime, info: ValidationInfo) -> datetime:
    value = value.astimezone(UTC)
    if value < EPOCH:
        raise ValueError("must not be before 1970-01-01T00:00:00Z")
    ctx = context_of(info)
    limit = ctx.clock() + timedelta(seconds=ctx.max_skew_seconds)
    if value > limit:
        ahead = (value - limit).total_seconds() + ctx.max_skew_seconds
        raise ValueError(
            f"is {ahead:.3f}s in the future (allowed clock skew {ctx.max_skew_seconds:g}s); "
            "timestamps must be UTC event times"
        )
    return value


def _configured_exchange(value: str, info: ValidationInfo) -> str:
    allowed = context_of(info).exchanges
    if allowed is not None and value not in allowed:
        raise ValueError(f"unknown exchange {value!r}; configured exchanges: {', '.join(sorted(allowed))}")
    return value


def _configured_data_type(value: str, info: ValidationInfo) -> str:
    allowed = context_of(info).data_types
    if allowed is not None and value not in allowed:
        raise ValueError(f"unknown data type {value!r}; configured data types: {', '.join(sorted(allowed))}")
    return value


UtcTimestamp = Annotated[AwareDatetime, AfterValidator(_utc_timestamp), Column("TIMESTAMP")]
SymbolText = Annotated[
    str,
    Field(min_length=1, max_length=MAX_SYMBOL_LEN, strict=True),
    AfterValidator(_symbol_text),
    Column("SYMBOL"),
]
Host = SymbolText
ExchangeName = Annotated[SymbolText, AfterValidator(_configured_exchange)]
DataTypeName = Annotated[SymbolText, AfterValidator(_configured_data_type)]
Text = Annotated[
    str, Field(max_length=MAX_TEXT_LEN, strict=True), AfterValidator(_encodable), Column("VARCHAR")
]
# Numbers are strict: no booleans, no numeric strings; an int is fine where a float is expected.
Counter = Annotated[int, Field(strict=True, ge=0, le=LONG_MAX), Column("LONG")]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False), Column("DOUBLE")]
NonNegative = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False), Column("DOUBLE")]
LatencyMs = Annotated[
    float, Field(strict=True, ge=0, le=MAX_LATENCY_MS, allow_inf_nan=False), Column("DOUBLE")
]
Flag = Annotated[bool, Field(strict=True), Column("BOOLEAN")]


class MetricModel(BaseModel):
    """Common base: one row of ``TABLE`` at the event time ``timestamp`` (the designated timestamp).

    ``DEDUP_KEYS`` are the table's DEDUP UPSERT KEYS: a row written twice (a replayed spool) is
    stored once. Tables are partitioned by ``PARTITION_BY`` and use WAL.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    TABLE: ClassVar[str]
    DEDUP_KEYS: ClassVar[tuple[str, ...]]
    PARTITION_BY: ClassVar[str] = "DAY"
    # Who writes the table's rows: the collector, or the backup program (roles/backup).
    WRITER: ClassVar[Literal["collector", "backup"]] = "collector"

    timestamp: UtcTimestamp
    host: Host
    env: Env


class DaemonMetrics(MetricModel):
    """daemon_metrics: health of the CCXT data daemon, one row per host per interval."""

    TABLE: ClassVar[str] = "daemon_metrics"
    DEDUP_KEYS: ClassVar[tuple[str, ...]] = ("timestamp", "host", "env")

    running: Flag
    fetch_count: Counter | None = None
    error_count: Counter | None = None
    liquidation_count: Counter | None = None
    uptime_seconds: NonNegative | None = None
    last_error: Text | None = None
    memory_rss_bytes: Counter | None = None
    cpu_percent: NonNegative | None = None
    restart_count: Counter | None = None


class ExchangeStatus(MetricModel):
    """exchange_status: connectivity of the daemon to one exchange."""

    TABLE: ClassVar[str] = "exchange_status"
    DEDUP_KEYS: ClassVar[tuple[str, ...]] = ("timestamp", "exchange", "host", "env")

    exchange: ExchangeName
    connected: Flag
    latency_ms: LatencyMs | None = None
    reconnect_count: Counter = 0
    last_message_at: UtcTimestamp | None = None
    disconnected_at: UtcTimestamp | None = None
    # Requests the daemon made to the exchange and how many failed, cumulative per daemon run (the
    # error-rate alert takes their ratio over a window; a smaller value is a restart).
    request_count: Counter | None = None
    error_count: Counter | None = None

    @model_validator(mode="after")
    def _times_consistent(self) -> ExchangeStatus:
        if (
            self.error_count is not None
            and self.request_count is not None
            and self.error_count > self.request_count
        ):
            raise ValueError("error_count must not exceed request_count")
        if self.last_message_at is not None and self.last_message_at > self.timestamp:
            raise ValueError("last_message_at must not be after timestamp")
        if self.disconnected_at is not None:
            if self.connected:
                raise ValueError("disconnected_at must be null while connected")
            if self.disconnected_at > self.timestamp:
                raise ValueError("disconnected_at must not be after timestamp")
        return self


class PipelineMetrics(MetricModel):
    """pipeline_metrics: throughput and quality per exchange, symbol and data type in one interval."""

    TABLE: ClassVar[str] = "pipeline_metrics"
    DEDUP_KEYS: ClassVar[tuple[str, ...]] = ("timestamp", "exchange", "symbol", "data_type", "host", "env")

    exchange: ExchangeName
    symbol: SymbolText
    data_type: DataTypeName
    records_count: Counter
    bytes_written: Counter
    latency_ms: NonNegative | None = None
    gap_detected: Flag = False
    gap_duration_seconds: NonNegative | None = None
    # Failed fetches of this series in the interval.
    error_count: Counter | None = None

    @model_validator(mode="after")
    def _gap_consistent(self) -> PipelineMetrics:
        if self.gap_duration_seconds is not None and not self.gap_detected:
            raise ValueError("gap_duration_seconds is only allowed when gap_detected is true")
        return self


class TradingMetrics(MetricModel):
    """trading_metrics: live performance of one strategy on one symbol and venue."""

    TABLE: ClassVar[str] = "trading_metrics"
    DEDUP_KEYS: ClassVar[tuple[str, ...]] = ("timestamp", "strategy", "symbol", "venue", "env")

    strategy: SymbolText
    symbol: SymbolText
    venue: SymbolText
    pnl: Finite
    unrealized_pnl: Finite = 0.0
    position_size: Finite = 0.0
    orders_placed: Counter = 0
    orders_filled: Counter = 0
    fill_rate: NonNegative | None = None
    exposure: Finite = 0.0
    drawdown: NonNegative = 0.0

    @model_validator(mode="before")
    @classmethod
    def _derive_fill_rate(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("fill_rate") is None:
            placed, filled = data.get("orders_placed"), data.get("orders_filled")
            if _plain_number(placed) and _plain_number(filled) and placed > 0:
                data = {**data, "fill_rate": filled / placed}
        return data


class CollectorSelfMetrics(MetricModel):
    """collector_metrics: the collector's own health, one row per collector per reporting interval.

    ``rows_sent``, ``retries``, ``rejects`` and ``drops`` are cumulative since the collector started
    (the dashboards take deltas and treat a smaller value as a restart); the spool columns are its
    state at ``timestamp``; ``flush_latency_ms`` is the mean flush duration since the previous row.
    """

    TABLE: ClassVar[str] = "collector_metrics"
    DEDUP_KEYS: ClassVar[tuple[str, ...]] = ("timestamp", "host", "env")

    rows_sent: Counter
    rows_spooled: Counter
    spool_bytes: Counter
    spool_age_seconds: NonNegative
    flush_latency_ms: NonNegative | None = None
    retries: Counter
    rejects: Counter
    drops: Counter


class BackupRun(MetricModel):
    """backup_runs: the outcome of one backup of one component (``questdb``, ``grafana``).

    Written by the backup program on the QuestDB host after each run (roles/backup, ``report.py``:
    an INSERT over QuestDB's REST API), not by the collector; the stale-backup alert and the
    self-health dashboard read it. ``bytes_added`` is what the run added to the repository after
    deduplication and compression, ``bytes_processed`` what it read; ``error`` is set on failure
    (and on a success with a warning).
    """

    TABLE: ClassVar[str] = "backup_runs"
    DEDUP_KEYS: ClassVar[tuple[str, ...]] = ("timestamp", "host", "env", "component")
    PARTITION_BY: ClassVar[str] = "MONTH"
    WRITER: ClassVar[Literal["collector", "backup"]] = "backup"

    component: SymbolText
    success: Flag
    duration_seconds: NonNegative
    bytes_added: Counter | None = None
    bytes_processed: Counter | None = None
    snapshot_id: Text | None = None
    error: Text | None = None


def _plain_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


METRIC_MODELS: tuple[type[MetricModel], ...] = (
    DaemonMetrics,
    ExchangeStatus,
    PipelineMetrics,
    TradingMetrics,
    CollectorSelfMetrics,
    BackupRun,
)
