"""Status sources (HTTP, file, in-process) and the poll loop around them."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.collectors import DaemonCollector, PipelineCollector
from collector.models import DaemonMetrics, MetricModel, ValidationContext
from collector.service.poller import Poller
from collector.sink.selfmetrics import CollectorMetrics
from collector.sources.base import Snapshot, Unreachable
from collector.sources.fake_daemon import status_server, write_status_file
from collector.sources.inprocess import InProcessSource
from collector.sources.remote import FileStatusSource, HttpStatusSource
from collector.sources.simulate import SimulatedDaemon, SimulateSource
from collector.sources.status import StatusError, parse_status
from tests.collector.helpers import START


@pytest.fixture
def fake_daemon() -> Iterator[str]:
    server = status_server(SimulatedDaemon(seed=1, symbols_per_exchange=2))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/status"
    server.shutdown()
    server.server_close()


def test_http_source(fake_daemon: str) -> None:
    result = HttpStatusSource(fake_daemon).poll()
    assert isinstance(result, Snapshot)
    assert len(result.status.pipeline) == 4 * 2 * 3
    assert result.status.daemon is not None and result.status.daemon["running"] is True


def test_http_source_down() -> None:
    result = HttpStatusSource("http://127.0.0.1:9/status", timeout=0.5).poll()
    assert isinstance(result, Unreachable)
    assert "unreachable" in result.error


def test_file_source(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    now = datetime.now(UTC)
    source = FileStatusSource(path, stale_after=10, clock=lambda: now)
    missing = source.poll()
    assert isinstance(missing, Unreachable) and "unreadable" in missing.error
    write_status_file(SimulatedDaemon(seed=2, symbols_per_exchange=1, clock=lambda: now), path)
    assert isinstance(source.poll(), Snapshot)
    later = FileStatusSource(path, stale_after=10, clock=lambda: now + timedelta(seconds=11)).poll()
    assert isinstance(later, Unreachable) and "stale" in later.error
    path.write_text("{half")
    with pytest.raises(StatusError, match="not valid JSON"):
        source.poll()


def test_file_without_timestamp_uses_mtime(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    path.write_text(json.dumps({"daemon": {"running": True}}))
    old = datetime.now(UTC).timestamp() - 60
    os.utime(path, (old, old))
    assert isinstance(FileStatusSource(path, stale_after=30).poll(), Unreachable)


def test_pid_file(tmp_path: Path, fake_daemon: str) -> None:
    pid_file = tmp_path / "daemon.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    result = HttpStatusSource(fake_daemon, pid_file=pid_file).poll()
    assert result.pid == os.getpid()


class Broken:
    def get_status(self) -> dict[str, Any]:
        raise RuntimeError("daemon crashed")


def test_in_process_source() -> None:
    sim = SimulatedDaemon(seed=3, symbols_per_exchange=1)
    result = InProcessSource(sim).poll()
    assert isinstance(result, Snapshot) and result.pid == os.getpid()
    failed = InProcessSource(Broken()).poll()
    assert isinstance(failed, Unreachable) and "daemon crashed" in failed.error


class ListSink:
    def __init__(self) -> None:
        self.samples: list[MetricModel] = []

    def add_many(self, samples: Any) -> int:
        batch = list(samples)
        self.samples.extend(batch)
        return len(batch)


class Replay:
    """A source returning scripted results."""

    name = "scripted"
    exhausted = False

    def __init__(self, results: list[Any]) -> None:
        self.results = results
        self.commits = 0

    def poll(self) -> Any:
        item = self.results.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def commit(self) -> None:
        self.commits += 1

    def close(self) -> None:
        return None


def poller(sources: list[Any], sink: ListSink, metrics: CollectorMetrics) -> Poller:
    ctx = ValidationContext(clock=lambda: START + timedelta(days=1))
    return Poller(
        sources,
        [DaemonCollector(), PipelineCollector()],
        sink,
        env="dev",
        host="h",
        validation=lambda: ctx,
        metrics=metrics,
    )


def test_poller_outcomes() -> None:
    sim = SimulatedDaemon(seed=1, start=START, symbols_per_exchange=1)
    doc = parse_status(sim.status(0), received_at=START)
    bad = parse_status(
        {**sim.status(1), "pipeline": [{"exchange": "binance", "records_count": -1}]}, received_at=START
    )
    source = Replay(
        [
            Snapshot("scripted", doc, START),
            Snapshot("scripted", doc, START),  # unchanged: skipped
            StatusError("garbage"),
            RuntimeError("bug"),
            Unreachable("scripted", "down", START),
            Snapshot("scripted", bad, START),
        ]
    )
    sink, metrics = ListSink(), CollectorMetrics()
    loop = poller([source], sink, metrics)
    added = [loop.poll_once() for _ in range(6)]
    assert added == [1 + 12, 0, 0, 0, 1, 1]
    assert (
        source.commits == 4
    )  # the two snapshots (the unchanged one's rows are spooled too), Unreachable, bad
    value = metrics.registry.get_sample_value
    for outcome, count in (("ok", 2), ("unchanged", 1), ("invalid", 1), ("error", 1), ("unreachable", 1)):
        assert (
            value("tradewatch_collector_source_polls_total", {"source": "scripted", "outcome": outcome})
            == count
        )
    assert (
        value("tradewatch_collector_invalid_samples_total", {"table": "pipeline_metrics", "field": "symbol"})
        == 1
    )
    assert isinstance(sink.samples[-2], DaemonMetrics) and sink.samples[-2].running is False


def test_poller_run_stops_when_exhausted() -> None:
    sim = SimulatedDaemon(seed=1, start=START, symbols_per_exchange=1)
    source = SimulateSource(sim, ticks=5)
    sink = ListSink()
    ticks: list[int] = []
    loop = poller([source], sink, CollectorMetrics())
    loop.run(threading.Event(), 0.001, on_tick=lambda: ticks.append(1), exit_when_exhausted=True)
    assert len(ticks) == 5
    assert len(sink.samples) == 5 * (1 + 12)
