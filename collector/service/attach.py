"""In-process integration: ``attach(daemon_runner, config)`` ships the daemon's metrics from a thread.

::

    from collector import attach

    handle = attach(runner, "/etc/tradewatch/collector.yml")   # or a MonitoringConfig / dict
    ...
    handle.stop()   # stops polling and flushes (rows left over stay spooled for the next start)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry

from collector.config import MonitoringConfig, config_from_mapping, load_config
from collector.service.app import CollectorApp
from collector.sources.inprocess import InProcessSource, StatusProvider


class AttachedCollector:
    """A collector polling ``get_status()`` of an in-process daemon on a background thread."""

    def __init__(self, app: CollectorApp) -> None:
        self.app = app
        self._thread = threading.Thread(target=app.run, name="tradewatch-collector", daemon=True)

    @property
    def client(self) -> Any:
        return self.app.client

    def start(self) -> AttachedCollector:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Stop polling, flush within ``timeout`` (default: service.shutdown_timeout_seconds)."""
        self.app.stop_event.set()
        self._thread.join(max(5.0, self.app.config.poll_interval_seconds * 2))
        return self.app.shutdown(timeout)

    def __enter__(self) -> AttachedCollector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def attach(
    daemon_runner: StatusProvider,
    config: MonitoringConfig | Mapping[str, Any] | str | Path,
    *,
    name: str = "daemon",
    registry: CollectorRegistry | None = None,
) -> AttachedCollector:
    """Start collecting from ``daemon_runner.get_status()``; the config's ``sources`` are not used."""
    if isinstance(config, MonitoringConfig):
        settings = config
    elif isinstance(config, Mapping):
        settings = config_from_mapping(config)
    else:
        settings = load_config(config)
    source = InProcessSource(daemon_runner, name=name)
    return AttachedCollector(CollectorApp(settings, [source], registry=registry)).start()
