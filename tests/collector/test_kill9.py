"""kill -9 of the collector service while rows stream, then a restart: every row exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from collector.sink.spool import Spool
from collector.sources.simulate import SimulatedDaemon
from tests.collector.conftest import counts, pg_query, questdb_settings, wait_all_wal
from tests.collector.helpers import START
from tests.support.paths import REPO
from tests.support.questdb_server import QuestDBServer

TICKS = 150
KILL_AT = 45
SEED = 5


def write_config(tmp_path: Path, server: QuestDBServer, host: str) -> Path:
    config = {
        "env": "dev",
        "host": host,
        "poll_interval_seconds": 0.05,
        # The sender ships only when 20,000 rows are pending (every ~33 ticks; its timer is set far
        # out), so killing it at tick 45 always leaves some rows delivered and some only spooled.
        "batch_size": 20_000,
        "flush_interval_seconds": 60.0,
        "max_request_rows": 3_000,
        "questdb": questdb_settings(server),
        "spool": {"dir": str(tmp_path / "spool"), "fsync": "never"},
        "metrics": {"enabled": False},
        "service": {"exit_when_sources_exhausted": True, "shutdown_timeout_seconds": 60},
        "sources": [
            {
                "type": "simulate",
                "seed": SEED,
                "host": host,
                "start": START.isoformat(),
                "ticks": TICKS,
                "state_file": str(tmp_path / "simulate-state.json"),
            }
        ],
    }
    path = tmp_path / "collector.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "collector", "run", "--config", str(config)], cwd=REPO, env=env, stderr=out
        )


def next_tick(state: Path) -> int:
    try:
        return int(json.loads(state.read_text())["next_tick"])
    except (OSError, ValueError, KeyError):
        return 0


def delivered(server: QuestDBServer, host: str) -> int:
    return int(pg_query(server, "SELECT count() FROM pipeline_metrics WHERE host = %s", (host,))[0][0])


@pytest.mark.fault
@pytest.mark.timeout(300)
def test_kill_9_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, fresh_qdb: QuestDBServer, host: str
) -> None:
    config = write_config(tmp_path, fresh_qdb, host)
    state, log = tmp_path / "simulate-state.json", tmp_path / "collector.log"
    rows_per_tick = SimulatedDaemon(seed=SEED, start=START).rows_per_tick()

    first = start(config, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        if next_tick(state) >= KILL_AT and delivered(fresh_qdb, host) > 0:
            break
        time.sleep(0.05)
    assert first.poll() is None, log.read_text()
    first.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    ticks_at_kill = next_tick(state)
    assert 0 < ticks_at_kill < TICKS, "the kill must land mid-stream"

    spool = Spool(tmp_path / "spool")
    spooled_at_kill = spool.pending_rows()
    spool.close()
    wait_all_wal(fresh_qdb)
    delivered_at_kill = sum(total for total, _ in counts(fresh_qdb, host).values())
    assert spooled_at_kill > 0, "some rows must be waiting in the spool when the collector dies"
    assert delivered_at_kill > 0, "and some must have reached QuestDB already"

    second = start(config, log)
    assert second.wait(180) == 0, log.read_text()[-5_000:]

    wait_all_wal(fresh_qdb)
    got = counts(fresh_qdb, host)
    expected = TICKS * rows_per_tick
    assert got == {
        "daemon_metrics": (TICKS, TICKS),
        "exchange_status": (4 * TICKS, 4 * TICKS),
        "pipeline_metrics": (600 * TICKS, 600 * TICKS),
        "trading_metrics": (4 * TICKS, 4 * TICKS),
    }
    assert sum(total for total, _ in got.values()) == expected
    print(
        f"\nkill -9 after {ticks_at_kill} of {TICKS} ticks: {delivered_at_kill} rows in QuestDB and "
        f"{spooled_at_kill} spooled at the kill; after restart {expected} rows expected, "
        f"{sum(t for t, _ in got.values())} in QuestDB, {sum(d for _, d in got.values())} distinct"
    )
