"""Collectors: status → validated rows; bad entries become clear errors, never exceptions."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.collectors import DaemonCollector, ExchangeCollector
from collector.collectors.probe import LatencyProber
from collector.collectors.process import ProcessInspector, RestartTracker
from collector.config import ProbeConfig
from collector.models import DaemonMetrics, ExchangeStatus, PipelineMetrics, TradingMetrics
from collector.sources.base import Snapshot, Unreachable
from collector.sources.status import StatusError, parse_status
from tests.collector.helpers import START, collect_all, context
from tests.support.paths import REPO

NOW = START + timedelta(seconds=30)


def snapshot(document: dict[str, Any], pid: int | None = None) -> Snapshot:
    return Snapshot("daemon", parse_status(document, received_at=NOW), NOW, pid)


def document(**sections: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "timestamp": NOW.isoformat(),
        "daemon": {"running": True, "fetch_count": 5, "error_count": 0, "liquidation_count": 1},
        "exchanges": {"binance": {"connected": True, "latency_ms": 20, "reconnect_count": 0}},
        "pipeline": [
            {
                "exchange": "binance",
                "symbol": "BTC/USDT:USDT",
                "data_type": "oi",
                "records_count": 3,
                "bytes_written": 9,
            }
        ],
        "trading": [{"strategy": "s1", "symbol": "BTC/USDT:USDT", "venue": "binance", "pnl": 1.5}],
    }
    base.update(sections)
    return base


def test_one_row_per_entry_and_table() -> None:
    out = collect_all(snapshot(document()), context(NOW))
    assert not out.errors
    assert [type(s) for s in out.samples] == [DaemonMetrics, ExchangeStatus, PipelineMetrics, TradingMetrics]
    assert all(s.timestamp == NOW and s.env == "dev" and s.host == "test-host" for s in out.samples)


def test_status_host_wins() -> None:
    out = collect_all(snapshot(document(host="ccxt-7")), context(NOW))
    assert {s.host for s in out.samples} == {"ccxt-7"}


def test_bad_entries_are_reported_by_field_and_the_rest_kept() -> None:
    doc = document(
        exchanges={
            "binance": {"connected": True, "latency_ms": -5},
            "kraken": {"connected": True},
            "okx": {"connected": "maybe"},
            "bybit": {"connected": True, "latency_ms": 10},
        },
        pipeline=[
            {
                "exchange": "binance",
                "symbol": "A",
                "data_type": "oi",
                "records_count": -1,
                "bytes_written": 0,
            },
            {"exchange": "binance", "symbol": "B", "data_type": "oi", "records_count": 1, "bytes_written": 0},
            {
                "exchange": "binance",
                "symbol": "C",
                "data_type": "trades",
                "records_count": 1,
                "bytes_written": 0,
            },
        ],
    )
    out = collect_all(snapshot(doc), context(NOW))
    problems = {(e.table, e.item, e.field) for e in out.errors}
    assert problems == {
        ("exchange_status", "binance", "latency_ms"),
        ("exchange_status", "kraken", "exchange"),
        ("exchange_status", "okx", "connected"),
        ("pipeline_metrics", "binance/A/oi", "records_count"),
        ("pipeline_metrics", "binance/C/trades", "data_type"),
    }
    assert "unknown exchange 'kraken'" in str(next(e for e in out.errors if e.item == "kraken"))
    kept = [s for s in out.samples if isinstance(s, ExchangeStatus | PipelineMetrics)]
    assert sorted(getattr(s, "exchange", "") + getattr(s, "symbol", "") for s in kept) == [
        "binanceB",
        "bybit",
    ]


def test_unreachable_daemon_is_a_not_running_row() -> None:
    out = collect_all(Unreachable("daemon", "status endpoint unreachable: refused", NOW), context(NOW))
    assert not out.errors
    (row,) = out.samples
    assert isinstance(row, DaemonMetrics)
    assert row.running is False and row.timestamp == NOW
    assert row.last_error == "status endpoint unreachable: refused"


def test_long_last_error_is_shortened_not_rejected() -> None:
    doc = document(daemon={"running": True, "last_error": "x" * 50_000})
    (row,) = [s for s in collect_all(snapshot(doc), context(NOW)).samples if isinstance(s, DaemonMetrics)]
    assert row.last_error is not None and len(row.last_error) == 1024 and row.last_error.endswith("…")


def test_uptime_from_started_at_and_process_from_psutil() -> None:
    doc = document(daemon={"running": True, "started_at": (NOW - timedelta(seconds=90)).isoformat()})
    collector = DaemonCollector(ProcessInspector())
    first = collector.collect(snapshot(doc, pid=os.getpid()), context(NOW)).samples[0]
    assert isinstance(first, DaemonMetrics)
    assert first.uptime_seconds == 90.0
    assert first.memory_rss_bytes and first.memory_rss_bytes > 1_000_000
    assert first.cpu_percent is None  # psutil needs two readings
    second = collector.collect(snapshot(doc, pid=os.getpid()), context(NOW)).samples[0]
    assert isinstance(second, DaemonMetrics) and second.cpu_percent is not None
    assert second.restart_count == 0


def test_restart_count_reported_or_observed() -> None:
    collector = DaemonCollector(ProcessInspector())
    ctx = context(NOW)
    uptimes = [100.0, 101.0, 3.0, 4.0, 1.0]
    counts = []
    for uptime in uptimes:
        doc = document(daemon={"running": True, "uptime_seconds": uptime})
        row = collector.collect(snapshot(doc), ctx).samples[0]
        assert isinstance(row, DaemonMetrics)
        counts.append(row.restart_count)
    assert counts == [0, 0, 1, 1, 2]
    doc = document(daemon={"running": True, "uptime_seconds": 1.0, "restart_count": 9})
    row = collector.collect(snapshot(doc), ctx).samples[0]
    assert isinstance(row, DaemonMetrics) and row.restart_count == 9


def test_restart_tracker_by_identity() -> None:
    tracker = RestartTracker()
    assert [tracker.observe((1, 10.0), 5), tracker.observe((1, 10.0), 6), tracker.observe((2, 20.0), 7)] == [
        0,
        0,
        1,
    ]


def test_dead_pid_is_skipped() -> None:
    assert ProcessInspector().sample(2**22 + 12345) is None


@pytest.fixture
def slow_endpoint() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping"
    server.shutdown()
    server.server_close()


def test_active_latency_probe_overrides_the_daemon_figure(slow_endpoint: str) -> None:
    prober = LatencyProber([ProbeConfig(exchange="binance", url=slow_endpoint, timeout_seconds=2)])
    prober.probe_once(prober.probes[0])
    measured = prober.latest("binance")
    assert measured is not None and 0 < measured < 2_000
    rows = ExchangeCollector(prober).collect(snapshot(document()), context(NOW)).samples
    assert isinstance(rows[0], ExchangeStatus) and rows[0].latency_ms == measured


def test_failed_probe_falls_back_to_the_daemon_figure() -> None:
    prober = LatencyProber([ProbeConfig(exchange="binance", url="http://127.0.0.1:9/x", timeout_seconds=0.5)])
    prober.probe_once(prober.probes[0])
    assert prober.latest("binance") is None
    rows = ExchangeCollector(prober).collect(snapshot(document()), context(NOW)).samples
    assert isinstance(rows[0], ExchangeStatus) and rows[0].latency_ms == 20.0


def test_prober_thread_runs_and_stops(slow_endpoint: str) -> None:
    prober = LatencyProber([ProbeConfig(exchange="okx", url=slow_endpoint, interval_seconds=0.05)])
    prober.start()
    try:
        for _ in range(100):
            if prober.latest("okx") is not None:
                break
            threading.Event().wait(0.02)
        assert prober.latest("okx") is not None
    finally:
        prober.stop()


def test_envelope_errors() -> None:
    with pytest.raises(StatusError, match="must be a JSON object"):
        parse_status([1, 2], received_at=NOW)
    with pytest.raises(StatusError, match="schema_version"):
        parse_status({"schema_version": 2}, received_at=NOW)
    with pytest.raises(StatusError, match="pipeline"):
        parse_status({"pipeline": {"not": "a list"}}, received_at=NOW)
    assert parse_status({}, received_at=NOW).timestamp == NOW


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
ENTRY_KEYS = [
    "exchange",
    "symbol",
    "data_type",
    "records_count",
    "bytes_written",
    "latency_ms",
    "gap_detected",
    "pnl",
    "connected",
    "strategy",
    "venue",
    "running",
    "fetch_count",
    "last_error",
    "started_at",
    "pid",
]
ENTRY = st.dictionaries(st.sampled_from(ENTRY_KEYS), ANY_JSON)


@given(
    daemon=ENTRY,
    exchanges=st.dictionaries(st.text(max_size=8), ENTRY, max_size=3),
    pipeline=st.lists(ENTRY, max_size=4),
    trading=st.lists(ENTRY, max_size=3),
)
@settings(database=None, deadline=None, max_examples=150)
def test_collectors_never_raise_on_arbitrary_entries(
    daemon: dict[str, Any], exchanges: dict[str, Any], pipeline: list[Any], trading: list[Any]
) -> None:
    snap = snapshot(document(daemon=daemon, exchanges=exchanges, pipeline=pipeline, trading=trading))
    out = collect_all(snap, context(NOW))
    for error in out.errors:
        assert error.field and error.message


def test_the_documented_example_status_is_valid() -> None:
    example = json.loads((REPO / "collector" / "examples" / "status.json").read_text())
    status = parse_status(example, received_at=NOW)
    out = collect_all(Snapshot("daemon", status, NOW), context(status.timestamp))
    assert not out.errors, out.errors
    assert [s.TABLE for s in out.samples] == [
        "daemon_metrics",
        "exchange_status",
        "exchange_status",
        "pipeline_metrics",
        "pipeline_metrics",
        "trading_metrics",
    ]
    assert {s.host for s in out.samples} == {"ccxt-1"}
