"""The alert rules against the real daemon's shape: the stand-in of ccxt_pipeline's DaemonRunner with
every venue unreachable, its hook, the status channel and the collector, writing into the alert tests'
QuestDB. The hook and the collector run on a virtual clock 60 times faster than the wall clock, in a
time slice of their own (after the scripted scenarios), so minutes of alerting happen in seconds.

- every venue failing: error-rate and exchange-disconnected fire for each venue, daemon-down does not;
- the daemon stops (running=false, then no status at all): daemon-down fires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.ccxt.hook import RunnerStatus, StatusPublisher
from collector.channel import QueueWriter, document_names
from collector.config import config_from_mapping
from collector.service.app import CollectorApp, build_sources
from tests.grafana.conftest import Monitoring
from tests.grafana.datagen import D, S
from tests.grafana.evaluation import firing_at
from tests.grafana.scenarios import SCENARIOS, at
from tests.support.ccxt_standin import DaemonRunner, Network
from tests.support.ccxt_standin.harness import RunningDaemon

SPEED = 60.0  # virtual seconds per wall-clock second
HOST = "ccxt-standin-1"
VENUES = ("binance", "bybit", "hyperliquid")
HOOK_INTERVAL = 0.2  # wall-clock seconds between the hook's status documents


class VirtualClock:
    """UTC time that starts at ``start`` and runs SPEED times faster than the wall clock."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._t0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * SPEED)

    def ns(self) -> int:
        return int(self().timestamp() * S)


@dataclass
class Run:
    failing_at: int  # virtual time (ns) after ~12 virtual minutes of every venue failing
    stopped_at: int  # virtual time (ns) ~3 virtual minutes after the daemon stopped


@pytest.fixture(scope="module")
def ccxt_run(monitoring: Monitoring, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("ccxt-alerts")
    queue = tmp / "queue"
    queue.mkdir()
    start_ns = at(len(SCENARIOS)) + 1 * D  # a slice no scenario uses
    clock = VirtualClock(datetime.fromtimestamp(start_ns / S, UTC))
    server = monitoring.server
    config = config_from_mapping(
        {
            "env": "prod",
            "host": HOST,
            "questdb": {
                "addr": f"{server.host}:{server.http_port}",
                "username": server.http_user,
                "password": server.http_password,
            },
            "spool": {"dir": str(Path(tmp) / "spool")},
            "metrics": {"enabled": False},
            "flush_interval_seconds": 0.2,
            "poll_interval_seconds": 0.1,
            "self_metrics_interval_seconds": 600,  # virtual: collector rows are not the subject here
            "sources": [{"type": "queue", "path": str(queue), "stale_after_seconds": 30}],
        }
    )
    app = CollectorApp(config, build_sources(config, clock=clock), clock=clock)
    collector = threading.Thread(target=app.run, daemon=True)
    collector.start()
    runner = DaemonRunner(network=Network(), oi_interval_minutes=0.02, funding_interval_minutes=0.04)
    hook = StatusPublisher(
        RunnerStatus(runner, clock=clock), QueueWriter(queue), interval=HOOK_INTERVAL
    ).start()
    try:
        with RunningDaemon(runner):
            time.sleep(12)  # ~12 virtual minutes
            failing_at = clock.ns()
        hook.stop()
        time.sleep(3)  # ~3 virtual minutes of silence
        stopped_at = clock.ns()
        deadline = time.monotonic() + 30
        while document_names(queue) and time.monotonic() < deadline:
            time.sleep(0.1)
        app.stop_event.set()
        collector.join(10)
    finally:
        assert app.shutdown(30), "rows left in the collector's spool"
    for table in ("daemon_metrics", "exchange_status", "pipeline_metrics"):
        server.wait_wal(table)
    yield Run(failing_at, stopped_at)


def instances(fired: set[Any], label: str) -> set[str]:
    return {dict(labels).get(label, "") for labels in fired}


def test_every_venue_failing_fires_error_rate_and_disconnected_per_venue(
    monitoring: Monitoring, prod_rules: dict[str, Any], ccxt_run: Run
) -> None:
    for rule_id in ("error-rate", "exchange-disconnected"):
        group, rule = prod_rules[rule_id]
        fired = {labels for labels in firing_at(monitoring, group, rule, ccxt_run.failing_at)
                 if dict(labels).get("host") == HOST}  # fmt: skip
        assert instances(fired, "exchange") == set(VENUES), f"{rule_id}: {fired}"


def test_a_running_daemon_is_not_down(
    monitoring: Monitoring, prod_rules: dict[str, Any], ccxt_run: Run
) -> None:
    # Evaluated when the next report after the last one before failing_at was due: at 60 times the wall
    # clock, a 0.5 s stall of the hook's thread on a busy machine is 30 virtual seconds of silence.
    reports = monitoring.query(
        f"SELECT cast(timestamp AS long), running FROM daemon_metrics WHERE host = '{HOST}'"
        f" AND timestamp <= {ccxt_run.failing_at // 1000} ORDER BY timestamp"
    )[1]
    states = [running for _, running in reports]
    started = states.index(True) if True in states else len(states)
    assert states[started:] and all(states[started:]), f"running, then stopped before failing_at: {states}"
    last = reports[-1][0]
    due = last * 1000 + int(HOOK_INTERVAL * SPEED * S)
    group, rule = prod_rules["daemon-down"]
    fired = firing_at(monitoring, group, rule, due)
    assert HOST not in instances(fired, "host"), fired


def test_a_stopped_daemon_is_down(monitoring: Monitoring, prod_rules: dict[str, Any], ccxt_run: Run) -> None:
    rows = monitoring.query(
        f"SELECT running, count() FROM daemon_metrics WHERE host = '{HOST}' GROUP BY running ORDER BY running"
    )[1]
    assert [r[0] for r in rows] == [False, True] and all(r[1] > 0 for r in rows), rows
    group, rule = prod_rules["daemon-down"]
    fired = firing_at(monitoring, group, rule, ccxt_run.stopped_at)
    assert HOST in instances(fired, "host"), fired
