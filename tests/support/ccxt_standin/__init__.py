"""A stand-in for ccxt_pipeline's daemon (gptcompany/nautilus_dev, scripts/ccxt_pipeline), written here.

It has the public surface the tradewatch hook relies on, with the same names, signatures and
semantics (read from the daemon's public source, not copied): ``DaemonRunner`` with its flat
``get_status()``, counters, retry and reconnect loop, ``_orchestrator`` (a ``FetchOrchestrator`` of
per-venue fetchers returning ``FetchResult``), ``_liquidation_manager`` (a ``LiquidationStreamManager``
of per-venue streams that reconnect with backoff), ``_symbols`` and ``_on_liquidation``. The network
is simulated: by default no venue is reachable (as on our machines); ``Network`` makes some reachable,
with a latency and a liquidation rate.
"""

from .daemon import FETCH_RETRY_CONFIG, DaemonRunner, DaemonStats, RetryConfig
from .fetchers import FetchOrchestrator, FetchResult, get_all_fetchers
from .models import FundingRate, Liquidation, OpenInterest, Side, Venue
from .network import NETWORK, Network
from .streams import BaseLiquidationStream, LiquidationStreamManager

__all__ = [
    "FETCH_RETRY_CONFIG",
    "NETWORK",
    "BaseLiquidationStream",
    "DaemonRunner",
    "DaemonStats",
    "FetchOrchestrator",
    "FetchResult",
    "FundingRate",
    "Liquidation",
    "LiquidationStreamManager",
    "Network",
    "OpenInterest",
    "RetryConfig",
    "Side",
    "Venue",
    "get_all_fetchers",
]
