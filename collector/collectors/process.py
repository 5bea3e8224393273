"""The daemon process as the OS sees it (psutil): memory, CPU and restarts."""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcessSample:
    memory_rss_bytes: int
    cpu_percent: float | None  # None on the first look at a process (psutil needs two readings)
    create_time: float


class ProcessInspector:
    """Reads RSS and CPU% of processes by pid, keeping psutil handles for CPU deltas."""

    def __init__(self) -> None:
        self._processes: dict[int, psutil.Process] = {}

    def sample(self, pid: int) -> ProcessSample | None:
        try:
            process = self._processes.get(pid)
            first = process is None
            if process is None:
                process = psutil.Process(pid)
                self._processes = {pid: process, **{k: v for k, v in self._processes.items() if k != pid}}
            with process.oneshot():
                rss = process.memory_info().rss
                cpu = process.cpu_percent(interval=None)
                created = process.create_time()
        except (psutil.Error, OSError, ValueError):
            self._processes.pop(pid, None)
            return None
        if len(self._processes) > 16:
            self._processes = dict(list(self._processes.items())[:16])
        return ProcessSample(int(rss), None if first else float(cpu), float(created))


class RestartTracker:
    """Counts daemon restarts seen by this collector: a new pid/start time, or uptime going back."""

    def __init__(self) -> None:
        self.restarts = 0
        self._identity: tuple[object, ...] | None = None
        self._uptime: float | None = None

    def observe(self, identity: tuple[object, ...] | None, uptime: float | None) -> int:
        new_process = identity is not None and self._identity is not None and identity != self._identity
        uptime_reset = uptime is not None and self._uptime is not None and uptime < self._uptime
        if new_process or uptime_reset:
            self.restarts += 1
        if identity is not None:
            self._identity = identity
        if uptime is not None:
            self._uptime = uptime
        return self.restarts
