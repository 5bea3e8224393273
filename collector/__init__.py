"""tradewatch collector: ships the health of a CCXT data daemon and trading strategies into QuestDB.

Public API::

    from collector import MetricsClient, load_config, attach
    from collector.models import DaemonMetrics, ExchangeStatus, PipelineMetrics, TradingMetrics
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["MetricsClient", "MonitoringConfig", "__version__", "attach", "load_config"]

if TYPE_CHECKING:
    from collector.config import MonitoringConfig, load_config
    from collector.service.attach import attach
    from collector.sink.client import MetricsClient

_LAZY = {
    "MetricsClient": "collector.sink.client",
    "MonitoringConfig": "collector.config",
    "load_config": "collector.config",
    "attach": "collector.service.attach",
}


def __getattr__(name: str) -> Any:
    """Import the public names lazily (``python -m collector`` stays quick; no import cycles)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'collector' has no attribute {name!r}")
