"""The status document of a daemon runner in this process: its own ``get_status()`` plus what was seen.

Two shapes of ``get_status()`` are supported:

- the nested status document (collector/README.md), passed on as it is;
- ccxt_pipeline's flat dict (``running``, ``shutdown_requested``, ``fetch_count``, ``error_count``,
  ``liquidation_count``, ``uptime_seconds``, ``last_fetch_time``, ``last_error``, ``symbols``,
  ``exchanges``): it becomes the ``daemon`` section, and the observer's ledger adds the ``exchanges``
  and ``pipeline`` sections while the daemon runs. A missing or unknown key is tolerated and counted
  in ``meta`` (``missing_keys``, ``unknown_keys``), never fatal.

The process itself (pid, resident memory, CPU since the last poll) is measured here, in the daemon's
process, so the collector needs no access to it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FLAT_KEYS = (
    "running",
    "shutdown_requested",
    "fetch_count",
    "error_count",
    "liquidation_count",
    "uptime_seconds",
    "last_fetch_time",
    "last_error",
    "symbols",
    "exchanges",
)
DAEMON_KEYS = ("running", "fetch_count", "error_count", "liquidation_count", "uptime_seconds", "last_error")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def is_flat(data: Any) -> bool:
    """ccxt_pipeline's flat shape: no ``daemon`` section and ``exchanges`` (if any) not a mapping."""
    return (
        isinstance(data, Mapping)
        and "daemon" not in data
        and not isinstance(data.get("exchanges"), Mapping)
        and any(key in data for key in FLAT_KEYS)
    )


@dataclass
class ProcessSampler:
    """Resident memory (/proc/self/statm) and CPU use since the previous sample, of this process."""

    _last: tuple[float, float] | None = None

    def sample(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": os.getpid()}
        try:
            with open("/proc/self/statm", "rb") as statm:
                out["memory_rss_bytes"] = int(statm.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
        times = os.times()
        now = (time.monotonic(), times.user + times.system)
        if self._last is not None and now[0] > self._last[0]:
            out["cpu_percent"] = max(0.0, (now[1] - self._last[1]) / (now[0] - self._last[0]) * 100.0)
        self._last = now
        return out


@dataclass
class KeyCounts:
    """How often each missing or unknown key of the flat status was seen (cumulative)."""

    missing: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)

    def count(self, data: Mapping[str, Any]) -> None:
        for key in FLAT_KEYS:
            if key not in data:
                self.missing[key] = self.missing.get(key, 0) + 1
        for key in data:
            if key not in FLAT_KEYS:
                self.unknown[str(key)] = self.unknown.get(str(key), 0) + 1


def flat_document(
    data: Mapping[str, Any],
    now: datetime,
    process: Mapping[str, Any],
    sections: tuple[dict[str, Any], list[dict[str, Any]]] | None,
    keys: KeyCounts,
) -> dict[str, Any]:
    """The status document of a flat ``get_status()``; ``sections`` (exchanges, pipeline) while running."""
    keys.count(data)
    daemon = {key: data[key] for key in DAEMON_KEYS if key in data}
    daemon.update(process)
    document: dict[str, Any] = {"schema_version": 1, "timestamp": now.isoformat(), "daemon": daemon}
    running = data.get("running", True)
    if sections is not None and running is not False:
        document["exchanges"], document["pipeline"] = sections
    document["meta"] = {"missing_keys": dict(keys.missing), "unknown_keys": dict(keys.unknown)}
    return document
