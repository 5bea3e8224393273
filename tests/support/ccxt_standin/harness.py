"""The stand-in daemon running as the real one's CLI runs it: ``await start()``, then wait for a
shutdown request, then ``await stop()``, on an event loop of its own thread (the daemon's process),
with short intervals and retry delays for tests. ``start()`` returns once the daemon's ``start()``
has returned (its first OI and funding fetch done)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .daemon import FETCH_RETRY_CONFIG, DaemonRunner


class RunningDaemon:
    def __init__(self, runner: DaemonRunner, retry_base_delay: float = 0.05) -> None:
        self.runner = runner
        self.retry_base_delay = retry_base_delay
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="standin-daemon", daemon=True)
        self._saved_delay = FETCH_RETRY_CONFIG.base_delay
        self.error: BaseException | None = None
        self.started = threading.Event()

    async def _serve(self) -> None:
        try:
            await self.runner.start()
            self.started.set()
            while not self.runner.get_status()["shutdown_requested"]:
                await asyncio.sleep(0.02)
        finally:
            self.started.set()
            await self.runner.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as err:  # surfaced by stop()
            self.error = err
        finally:
            self.loop.close()

    def start(self, wait_running: float = 30.0, wait: bool = True) -> RunningDaemon:
        """Start the daemon; with ``wait``, return once its start() returned."""
        FETCH_RETRY_CONFIG.base_delay = self.retry_base_delay
        self._thread.start()
        if wait:
            self.started.wait(wait_running)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """request_shutdown(), as a signal handler would, and wait for stop() to finish."""
        self.loop.call_soon_threadsafe(self.runner.request_shutdown)
        self._thread.join(timeout)
        FETCH_RETRY_CONFIG.base_delay = self._saved_delay
        if self.error is not None:
            raise self.error

    def __enter__(self) -> RunningDaemon:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
