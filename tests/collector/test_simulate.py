"""The simulator: deterministic given a seed, constant rows per tick, scripted faults, checkpoints."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from collector.sources.base import Snapshot
from collector.sources.simulate import Fault, SimulatedDaemon, SimulateSource
from collector.sources.status import parse_status
from tests.collector.helpers import START, collect_all, context


def daemon(**kwargs: object) -> SimulatedDaemon:
    return SimulatedDaemon(seed=7, start=START, **kwargs)  # type: ignore[arg-type]


def test_same_seed_same_documents() -> None:
    assert daemon().status(42) == daemon().status(42)
    assert daemon().status(42) != SimulatedDaemon(seed=8, start=START).status(42)
    assert json.loads(json.dumps(daemon().status(3))) == daemon().status(3)  # plain JSON


def test_shape_four_exchanges_fifty_symbols_three_types() -> None:
    sim = daemon()
    status = sim.status(0)
    assert list(status["exchanges"]) == ["binance", "bybit", "okx", "dydx"]
    assert len(status["pipeline"]) == 4 * 50 * 3
    assert len({(e["exchange"], e["symbol"], e["data_type"]) for e in status["pipeline"]}) == 600
    assert sim.rows_per_tick() == 1 + 4 + 600 + 4


def test_every_tick_yields_valid_rows() -> None:
    faults = [
        Fault("daemon_stop", 5, 2),
        Fault("exchange_disconnect", 1, 3, exchange="bybit"),
        Fault("latency_spike", 2, 2, exchange="okx", factor=500),
        Fault("data_gap", 3, 2, exchange="binance", symbol="BTC/USDT:USDT"),
        Fault("error_burst", 4, 3, errors_per_tick=7),
    ]
    sim = daemon(faults=faults, symbols_per_exchange=5)
    for tick in range(12):
        status = sim.status(tick)
        snap = Snapshot("sim", parse_status(status, received_at=START), START)
        out = collect_all(snap, context(START + timedelta(days=1)))
        assert not out.errors, out.errors[:3]
        assert len(out.samples) == sim.rows_per_tick()


def test_faults_show_up() -> None:
    faults = [
        Fault("daemon_stop", 10, 3),
        Fault("exchange_disconnect", 2, 3, exchange="bybit"),
        Fault("latency_spike", 4, 1, exchange="okx", factor=1_000),
        Fault("data_gap", 6, 2, exchange="binance", symbol="ETH/USDT:USDT", data_type="oi"),
        Fault("error_burst", 8, 2, errors_per_tick=5),
    ]
    sim = daemon(faults=faults, symbols_per_exchange=3)
    bybit = [sim.status(t)["exchanges"]["bybit"] for t in range(7)]
    assert [e["connected"] for e in bybit] == [True, True, False, False, False, True, True]
    assert bybit[3]["disconnected_at"] == (START + timedelta(seconds=2)).isoformat()
    assert bybit[5]["reconnect_count"] == 1
    assert sim.status(4)["exchanges"]["okx"]["latency_ms"] == 10_000.0  # capped
    gaps = [e for e in sim.status(7)["pipeline"] if e["gap_detected"]]
    assert [(e["exchange"], e["symbol"], e["data_type"], e["gap_duration_seconds"]) for e in gaps] == [
        ("binance", "ETH/USDT:USDT", "oi", 2.0)
    ]
    errors = [sim.status(t)["daemon"]["error_count"] for t in (7, 8, 9, 10)]
    assert errors == [0, 5, 10, 10]
    assert sim.status(9)["daemon"]["last_error"].startswith("ccxt.NetworkError")
    stopped = sim.status(11)
    assert stopped["daemon"]["running"] is False
    assert not any(e["connected"] for e in stopped["exchanges"].values())
    after = sim.status(14)["daemon"]
    assert after["running"] is True and after["restart_count"] == 1 and after["uptime_seconds"] == 1.0


def test_counters_are_monotonic_within_a_run() -> None:
    sim = daemon(symbols_per_exchange=2)
    previous = sim.status(0)["daemon"]
    for tick in range(1, 200):
        current = sim.status(tick)["daemon"]
        for key in ("fetch_count", "error_count", "liquidation_count"):
            assert current[key] >= previous[key]
        previous = current


def test_checkpointed_source_resumes(tmp_path: Path) -> None:
    state = tmp_path / "sim.json"
    source = SimulateSource(daemon(symbols_per_exchange=1), ticks=5, state_file=state)
    seen = []
    for _ in range(3):
        result = source.poll()
        assert isinstance(result, Snapshot)
        seen.append(result.status.timestamp)
        source.commit()
    source.poll()  # polled but never committed (killed before the rows were spooled)
    resumed = SimulateSource(daemon(symbols_per_exchange=1), ticks=5, state_file=state)
    assert resumed.next_tick == 3
    while (result := resumed.poll()) is not None:
        assert isinstance(result, Snapshot)
        seen.append(result.status.timestamp)
        resumed.commit()
    assert seen == [START + timedelta(seconds=t) for t in range(5)]
    assert resumed.exhausted


def test_real_time_mode_uses_the_clock() -> None:
    now = START + timedelta(hours=5)
    sim = SimulatedDaemon(seed=1, clock=lambda: now, symbols_per_exchange=1)
    assert sim.get_status()["timestamp"] == now.isoformat()
    assert sim.get_status()["daemon"]["uptime_seconds"] == 1.0
