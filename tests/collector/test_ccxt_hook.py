"""The hook in the daemon's process against the stand-in of ccxt_pipeline's DaemonRunner (no QuestDB):
the flat status, the exchanges the hook watches without changing the daemon, the channel."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.ccxt.hook import RunnerStatus
from collector.ccxt.ledger import Ledger, Request
from collector.ccxt.status import FLAT_KEYS, is_flat
from collector.channel import QueueWriter, document_names
from collector.collectors import DaemonCollector, ExchangeCollector, PipelineCollector
from collector.collectors.base import CollectContext
from collector.models import ValidationContext
from collector.sources.base import Snapshot, Unreachable
from collector.sources.queue import QueueSource
from collector.sources.status import StatusError, parse_status
from tests.collector.helpers import context
from tests.support.ccxt_standin import DaemonRunner, Network
from tests.support.ccxt_standin.harness import RunningDaemon
from tests.support.ccxt_standin.network import Reachable

FAST = {"oi_interval_minutes": 0.02, "funding_interval_minutes": 0.04}  # 1.2 s and 2.4 s


def rows_of(document: dict[str, Any]) -> dict[str, list[Any]]:
    """The rows the collector makes of a document, by table (and any validation errors)."""
    snapshot = Snapshot("daemon", parse_status(document, received_at=datetime.now(UTC)), datetime.now(UTC))
    ctx = CollectContext(ValidationContext(), "dev", "test-host")  # the defaults: any exchange name
    out: dict[str, list[Any]] = {}
    for collector in (DaemonCollector(), ExchangeCollector(), PipelineCollector()):
        collected = collector.collect(snapshot, ctx)
        assert collected.errors == [], collected.errors
        out[collector.table] = collected.samples
    return out


# ---- the flat status --------------------------------------------------------------------------
def test_the_flat_status_of_a_runner_never_started_is_a_daemon_row() -> None:
    runner = DaemonRunner()
    data = runner.get_status()
    assert set(data) == set(FLAT_KEYS) and is_flat(data)
    assert data["uptime_seconds"] == 0 and type(data["uptime_seconds"]) is int
    status = RunnerStatus(runner)
    rows = rows_of(status.document())
    (daemon,) = rows["daemon_metrics"]
    assert daemon.running is False and daemon.fetch_count == 0 and daemon.uptime_seconds == 0
    assert rows["exchange_status"] == [] and rows["pipeline_metrics"] == []
    status.close()


class Odd:
    """A runner of another version: a key gone, one added, no orchestrator at all."""

    def __init__(self) -> None:
        self._liquidation_manager = None

    def get_status(self) -> dict[str, Any]:
        data = DaemonRunner().get_status()
        del data["liquidation_count"]
        return {**data, "queue_depth": 3}


def test_missing_and_unknown_keys_are_counted_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    status = RunnerStatus(Odd())
    first = status.document()
    second = status.document()
    assert second["meta"]["missing_keys"] == {"liquidation_count": 2}
    assert second["meta"]["unknown_keys"] == {"queue_depth": 2}
    assert first["meta"]["missing_keys"] == {"liquidation_count": 1}
    (daemon,) = rows_of(second)["daemon_metrics"]
    assert daemon.liquidation_count is None and daemon.fetch_count == 0
    assert "no attribute '_orchestrator'" in caplog.text  # said once, as a warning
    assert caplog.text.count("_orchestrator") == 1


# ---- the exchanges, watched -------------------------------------------------------------------
@pytest.mark.parametrize("attach_first", [True, False], ids=["attached-before-start", "attached-after-start"])
def test_every_venue_failing_is_seen_per_venue(attach_first: bool) -> None:
    runner = DaemonRunner(network=Network(), **FAST)
    status = RunnerStatus(runner) if attach_first else None
    with RunningDaemon(runner):
        first = runner.get_status()  # after start(): the first OI and funding fetch are done
        if status is None:  # attached now: it sees the fetches from the next job on
            status = RunnerStatus(runner)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                venues = status.document().get("exchanges", {})
                if len(venues) == 3 and all(v["request_count"] for v in venues.values()):
                    break
                time.sleep(0.2)
        document = status.document()
    assert first["error_count"] > 0
    exchanges = document["exchanges"]
    assert set(exchanges) == {"binance", "bybit", "hyperliquid"}
    for venue, entry in exchanges.items():
        assert entry["connected"] is False, venue
        assert entry["error_count"] == entry["request_count"] > 0, venue
        assert entry["disconnected_at"] is not None and entry["latency_ms"] is None
    if attach_first:  # every failed request of the daemon was seen, the first fetch's included
        assert sum(e["error_count"] for e in exchanges.values()) == document["daemon"]["error_count"]
    rows = rows_of(document)
    assert len(rows["exchange_status"]) == 3
    series = {(p.exchange, p.symbol, p.data_type) for p in rows["pipeline_metrics"]}
    assert {(v, s, "liquidation") for v in exchanges for s in ("BTCUSDT-PERP", "ETHUSDT-PERP")} <= series
    assert all(p.gap_detected and p.records_count == 0 for p in rows["pipeline_metrics"])
    assert type(runner).__name__ == "DaemonRunner"
    status.close()
    assert type(runner) is DaemonRunner  # put back as it was
    orchestrator_fetcher = runner.get_status()  # still answers
    assert orchestrator_fetcher["running"] is False


def test_a_reachable_venue_is_connected_with_latency_and_liquidations() -> None:
    network = Network({"binance": Reachable(latency_s=0.03, liquidations_per_s=20.0)})
    runner = DaemonRunner(exchanges=["binance", "bybit"], network=network, **FAST)
    status = RunnerStatus(runner)
    with RunningDaemon(runner):
        status.document()  # the stream state is sampled per poll
        asyncio.run(asyncio.sleep(0.5))
        document = status.document()
    binance, bybit = document["exchanges"]["binance"], document["exchanges"]["bybit"]
    assert binance["connected"] is True and binance["error_count"] == 0
    assert 30 <= binance["latency_ms"] < 1000
    assert binance["last_message_at"] is not None and binance["disconnected_at"] is None
    assert bybit["connected"] is False and bybit["error_count"] == bybit["request_count"] > 0
    liquidations = {p["symbol"]: p for p in document["pipeline"] if p["exchange"] == "binance"
                    and p["data_type"] == "liquidation"}  # fmt: skip
    assert set(liquidations) == {"BTCUSDT-PERP", "ETHUSDT-PERP"}
    assert all(p["records_count"] > 0 and not p["gap_detected"] for p in liquidations.values())
    assert sum(p["records_count"] for p in liquidations.values()) <= runner.stats.liquidation_count
    status.close()


def test_the_hook_survives_a_stop_and_a_restart_of_the_daemon() -> None:
    runner = DaemonRunner(exchanges=["bybit"], network=Network(), **FAST)
    status = RunnerStatus(runner)
    with RunningDaemon(runner):
        before = status.document()["exchanges"]["bybit"]["request_count"]
    stopped = status.document()
    assert stopped["daemon"]["running"] is False and "exchanges" not in stopped
    with RunningDaemon(runner):  # start() again: a new orchestrator, watched as well
        after = status.document()["exchanges"]["bybit"]["request_count"]
    assert after > before
    status.close()


def test_a_failing_ledger_never_reaches_the_daemon() -> None:
    class Broken(Ledger):
        def observe(self, observation: Any) -> None:
            raise RuntimeError("bookkeeping bug")

    network = Network({"binance": Reachable(latency_s=0.0)})
    runner = DaemonRunner(exchanges=["binance"], network=network, **FAST)
    status = RunnerStatus(runner)
    status.observer.ledger = status.ledger = Broken()  # type: ignore[union-attr]
    with RunningDaemon(runner):
        pass
    assert runner.stats.fetch_count > 0 and runner.stats.error_count == 0
    status.close()


def test_ledger_marks_a_failing_series_as_a_gap_since_its_last_success() -> None:
    ledger = Ledger()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ledger.observe(Request("binance", "BTCUSDT-PERP", "oi", True, 0.01, t0))
    ledger.snapshot(t0, [])
    ledger.observe(Request("binance", "BTCUSDT-PERP", "oi", False, 0.5, t0 + timedelta(minutes=5)))
    ledger.observe(Request("binance", "BTCUSDT-PERP", "oi", False, 0.5, t0 + timedelta(minutes=5, seconds=2)))
    exchanges, pipeline = ledger.snapshot(t0 + timedelta(minutes=5, seconds=3), [])
    (entry,) = pipeline
    assert entry["gap_detected"] and entry["error_count"] == 2 and entry["records_count"] == 0
    assert entry["gap_duration_seconds"] == 303.0
    assert exchanges["binance"]["connected"] is False
    assert exchanges["binance"]["disconnected_at"] == (t0 + timedelta(minutes=5)).isoformat()
    assert exchanges["binance"]["latency_ms"] == 10.0  # the last successful request's
    assert ledger.snapshot(t0 + timedelta(minutes=6), [])[1] == []  # no requests, no series row


# ---- the channel ------------------------------------------------------------------------------
def doc(second: int, running: bool = True) -> dict[str, Any]:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60 - second)
    return {"timestamp": at.isoformat(), "daemon": {"running": running, "fetch_count": second}}


def test_channel_documents_are_read_in_order_and_deleted_once_committed(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path)
    for second in range(5):
        assert writer.put(doc(second))
    source = QueueSource(tmp_path, stale_after=3600)
    seen = []
    while True:
        result = source.poll()
        if result is None:
            break
        assert isinstance(result, Snapshot)
        seen.append(result.status.daemon["fetch_count"])  # type: ignore[index]
        if len(seen) == 2:  # not committed: read again (the collector restarted before spooling)
            source = QueueSource(tmp_path, stale_after=3600)
            continue
        source.commit()
    assert seen == [0, 1, 1, 2, 3, 4]
    assert document_names(tmp_path) == []


def test_a_full_channel_drops_new_documents_and_says_so_in_the_next(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, max_documents=3)
    results = [writer.put(doc(second)) for second in range(7)]
    assert results == [True, True, True, False, False, False, False]
    source = QueueSource(tmp_path)
    for _ in range(3):
        source.poll()
        source.commit()
    assert writer.put(doc(8)) and writer.dropped == 4
    result = source.poll()
    assert isinstance(result, Snapshot) and result.status.meta["dropped_before"] == 4
    source.commit()
    assert writer.put(doc(9))
    again = source.poll()
    assert isinstance(again, Snapshot) and again.status.meta["dropped_before"] == 0


def test_silence_in_the_channel_means_the_daemon_is_not_running(tmp_path: Path) -> None:
    now = [datetime.now(UTC) - timedelta(seconds=30)]
    source = QueueSource(tmp_path, stale_after=5, clock=lambda: now[0])
    assert source.poll() is None
    now[0] += timedelta(seconds=6)
    result = source.poll()
    assert isinstance(result, Unreachable) and "no status from the daemon for 6s" in result.error
    (row,) = DaemonCollector().collect(result, context()).samples
    assert row.running is False  # type: ignore[attr-defined]


def test_a_broken_document_is_removed_and_reported(tmp_path: Path) -> None:
    (tmp_path / "00000000000000000001-1-00000000.json").write_text("{not json")
    QueueWriter(tmp_path).put(doc(1))
    source = QueueSource(tmp_path)
    with pytest.raises(StatusError, match="not valid JSON"):
        source.poll()
    result = source.poll()
    assert isinstance(result, Snapshot)
    assert len(document_names(tmp_path)) == 1


def test_the_writer_never_leaves_half_a_document(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path)
    writer.put({**doc(1), "payload": "x" * 100_000})
    (name,) = document_names(tmp_path)
    assert json.loads((tmp_path / name).read_text())["payload"] == "x" * 100_000
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left
