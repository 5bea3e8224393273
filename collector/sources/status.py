"""The status document: one JSON schema for get_status(), the HTTP endpoint and the status file.

Only the envelope is checked here; each section entry becomes one metric row and is validated by
its model (collector.models), so one bad entry costs one row with a clear error, not the poll.
The full schema with field meanings is in collector/README.md; an example in
collector/examples/status.json. In short::

    {
      "schema_version": 1,                       # optional, 1
      "timestamp": "2025-06-01T12:00:00Z",       # snapshot time (UTC); default: when it was read
      "host": "ccxt-1",                          # optional; default: the collector's host
      "daemon": {"running": true, "pid": 4242, "started_at": "...", "uptime_seconds": 3600.0,
                 "fetch_count": 1200, "error_count": 3, "liquidation_count": 57,
                 "last_error": null, "restart_count": 0,
                 "memory_rss_bytes": null, "cpu_percent": null},
      "exchanges": {"binance": {"connected": true, "latency_ms": 42.0, "reconnect_count": 1,
                                "last_message_at": "...", "disconnected_at": null}},
      "pipeline": [{"exchange": "binance", "symbol": "BTC/USDT:USDT", "data_type": "oi",
                    "records_count": 10, "bytes_written": 2048, "latency_ms": 12.5,
                    "gap_detected": false, "gap_duration_seconds": null}],
      "trading": [{"strategy": "basis-1", "symbol": "BTC/USDT:USDT", "venue": "binance",
                   "pnl": 120.5, "unrealized_pnl": -3.2, "position_size": 0.5,
                   "orders_placed": 10, "orders_filled": 7, "fill_rate": null,
                   "exposure": 30500.0, "drawdown": 1.2}]
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from collector.config import format_errors


class StatusError(ValueError):
    """A status document that is not a document of this schema."""


class StatusDocument(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = 1
    timestamp: AwareDatetime
    host: str | None = Field(default=None, min_length=1, max_length=255)
    daemon: dict[str, Any] | None = None
    exchanges: dict[str, dict[str, Any]] = Field(default_factory=dict)
    pipeline: list[dict[str, Any]] = Field(default_factory=list)
    trading: list[dict[str, Any]] = Field(default_factory=list)
    # From the hook in the daemon's process (collector.ccxt): keys of the daemon's own status it did
    # not find or did not know (cumulative counts), and status documents it had to drop just before.
    meta: dict[str, Any] = Field(default_factory=dict)


def parse_status(data: Any, *, received_at: datetime) -> StatusDocument:
    """Validate the envelope; a missing ``timestamp`` becomes ``received_at``."""
    if not isinstance(data, Mapping):
        raise StatusError(f"status document must be a JSON object, not {type(data).__name__}")
    if data.get("timestamp") is None:
        data = {**data, "timestamp": received_at}
    try:
        return StatusDocument.model_validate(data)
    except ValidationError as err:
        raise StatusError("invalid status document: " + "; ".join(format_errors(err))) from None
