"""Running the collector under a steady load while a fault is injected, and checking the outcome.

The load is the real pipeline in-process (simulated daemon -> Poller -> collectors -> MetricsClient)
at about 1,000 rows/s: 4 exchanges x 8 symbols x 3 data types plus the daemon, exchange and one
strategy's rows (103 rows a tick) every 0.1 s. Ticks are deterministic (a fixed start), so the rows
expected in QuestDB are exactly ``ticks x rows_per_tick`` per host.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.service.app import build_collectors, validation_factory
from collector.service.poller import Poller
from collector.sink.client import MetricsClient
from collector.sources.simulate import SimulatedDaemon, SimulateSource
from tests.collector.conftest import counts, make_config, wait_all_wal
from tests.collector.helpers import START
from tests.support.questdb_server import QuestDBServer

TICK_SECONDS = 0.1
SYMBOLS = 8  # 1 + 4 + 4 * 8 * 3 + 2 = 103 rows a tick, 1,030 rows/s


@dataclass
class Load:
    """A running collector pipeline with a simulated daemon as its source."""

    client: MetricsClient
    source: SimulateSource
    sim: SimulatedDaemon
    stop: threading.Event
    thread: threading.Thread

    def rows(self) -> int:
        return self.source.next_tick * self.sim.rows_per_tick()

    def sent(self) -> float:
        """Rows QuestDB acknowledged so far (the client's own counter)."""
        value = self.client.metrics.registry.get_sample_value
        tables = ("daemon_metrics", "exchange_status", "pipeline_metrics", "trading_metrics")
        return sum(value("tradewatch_collector_rows_sent_total", {"table": t}) or 0 for t in tables)

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(10)


def start_load(tmp_path: Path, server: QuestDBServer, host: str, **overrides: Any) -> Load:
    config = make_config(
        tmp_path,
        server,
        host=host,
        batch_size=300,
        flush_interval_seconds=0.25,
        retry={"initial_backoff_seconds": 0.1, "max_backoff_seconds": 1.0},
        **overrides,
    )
    sim = SimulatedDaemon(seed=23, start=START, symbols_per_exchange=SYMBOLS, strategies=1, host=host)
    source = SimulateSource(sim)
    client = MetricsClient(config)
    poller = Poller(
        [source],
        build_collectors(),
        client,
        env=config.env,
        host=host,
        validation=validation_factory(config),
        metrics=client.metrics,
    )
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop, TICK_SECONDS), daemon=True)
    thread.start()
    return Load(client, source, sim, stop, thread)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def exact_counts(load: Load) -> dict[str, tuple[int, int]]:
    """(rows, distinct DEDUP keys) per table that the load's ticks must leave in QuestDB: each row once."""
    ticks = load.source.next_tick
    expected = {
        "daemon_metrics": (ticks, ticks),
        "exchange_status": (4 * ticks, 4 * ticks),
        "pipeline_metrics": (4 * SYMBOLS * 3 * ticks, 4 * SYMBOLS * 3 * ticks),
        "trading_metrics": (2 * ticks, 2 * ticks),
    }
    assert sum(rows for rows, _ in expected.values()) == load.rows(), "the expected counts miss a table"
    assert ticks > 0
    return expected


def delivered(server: QuestDBServer, host: str) -> dict[str, tuple[int, int]]:
    wait_all_wal(server)
    return counts(server, host)
