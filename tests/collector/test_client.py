"""MetricsClient against the real QuestDB: write/query cycle, timer, dead letters, spool, metrics."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from collector.models import DaemonMetrics, ExchangeStatus, MetricModel, PipelineMetrics, TradingMetrics
from collector.schema import to_row
from collector.sink.client import MetricsClient
from collector.sink.deadletter import DeadLetterFile
from collector.sink.rows import Row
from tests.collector.conftest import make_config, pg_query, wait_all_wal, wait_for_count
from tests.support.questdb_server import QuestDBServer

T0 = datetime(2025, 5, 1, 8, 30, 0, 250_000, tzinfo=UTC)


def naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def samples(host: str, count: int = 3) -> list[MetricModel]:
    rows: list[MetricModel] = []
    for i in range(count):
        ts = T0 + timedelta(seconds=i)
        rows += [
            DaemonMetrics(
                timestamp=ts,
                host=host,
                env="staging",
                running=i != 1,
                fetch_count=100 + i,
                error_count=i,
                liquidation_count=7 * i,
                uptime_seconds=10.5 + i,
                last_error=None if i == 0 else f"error {i}: ü ✓",
                memory_rss_bytes=2**40 + i,
                cpu_percent=12.25,
                restart_count=i,
            ),
            ExchangeStatus(
                timestamp=ts,
                host=host,
                env="staging",
                exchange="bybit",
                connected=i != 2,
                latency_ms=None if i == 2 else 42.5 + i,
                reconnect_count=i,
                last_message_at=ts - timedelta(milliseconds=300),
                disconnected_at=ts - timedelta(seconds=1) if i == 2 else None,
            ),
            PipelineMetrics(
                timestamp=ts,
                host=host,
                env="staging",
                exchange="okx",
                symbol="BTC/USDT:USDT",
                data_type="funding",
                records_count=3 * i,
                bytes_written=1_000 * i,
                latency_ms=1.5,
                gap_detected=i == 1,
                gap_duration_seconds=30.0 if i == 1 else None,
            ),
            TradingMetrics(
                timestamp=ts,
                host=host,
                env="staging",
                strategy=f"{host}-basis",
                symbol="ETH/USDT:USDT",
                venue="binance",
                pnl=-1.25 * i,
                unrealized_pnl=0.5,
                position_size=-2.0,
                orders_placed=4,
                orders_filled=i,
                exposure=6_000.0,
                drawdown=3.5,
            ),
        ]
    return rows


def expected(sample: MetricModel, columns: list[str]) -> tuple[Any, ...]:
    values = []
    for name in columns:
        value = getattr(sample, name)
        if isinstance(value, datetime):
            value = naive(value)
        if value is None and name in ("running", "connected", "gap_detected"):
            value = False
        values.append(value)
    return tuple(values)


COLUMNS = {
    "daemon_metrics": "timestamp host env fetch_count error_count liquidation_count uptime_seconds running "
    "last_error memory_rss_bytes cpu_percent restart_count",
    "exchange_status": "timestamp exchange host env connected latency_ms reconnect_count last_message_at "
    "disconnected_at",
    "pipeline_metrics": "timestamp exchange symbol data_type host env records_count bytes_written latency_ms "
    "gap_detected gap_duration_seconds",
    "trading_metrics": "timestamp strategy symbol venue env host pnl unrealized_pnl position_size "
    "orders_placed orders_filled fill_rate exposure drawdown",
}


def test_write_query_cycle_all_four_tables(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    rows = samples(host)
    with MetricsClient(make_config(tmp_path, qdb)) as client:
        assert client.add_many(rows) == len(rows)
        assert client.flush(30)
    wait_all_wal(qdb)
    for table, columns in COLUMNS.items():
        names = columns.split()
        got = pg_query(
            qdb, f"SELECT {', '.join(names)} FROM {table} WHERE host = %s ORDER BY timestamp", (host,)
        )
        want = [expected(s, names) for s in rows if table == s.TABLE]
        assert len(got) == 3, table
        assert got == want, table
    # flushing again (replaying the same rows) does not duplicate anything: DEDUP UPSERT KEYS
    with MetricsClient(make_config(tmp_path / "again", qdb)) as client:
        client.add_many(rows)
        assert client.flush(30)
    wait_all_wal(qdb)
    for table in COLUMNS:
        assert pg_query(qdb, f"SELECT count() FROM {table} WHERE host = %s", (host,)) == [(3,)]


def test_own_timer_flushes_a_lone_row(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    config = make_config(tmp_path, qdb, batch_size=10_000, flush_interval_seconds=0.3)
    with MetricsClient(config) as client:
        client.add(samples(host, 1)[0])  # no further rows, no flush() call
        count = wait_for_count(
            qdb, f"SELECT count() FROM daemon_metrics WHERE host = '{host}'", 1, timeout=15
        )
        assert count == 1


def bad_row(host: str, i: int, **columns: Any) -> Row:
    ts = int((T0 + timedelta(minutes=5, seconds=i)).timestamp() * 1e9)
    return Row("daemon_metrics", ts, {"host": host, "env": "dev"}, {"running": True, **columns}, {})


def test_rejected_rows_land_in_the_dead_letter_file(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    good = [to_row(s) for s in samples(host, 20) if isinstance(s, PipelineMetrics)]
    rejected = {
        3: bad_row(host, 3, fetch_count="not a number"),  # cast error: STRING into LONG
        11: bad_row(host, 11, running="yes"),  # STRING into BOOLEAN
        17: bad_row(host, 17, fetch_count=2**62, cpu_percent="x"),  # STRING into DOUBLE
    }
    mixed = [rejected.get(i) or bad_row(host, i, fetch_count=i) for i in range(20)]
    refused_by_client = Row("daemon_metrics", 1, {"host": host, "env": "dev"}, {"bad name\n": 1}, {})
    config = make_config(tmp_path, qdb)
    with MetricsClient(config) as client:
        client.add_rows([*mixed, *good, refused_by_client])
        assert client.flush(60)
        value = client.metrics.registry.get_sample_value
        assert value("tradewatch_collector_rows_rejected_total", {"table": "daemon_metrics"}) == 4
        assert value("tradewatch_collector_rows_sent_total", {"table": "daemon_metrics"}) == 17
    wait_all_wal(qdb)
    assert pg_query(qdb, "SELECT count() FROM daemon_metrics WHERE host = %s", (host,)) == [(17,)]
    assert pg_query(qdb, "SELECT count() FROM pipeline_metrics WHERE host = %s", (host,)) == [(20,)]
    entries = DeadLetterFile(config.spool.dead_letter_path()).read()
    assert len(entries) == 4
    by_ts = {e["row"]["timestamp_ns"]: e for e in entries}  # type: ignore[index]
    for row in rejected.values():
        entry = by_ts[row.timestamp_ns]
        assert entry["table"] == "daemon_metrics"
        assert "cast error" in str(entry["reason"]), entry
        assert entry["error_code"] == "ServerFlushError"
        assert entry["row"]["symbols"]["host"] == host  # type: ignore[index]
    client_side = by_ts[1]
    assert "client refused the row" in str(client_side["reason"])


def test_spooled_rows_survive_a_client_restart(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    rows = samples(host, 50)
    down = MetricsClient(make_config(tmp_path, None))  # QuestDB unreachable
    assert down.add_many(rows) == 200
    assert down.close(timeout=0.5) is False  # nothing could be delivered; rows stay on disk
    with MetricsClient(make_config(tmp_path, qdb)) as up:
        assert up.flush(30)
    wait_all_wal(qdb)
    for table in COLUMNS:
        assert pg_query(qdb, f"SELECT count() FROM {table} WHERE host = %s", (host,)) == [(50,)]


def test_full_spool_counts_every_dropped_row(tmp_path: Path, host: str) -> None:
    config = make_config(tmp_path, None, spool={"max_bytes": 65_536})
    client = MetricsClient(config)
    try:
        rows = samples(host, 250)
        for start in range(0, len(rows), 20):
            client.add_many(rows[start : start + 20])
        value = client.metrics.registry.get_sample_value

        def dropped() -> float:
            return value("tradewatch_collector_rows_dropped_total", {"reason": "spool_full"}) or 0

        # A batch the sender holds while retrying is counted once the sender sees it was evicted.
        deadline = time.monotonic() + 10
        while dropped() + client.spool.pending_rows() != len(rows) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dropped() > 0
        assert client.spool.stats().bytes <= 65_536
        assert dropped() + client.spool.pending_rows() == len(rows)
    finally:
        client.close(0.2)


def test_self_metrics(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    with MetricsClient(make_config(tmp_path, qdb)) as client:
        client.add_many(samples(host, 2))
        assert client.flush(30)
        text = generate_latest(client.metrics.registry).decode()
    for name in (
        "tradewatch_collector_rows_sent_total",
        "tradewatch_collector_spool_rows",
        "tradewatch_collector_spool_bytes",
        "tradewatch_collector_spool_oldest_age_seconds",
        "tradewatch_collector_flush_duration_seconds_bucket",
        "tradewatch_collector_flush_retries_total",
        "tradewatch_collector_rows_rejected_total",
        "tradewatch_collector_rows_dropped_total",
        "tradewatch_collector_questdb_up 1.0",
    ):
        assert name in text, name


def test_retries_while_questdb_is_unreachable(tmp_path: Path, host: str) -> None:
    client = MetricsClient(make_config(tmp_path, None))
    try:
        client.add_many(samples(host, 1))
        assert client.flush(1.0) is False
        deadline = time.monotonic() + 5
        value = client.metrics.registry.get_sample_value
        while time.monotonic() < deadline and not value(
            "tradewatch_collector_flush_retries_total", {"kind": "connect"}
        ):
            time.sleep(0.05)
        assert (value("tradewatch_collector_flush_retries_total", {"kind": "connect"}) or 0) >= 2
        assert value("tradewatch_collector_questdb_up") == 0
        assert client.spool.pending_rows() == 4
    finally:
        client.close(0.2)


def test_add_after_close_fails_loudly(tmp_path: Path) -> None:
    client = MetricsClient(make_config(tmp_path, None))
    client.close(0.1)
    with pytest.raises(RuntimeError, match="closed"):
        client.add_rows([bad_row("h", 1)])


def test_concurrent_producers(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    def produce(worker: int, client: MetricsClient) -> None:
        for start in range(0, 1_000, 50):
            client.add_many(
                PipelineMetrics(
                    timestamp=T0 + timedelta(milliseconds=i),
                    host=host,
                    env="dev",
                    exchange="dydx",
                    symbol=f"W{worker}/USD",
                    data_type="oi",
                    records_count=i,
                    bytes_written=worker,
                )
                for i in range(start, start + 50)
            )

    with MetricsClient(make_config(tmp_path, qdb, batch_size=700)) as client:
        threads = [threading.Thread(target=produce, args=(w, client)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert client.flush(60)
    wait_all_wal(qdb)
    assert pg_query(
        qdb, "SELECT count(), count_distinct(symbol) FROM pipeline_metrics WHERE host = %s", (host,)
    ) == [(8_000, 8)]
