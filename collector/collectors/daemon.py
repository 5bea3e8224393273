"""DaemonCollector: daemon_metrics from the status' ``daemon`` section plus the process (psutil)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collector.collectors.base import CollectContext, Collected, build, pick, shorten, status_keys
from collector.collectors.process import ProcessInspector, RestartTracker
from collector.models import DaemonMetrics
from collector.sources.base import PollResult, Snapshot

# The section's keys that are columns as they are (running, counters, uptime, RSS, CPU, and any column
# the model grows); the last error is shortened and the restart count may be observed instead.
PICKED = status_keys(DaemonMetrics, "last_error", "restart_count")


class DaemonCollector:
    """One daemon_metrics row per poll.

    - From the status: running, fetch/error/liquidation counts, uptime (or ``started_at``), last error.
    - From the process (pid in the status, a pid file, or this process for attach()): RSS and CPU%,
      unless the status reports them itself.
    - restart_count: the status' value if present, else restarts this collector has observed
      (new pid or start time, or uptime going backwards).
    - When the daemon cannot be asked (Unreachable), a row with running=false and the reason.
    """

    table = DaemonMetrics.TABLE

    def __init__(self, inspector: ProcessInspector | None = None) -> None:
        self.inspector = inspector if inspector is not None else ProcessInspector()
        self._trackers: dict[str, RestartTracker] = {}

    def collect(self, result: PollResult, ctx: CollectContext) -> Collected:
        out = Collected()
        tracker = self._trackers.setdefault(result.source, RestartTracker())
        if not isinstance(result, Snapshot):
            data: dict[str, Any] = {
                "timestamp": result.at,
                "env": ctx.env,
                "host": ctx.host,
                "running": False,
                "last_error": shorten(result.error),
                "restart_count": tracker.restarts,
            }
            self._add_process(data, result.pid, None, tracker)
            build(DaemonMetrics, data, ctx, result.source, out)
            return out
        status = result.status
        section = status.daemon
        if section is None:
            return out
        data = {"timestamp": status.timestamp, "env": ctx.env, "host": status.host or ctx.host}
        data.update(pick(section, *PICKED))
        data.setdefault("running", True)
        if section.get("last_error") is not None:
            data["last_error"] = shorten(section["last_error"])
        if data.get("uptime_seconds") is None:
            data["uptime_seconds"] = _uptime(section.get("started_at"), status.timestamp)
        pid = section.get("pid")
        if type(pid) is not int or pid <= 0:
            pid = result.pid
        identity = self._add_process(data, pid, section.get("started_at"), tracker)
        uptime = data.get("uptime_seconds") if isinstance(data.get("uptime_seconds"), int | float) else None
        observed = tracker.observe(identity, uptime)
        data["restart_count"] = section.get("restart_count", observed)
        build(DaemonMetrics, data, ctx, result.source, out)
        return out

    def _add_process(
        self, data: dict[str, Any], pid: int | None, started_at: Any, tracker: RestartTracker
    ) -> tuple[object, ...] | None:
        """Fill RSS/CPU from psutil when the status lacks them; return the process identity."""
        if pid is None:
            return (started_at,) if started_at is not None else None
        sample = self.inspector.sample(pid)
        if sample is None:
            return (pid, started_at)
        if data.get("memory_rss_bytes") is None:
            data["memory_rss_bytes"] = sample.memory_rss_bytes
        if data.get("cpu_percent") is None and sample.cpu_percent is not None:
            data["cpu_percent"] = sample.cpu_percent
        return (pid, sample.create_time)


def _uptime(started_at: Any, now: datetime) -> float | None:
    if isinstance(started_at, str):
        try:
            started_at = datetime.fromisoformat(started_at)
        except ValueError:
            return None
    if isinstance(started_at, datetime) and started_at.tzinfo is not None:
        return max(0.0, (now - started_at).total_seconds())
    return None
