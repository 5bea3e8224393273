"""The hook in the daemon's process: status documents of its runner, published into the channel.

``RunnerStatus.document()`` is one status document of a runner living in this process: its own
``get_status()`` (nested, or ccxt_pipeline's flat dict plus what the observer saw). The
``StatusPublisher`` thread writes one into the status channel (collector.channel) every interval;
the collector service ships them. The thread never raises into the daemon and never touches its
event loop: a failed poll is logged (once a minute at most) and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from collector.ccxt.ledger import Ledger
from collector.ccxt.observer import DaemonObserver
from collector.ccxt.status import KeyCounts, ProcessSampler, flat_document, is_flat
from collector.channel import QueueWriter
from collector.models import utc_now

log = logging.getLogger("collector.ccxt")
LOG_EVERY_SECONDS = 60.0


def looks_like_ccxt(runner: Any) -> bool:
    """A ccxt_pipeline DaemonRunner (or a stand-in with its surface), whose exchanges can be watched."""
    return hasattr(runner, "_orchestrator") or hasattr(runner, "_liquidation_manager")


class RunnerStatus:
    """Status documents of a daemon runner in this process (any shape of ``get_status()``)."""

    def __init__(self, runner: Any, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.runner = runner
        self._clock = clock
        self.ledger = Ledger()
        self.keys = KeyCounts()
        self.process = ProcessSampler()
        self.observer = DaemonObserver(runner, self.ledger, clock=clock) if looks_like_ccxt(runner) else None

    def document(self) -> Any:
        """One status document (what the runner returned, when that is not the flat shape)."""
        data = self.runner.get_status()
        if not is_flat(data):
            return data
        now = self._clock()
        sections = None
        if self.observer is not None:
            self.observer.poll(now)
            symbols = data.get("symbols")
            names = [str(s) for s in symbols] if isinstance(symbols, list | tuple) else []
            sections = self.ledger.snapshot(now, names)
        return flat_document(data, now, self.process.sample(), sections, self.keys)

    def close(self) -> None:
        if self.observer is not None:
            self.observer.close()


class StatusPublisher:
    """Every ``interval`` seconds, one status document of the runner into the channel."""

    def __init__(self, status: RunnerStatus, writer: QueueWriter, interval: float) -> None:
        self.status = status
        self.writer = writer
        self.interval = interval
        self.failures = 0
        self._last_log = -LOG_EVERY_SECONDS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tradewatch-hook", daemon=True)

    def start(self) -> StatusPublisher:
        self._thread.start()
        return self

    def poll_once(self) -> bool:
        """Publish one document; False when it could not be (the channel full or failing)."""
        try:
            return self.writer.put(self.status.document())
        except Exception as err:  # never into the daemon: count and log now and then
            self.failures += 1
            now = time.monotonic()
            if now - self._last_log >= LOG_EVERY_SECONDS:
                self._last_log = now
                log.warning(
                    "tradewatch hook: status not published (%s failures so far): %r", self.failures, err
                )
            return False

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            self.poll_once()
            due += self.interval
            now = time.monotonic()
            due = max(due, now)
            self._stop.wait(due - now)

    def stop(self, timeout: float | None = None) -> bool:
        """Stop publishing (one last document first) and put the runner back as it was."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout if timeout is not None else max(5.0, 2 * self.interval))
        self.poll_once()
        self.status.close()
        return True

    def __enter__(self) -> StatusPublisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ChannelSettings(Protocol):
    """Where and how often the hook queues its status (collector.config.HookConfig)."""

    queue_dir: Path
    interval_seconds: float
    max_documents: int


def publisher(runner: Any, settings: ChannelSettings) -> StatusPublisher:
    """A started publisher of ``runner``'s status into the channel of ``settings``."""
    writer = QueueWriter(settings.queue_dir, max_documents=settings.max_documents)
    return StatusPublisher(RunnerStatus(runner), writer, settings.interval_seconds).start()
