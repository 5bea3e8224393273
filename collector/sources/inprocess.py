"""In-process status source: the status of a daemon runner living in this process.

The runner's ``get_status()`` may return the nested status document or ccxt_pipeline's flat dict; for
the latter, collector.ccxt watches the runner's exchanges and fills in the rest (RunnerStatus).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from collector.ccxt.hook import RunnerStatus
from collector.models import utc_now
from collector.sources.base import BaseSource, PollResult, Snapshot, Unreachable
from collector.sources.status import parse_status


class StatusProvider(Protocol):
    def get_status(self) -> Mapping[str, Any]: ...


class InProcessSource(BaseSource):
    """Poll the runner's status. An exception of ``get_status()`` means unreachable."""

    def __init__(
        self,
        runner: StatusProvider,
        *,
        name: str = "daemon",
        pid: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.name = name
        self.runner = runner
        self.status = RunnerStatus(runner, clock=clock)
        self.pid = os.getpid() if pid is None else pid
        self._clock = clock

    def poll(self) -> PollResult:
        try:
            data = self.status.document()
        except Exception as err:  # the daemon's own failure: report it, never crash the collector
            return Unreachable(self.name, f"get_status() failed: {err!r}", self._clock(), self.pid)
        received = self._clock()
        return Snapshot(self.name, parse_status(data, received_at=received), received, self.pid)

    def close(self) -> None:
        self.status.close()
