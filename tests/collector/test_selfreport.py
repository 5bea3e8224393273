"""collector_metrics: the collector's own health, written through its MetricsClient into the real QuestDB."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.config import ConfigError, config_from_mapping
from collector.models import CollectorSelfMetrics, MetricModel, PipelineMetrics
from collector.service.app import CollectorApp, build_sources
from collector.service.selfreport import SelfReporter, read_totals
from collector.sink.client import MetricsClient
from tests.collector.conftest import make_config, pg_query, wait_all_wal
from tests.collector.helpers import START
from tests.support.questdb_server import QuestDBServer

T0 = datetime(2025, 5, 2, 9, 0, tzinfo=UTC)
SELF_ROWS = (
    "SELECT rows_sent, rows_spooled, spool_bytes, spool_age_seconds, flush_latency_ms, retries, rejects, "
    "drops, env FROM collector_metrics WHERE host = %s ORDER BY timestamp"
)


def pipeline_rows(host: str, count: int, offset: int = 0) -> list[MetricModel]:
    return [
        PipelineMetrics(
            timestamp=T0 + timedelta(seconds=offset + i),
            host=host,
            env="dev",
            exchange="okx",
            symbol="BTC/USDT:USDT",
            data_type="oi",
            records_count=i,
            bytes_written=10 * i,
        )
        for i in range(count)
    ]


def reporter(client: MetricsClient, host: str, interval: float = 3600.0) -> SelfReporter:
    return SelfReporter(client.metrics, client, env="dev", host=host, interval=interval)


def self_rows(server: QuestDBServer, host: str, expected: int) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        server.wait_wal("collector_metrics")
        rows = pg_query(server, SELF_ROWS, (host,))
        if len(rows) >= expected:
            return rows
        time.sleep(0.2)
    return pg_query(server, SELF_ROWS, (host,))


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_rows_sent_counts_every_delivered_row(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    # The sender ships only on flush(): rows stay spooled (not sent) until then.
    config = make_config(tmp_path, qdb, host=host, batch_size=100_000, flush_interval_seconds=60)
    with MetricsClient(config) as client:
        report = reporter(client, host)
        assert report.report()  # nothing delivered yet
        assert client.add_many(pipeline_rows(host, 40)) == 40
        assert report.report()  # 41 rows spooled, none sent
        assert client.flush(30)
        assert report.report()
        assert client.add_many(pipeline_rows(host, 25, offset=40)) == 25
        assert client.flush(30)
        assert report.report()
        assert client.flush(30)
    rows = self_rows(qdb, host, 4)
    # cumulative: the data rows and the self rows delivered before each row was sampled
    assert [row[0] for row in rows] == [0, 0, 42, 68]
    assert [row[1] for row in rows] == [0, 41, 0, 0]
    assert rows[0][2] == 0 < rows[1][2]  # packed bytes in the spool
    assert [row[8] for row in rows] == ["dev"] * 4
    assert rows[0][4] is None and rows[1][4] is None  # no flush before these rows
    assert all(row[4] is not None and row[4] > 0 for row in rows[2:])  # mean flush latency in ms
    assert all(row[5:8] == (0, 0, 0) for row in rows)  # no retries, rejects or drops
    qdb.wait_wal("pipeline_metrics", 30)  # the self rows' table was applied; this one may lag
    (count,) = pg_query(qdb, "SELECT count() FROM pipeline_metrics WHERE host = %s", (host,))[0]
    assert count == 65


def test_drops_and_retries_while_questdb_is_down(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    spool = {"max_bytes": 65_536}
    down = MetricsClient(make_config(tmp_path, None, host=host, spool=spool))  # nothing listens there
    try:
        rows = pipeline_rows(host, 2_000)
        for start in range(0, len(rows), 50):
            down.add_many(rows[start : start + 50])

        def settled() -> bool:
            totals = read_totals(down.metrics)
            return totals.retries > 0 and totals.drops + down.spool.pending_rows() == len(rows)

        assert wait_for(settled)
        totals = read_totals(down.metrics)
        assert totals.drops > 0 and totals.rows_sent == 0
        sample = reporter(down, host).sample()
        assert sample.drops == totals.drops
        assert sample.rows_spooled == down.spool.pending_rows() == len(rows) - totals.drops
        assert sample.spool_bytes == down.spool.stats().bytes <= 65_536
        assert sample.retries >= totals.retries > 0
        assert down.add(sample) == 1  # spooled like any row ...
    finally:
        down.close(0.2)
    with MetricsClient(make_config(tmp_path, qdb, host=host, spool=spool)) as up:  # ... and delivered later
        assert up.flush(30)
    (row,) = self_rows(qdb, host, 1)
    assert row[7] == sample.drops > 0
    assert row[0] == 0 and row[1] == sample.rows_spooled and row[5] == sample.retries
    assert row[3] == pytest.approx(sample.spool_age_seconds)


def test_service_writes_its_health_periodically(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    source = {"type": "simulate", "seed": 3, "start": START.isoformat(), "symbols_per_exchange": 2}
    config = make_config(
        tmp_path,
        qdb,
        host=host,
        env="staging",
        poll_interval_seconds=0.05,
        self_metrics_interval_seconds=0.3,
        sources=[{**source, "host": host}],
    )
    app = CollectorApp(config, build_sources(config))
    runner = threading.Thread(target=app.run, daemon=True)
    runner.start()
    time.sleep(2.0)
    app.stop_event.set()
    runner.join(10)
    assert app.shutdown(30)
    sent = app.metrics.registry.get_sample_value
    rows = self_rows(qdb, host, 4)
    assert len(rows) >= 4  # at start, every 0.3 s, at stop
    assert all(row[8] == "staging" for row in rows)
    rows_sent = [row[0] for row in rows]
    assert rows_sent == sorted(rows_sent) and rows_sent[0] == 0 and rows_sent[-1] > 0
    wait_all_wal(qdb)
    tables = ("daemon_metrics", "exchange_status", "pipeline_metrics", "trading_metrics")
    data = sum(pg_query(qdb, f"SELECT count() FROM {t} WHERE host = %s", (host,))[0][0] for t in tables)
    assert rows_sent[-1] <= data + len(rows) - 1  # sampled before the final flush
    every_table = (*tables, "collector_metrics")
    total_sent = sum(sent("tradewatch_collector_rows_sent_total", {"table": t}) or 0 for t in every_table)
    assert total_sent == data + len(rows)


def test_interval_must_be_positive() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_mapping({"self_metrics_interval_seconds": 0})
    assert "self_metrics_interval_seconds: Input should be greater than 0" in str(err.value)
    assert config_from_mapping({}).self_metrics_interval_seconds == 10.0


def test_model_rejects_negative_counters() -> None:
    base: dict[str, Any] = {
        "timestamp": T0,
        "host": "h",
        "env": "dev",
        "rows_sent": 1,
        "rows_spooled": 0,
        "spool_bytes": 0,
        "spool_age_seconds": 0.0,
        "retries": 0,
        "rejects": 0,
        "drops": 0,
    }
    assert CollectorSelfMetrics(**base).flush_latency_ms is None
    with pytest.raises(ValueError, match="drops"):
        CollectorSelfMetrics(**{**base, "drops": -1})
