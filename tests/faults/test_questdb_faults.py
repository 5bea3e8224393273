"""QuestDB stopped for 60 s, and QuestDB killed with SIGKILL, while the collector ships ~1,000 rows/s.

The outage at the issue's figures, and the server crash: rows QuestDB acknowledged before it died
must still be there after it restarts (the WAL is written before the HTTP response), and every row
produced arrives exactly once in the end (the spool replays the rest; DEDUP UPSERT KEYS absorb what
was in doubt).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collector.sink.client import MetricsClient
from tests.collector.conftest import make_config
from tests.faults.helpers import delivered, exact_counts, start_load, wait_until
from tests.support.questdb_server import QuestDBServer

OUTAGE_SECONDS = 60.0
RETRIES = "tradewatch_collector_flush_retries_total"
MIN_RATE = 900.0  # rows/s the load must keep up while QuestDB is away


@pytest.mark.fault
@pytest.mark.timeout(400)
def test_questdb_stopped_60s_under_1000_rows_per_second(
    tmp_path: Path, fresh_qdb: QuestDBServer, host: str
) -> None:
    load = start_load(tmp_path, fresh_qdb, host)
    try:
        wait_until(lambda: load.sent() > 2_000, 30, "the first rows to reach QuestDB")
        fresh_qdb.stop()
        stopped_at, rows_at_stop = time.monotonic(), load.rows()
        time.sleep(OUTAGE_SECONDS)
        outage = time.monotonic() - stopped_at
        spooled = load.client.spool.pending_rows()
        rate = (load.rows() - rows_at_stop) / outage
        value = load.client.metrics.registry.get_sample_value
        retried = [value(RETRIES, {"kind": kind}) for kind in ("transport", "connect")]
        retries = sum(count or 0 for count in retried)
        fresh_qdb.start()
        time.sleep(1)  # the load goes on against the restarted server for a moment
        load.halt()
        assert load.client.flush(180), "the spool did not drain after QuestDB came back"
    finally:
        load.halt()
        load.client.close(5)
    ticks = load.source.next_tick
    assert outage >= OUTAGE_SECONDS
    assert rate >= MIN_RATE, f"the load ran at {rate:.0f} rows/s during the outage"
    assert spooled >= 0.9 * rate * OUTAGE_SECONDS
    assert retries > 5, "the client did not keep retrying while QuestDB was down"
    assert value("tradewatch_collector_rows_dropped_total", {"reason": "spool_full"}) is None
    got = delivered(fresh_qdb, host)
    assert got == exact_counts(load)  # 0 lost, 0 duplicated, per table
    print(
        f"\nQuestDB down {outage:.1f} s at {rate:.0f} rows/s: {spooled} rows spooled; after recovery "
        f"{sum(t for t, _ in got.values())} rows in QuestDB = {ticks} ticks x {load.sim.rows_per_tick()}"
    )


@pytest.mark.fault
@pytest.mark.timeout(300)
def test_questdb_kill_9_loses_no_acknowledged_row(
    tmp_path: Path, fresh_qdb: QuestDBServer, host: str
) -> None:
    load = start_load(tmp_path, fresh_qdb, host)
    try:
        wait_until(lambda: load.sent() > 5_000, 60, "rows to reach QuestDB")
        fresh_qdb.stop(kill=True)  # SIGKILL, mid-stream
        time.sleep(2)  # a request in flight at the kill has failed (or was acknowledged) by now
        acknowledged = load.sent()
        load.halt()
        assert load.client.close(0.5) is False  # the rest stays spooled on disk
    finally:
        load.halt()
        load.client.close(0.5)
    ticks = load.source.next_tick
    fresh_qdb.start()
    after_restart = sum(total for total, _ in delivered(fresh_qdb, host).values())
    assert after_restart >= acknowledged, f"{acknowledged - after_restart:.0f} acknowledged rows lost"
    # The next collector run on the same spool delivers the rest: every row exactly once.
    with MetricsClient(make_config(tmp_path, fresh_qdb, host=host)) as client:
        assert client.flush(120)
    got = delivered(fresh_qdb, host)
    assert got == exact_counts(load)
    print(
        f"\nQuestDB SIGKILL after {acknowledged:.0f} acknowledged rows: {after_restart} in QuestDB after "
        f"its restart; all {sum(t for t, _ in got.values())} rows of {ticks} ticks there once after replay"
    )
