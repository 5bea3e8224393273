"""QuestDB stopped for more than 30 s while rows stream: every row arrives exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from collector.service.app import build_collectors, validation_factory
from collector.service.poller import Poller
from collector.sink.client import MetricsClient
from collector.sources.simulate import SimulatedDaemon, SimulateSource
from tests.collector.conftest import make_config, pg_query, wait_all_wal
from tests.collector.helpers import START
from tests.support.questdb_server import QuestDBServer

OUTAGE_SECONDS = 32.0
DISTINCT = {
    "daemon_metrics": "timestamp, host, env",
    "exchange_status": "timestamp, exchange, host, env",
    "pipeline_metrics": "timestamp, exchange, symbol, data_type, host, env",
    "trading_metrics": "timestamp, strategy, symbol, venue, env",
}


def counts(server: QuestDBServer, host: str) -> dict[str, tuple[int, int]]:
    """Per table: (rows, distinct DEDUP keys) of this test's host."""
    result = {}
    for table, keys in DISTINCT.items():
        (total,) = pg_query(server, f"SELECT count() FROM {table} WHERE host = %s", (host,))[0]
        (distinct,) = pg_query(
            server, f"SELECT count() FROM (SELECT DISTINCT {keys} FROM {table} WHERE host = %s)", (host,)
        )[0]
        result[table] = (int(total), int(distinct))
    return result


@pytest.mark.fault
@pytest.mark.timeout(300)
def test_questdb_outage_loses_and_duplicates_nothing(
    tmp_path: Path, fresh_qdb: QuestDBServer, host: str
) -> None:
    config = make_config(
        tmp_path,
        fresh_qdb,
        host=host,
        batch_size=300,
        flush_interval_seconds=0.25,
        retry={"initial_backoff_seconds": 0.1, "max_backoff_seconds": 1.0},
    )
    sim = SimulatedDaemon(seed=11, start=START, symbols_per_exchange=10, strategies=1, host=host)
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
    thread = threading.Thread(target=poller.run, args=(stop, 0.1), daemon=True)
    value = client.metrics.registry.get_sample_value
    try:
        thread.start()
        time.sleep(3)
        fresh_qdb.stop()
        stopped_at = time.monotonic()
        ticks_at_stop = source.next_tick
        time.sleep(OUTAGE_SECONDS)
        spooled_during_outage = client.spool.pending_rows()
        retries = sum(
            value("tradewatch_collector_flush_retries_total", {"kind": k}) or 0
            for k in ("transport", "connect")
        )
        fresh_qdb.start()
        outage = time.monotonic() - stopped_at
        time.sleep(3)
        stop.set()
        thread.join(10)
        assert client.flush(120), "the spool did not drain after QuestDB came back"
    finally:
        stop.set()
        client.close(5)
    produced_ticks = source.next_tick
    expected = produced_ticks * sim.rows_per_tick()
    assert outage >= 30
    streamed_during_outage = (source.next_tick - ticks_at_stop) * sim.rows_per_tick()
    assert streamed_during_outage > 5_000  # rows kept streaming while QuestDB was down
    assert spooled_during_outage > 5_000
    assert retries > 5
    assert value("tradewatch_collector_rows_dropped_total", {"reason": "spool_full"}) is None
    wait_all_wal(fresh_qdb)
    got = counts(fresh_qdb, host)
    assert got["daemon_metrics"] == (produced_ticks, produced_ticks)
    assert got["exchange_status"] == (4 * produced_ticks, 4 * produced_ticks)
    assert got["pipeline_metrics"] == (120 * produced_ticks, 120 * produced_ticks)
    assert got["trading_metrics"] == (2 * produced_ticks, 2 * produced_ticks)
    assert sum(total for total, _ in got.values()) == expected
    print(
        f"\noutage {outage:.1f}s: {produced_ticks} ticks, {expected} rows produced, "
        f"{sum(t for t, _ in got.values())} rows in QuestDB, {sum(d for _, d in got.values())} distinct, "
        f"{spooled_during_outage} spooled at the end of the outage, {retries:.0f} retries"
    )
