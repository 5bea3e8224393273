"""``attach(daemon_runner, config)``: watch a daemon runner living in this process.

Two ways, chosen by the configuration:

- a hook configuration (``queue_dir``, ``interval_seconds``, ``max_documents``: collector.config
  HookConfig, e.g. the file the collector role writes, /etc/tradewatch/daemon-hook.yml): the runner's
  status goes into the status channel every interval, and the collector service ships it. This is
  the production path: the daemon's process holds no QuestDB credentials, and nothing is lost while
  the service restarts;
- a full collector configuration (MonitoringConfig): a collector in this process ships the status
  to QuestDB itself (development, tests).

::

    from collector import attach

    hook = attach(runner, "/etc/tradewatch/daemon-hook.yml")   # before or after runner.start()
    ...
    hook.stop()   # optional: one last status, and the runner is put back as it was

The runner may be ccxt_pipeline's DaemonRunner as it is (its flat ``get_status()`` plus its
exchanges, watched by collector.ccxt) or anything whose ``get_status()`` returns the status document.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from collector.ccxt.hook import StatusPublisher, publisher
from collector.config import (
    ConfigError,
    HookConfig,
    MonitoringConfig,
    config_from_mapping,
    format_errors,
    read_yaml,
)
from collector.service.app import CollectorApp
from collector.sources.inprocess import InProcessSource, StatusProvider


class AttachedCollector:
    """A collector polling a runner in this process on a background thread."""

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
        return self.app.shutdown(timeout)  # closes the source: the runner is put back as it was

    def __enter__(self) -> AttachedCollector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _settings(
    config: HookConfig | MonitoringConfig | Mapping[str, Any] | str | Path,
) -> HookConfig | MonitoringConfig:
    if isinstance(config, HookConfig | MonitoringConfig):
        return config
    data = dict(config) if isinstance(config, Mapping) else read_yaml(Path(config))
    if "queue_dir" not in data:
        return config_from_mapping(data)
    try:
        return HookConfig(**data)
    except ValidationError as err:
        raise ConfigError(
            str(config) if not isinstance(config, Mapping) else "(mapping)", format_errors(err)
        ) from None


def attach(
    daemon_runner: StatusProvider,
    config: HookConfig | MonitoringConfig | Mapping[str, Any] | str | Path,
    *,
    name: str = "daemon",
    registry: CollectorRegistry | None = None,
) -> StatusPublisher | AttachedCollector:
    """Start watching ``daemon_runner`` (see the module's description); the config's ``sources`` are
    not used."""
    settings = _settings(config)
    if isinstance(settings, HookConfig):
        return publisher(daemon_runner, settings)
    source = InProcessSource(daemon_runner, name=name)
    return AttachedCollector(CollectorApp(settings, [source], registry=registry)).start()
