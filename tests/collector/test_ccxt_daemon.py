"""The production path against a real QuestDB: the stand-in of ccxt_pipeline's daemon with every
venue unreachable, its hook writing into the status channel, the collector service reading it.
Rows are counted exactly: every document the hook queued becomes its rows in the three tables, once,
across a restart of the collector; documents the full channel could not take are counted as drops."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collector.ccxt.hook import RunnerStatus, StatusPublisher
from collector.channel import QueueWriter, document_names
from collector.service.app import CollectorApp, build_sources
from tests.collector.conftest import make_config, pg_query, wait_all_wal
from tests.support.ccxt_standin import DaemonRunner, Network
from tests.support.ccxt_standin.harness import RunningDaemon
from tests.support.questdb_server import QuestDBServer

FAST = {"oi_interval_minutes": 0.02, "funding_interval_minutes": 0.04}
VENUES = {"binance", "bybit", "hyperliquid"}


class RecordingWriter(QueueWriter):
    """The channel's writer, keeping a copy of every document it queued."""

    def __init__(self, path: Path, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.documents: list[dict[str, Any]] = []

    def put(self, document: Any) -> bool:
        queued = super().put(document)
        if queued:
            self.documents.append(copy.deepcopy(document))
        return queued


@contextmanager
def collector(tmp_path: Path, qdb: QuestDBServer, host: str, queue: Path) -> Iterator[CollectorApp]:
    """The collector service's app reading the channel (its own thread), shut down on exit."""
    source = {"type": "queue", "path": str(queue), "stale_after_seconds": 3600}
    config = make_config(tmp_path, qdb, host=host, sources=[source], poll_interval_seconds=0.2)
    app = CollectorApp(config, build_sources(config))
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        deadline = time.monotonic() + 30
        while document_names(queue) and time.monotonic() < deadline:
            time.sleep(0.1)
        app.stop_event.set()
        thread.join(10)
        assert app.shutdown(30), "rows left in the collector's spool"


def expected_rows(documents: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "daemon_metrics": len(documents),
        "exchange_status": sum(len(d.get("exchanges", {})) for d in documents),
        "pipeline_metrics": sum(len(d.get("pipeline", [])) for d in documents),
    }


def stored(qdb: QuestDBServer, host: str) -> dict[str, int]:
    wait_all_wal(qdb)
    tables = ("daemon_metrics", "exchange_status", "pipeline_metrics")
    return {t: int(pg_query(qdb, f"SELECT count() FROM {t} WHERE host = %s", (host,))[0][0]) for t in tables}


def test_every_venue_failing_fills_the_three_tables_exactly(
    tmp_path: Path, qdb: QuestDBServer, host: str
) -> None:
    queue = tmp_path / "queue"
    queue.mkdir()
    runner = DaemonRunner(network=Network(), **FAST)
    writer = RecordingWriter(queue)
    hook = StatusPublisher(RunnerStatus(runner), writer, interval=0.25).start()
    with collector(tmp_path, qdb, host, queue):
        with RunningDaemon(runner):
            time.sleep(5)
        hook.stop()  # its last document says the daemon stopped
    documents = writer.documents
    assert stored(qdb, host) == expected_rows(documents)  # each document's rows, once

    running = [d for d in documents if d["daemon"]["running"]]
    assert len(running) >= 15 and documents[-1]["daemon"]["running"] is False
    latest = pg_query(
        qdb,
        "SELECT exchange, connected, request_count, error_count, disconnected_at IS NOT NULL "
        "FROM exchange_status WHERE host = %s LATEST ON timestamp PARTITION BY exchange ORDER BY exchange",
        (host,),
    )
    assert {row[0] for row in latest} == VENUES
    for exchange, connected, requests, errors, disconnected in latest:
        assert (connected, disconnected) == (False, True), exchange
        assert errors == requests > 0, exchange
    (daemon_errors,) = pg_query(
        qdb,
        "SELECT error_count FROM daemon_metrics WHERE host = %s AND running "
        "LATEST ON timestamp PARTITION BY host",
        (host,),
    )[0]
    assert daemon_errors == sum(row[3] for row in latest)  # the daemon's errors are the venues' errors
    (final,) = pg_query(
        qdb,
        "SELECT error_count FROM daemon_metrics WHERE host = %s LATEST ON timestamp PARTITION BY host",
        (host,),
    )[0]
    assert final == runner.stats.error_count  # the stopped daemon's last word
    gaps = pg_query(
        qdb,
        "SELECT data_type, count(), sum(records_count), sum(CASE WHEN gap_detected THEN 0 ELSE 1 END) "
        "FROM pipeline_metrics WHERE host = %s GROUP BY data_type ORDER BY data_type",
        (host,),
    )
    assert [g[0] for g in gaps] == ["funding", "liquidation", "oi"]
    assert all(records == 0 and without_gap == 0 for _, _, records, without_gap in gaps)  # nothing arrived


def test_nothing_is_lost_while_the_collector_restarts(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    queue = tmp_path / "queue"
    queue.mkdir()
    runner = DaemonRunner(exchanges=["bybit"], network=Network(), **FAST)
    writer = RecordingWriter(queue)
    hook = StatusPublisher(RunnerStatus(runner), writer, interval=0.2).start()
    with RunningDaemon(runner):
        with collector(tmp_path / "first", qdb, host, queue):
            time.sleep(2)
        time.sleep(2)  # the collector is down: documents wait in the channel
        waiting = len(document_names(queue))
        with collector(tmp_path / "second", qdb, host, queue):
            time.sleep(2)
            hook.stop()
    assert waiting >= 8
    assert stored(qdb, host) == expected_rows(writer.documents)


def test_a_full_channel_counts_its_drops_as_the_collectors(
    tmp_path: Path, qdb: QuestDBServer, host: str
) -> None:
    queue = tmp_path / "queue"
    queue.mkdir()
    runner = DaemonRunner(exchanges=["bybit"], network=Network(), **FAST)
    writer = RecordingWriter(queue, max_documents=5)
    hook = StatusPublisher(RunnerStatus(runner), writer, interval=0.1).start()
    with RunningDaemon(runner):
        time.sleep(1.5)  # no collector: 5 documents queued, the rest dropped
        dropped = writer.dropped
        with collector(tmp_path, qdb, host, queue) as app:
            time.sleep(1)
            hook.stop()
    assert dropped >= 5
    assert stored(qdb, host)["daemon_metrics"] == len(writer.documents)
    assert app.metrics.status_dropped.labels("daemon")._value.get() == writer.dropped
    (drops,) = pg_query(qdb, "SELECT max(drops) FROM collector_metrics WHERE host = %s", (host,))[0]
    assert drops == writer.dropped
