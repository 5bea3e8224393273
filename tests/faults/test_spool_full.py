"""The spool limit reached in the real service: drops are counted and visible on /metrics, the
process stays alive and still exits cleanly on SIGTERM.

The service (`python -m collector run`, as systemd runs it) polls a simulated daemon ~1,000 rows/s
while QuestDB is unreachable, with the smallest spool the configuration allows (64 KiB in 4 KiB
segments): the spool fills within a second and every further poll drops rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO
from tests.support.questdb_server import free_port

MAX_BYTES = 1 << 16


def scrape(port: int) -> dict[str, float]:
    """The /metrics samples as {'name{labels}': value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@pytest.mark.fault
@pytest.mark.timeout(120)
@pytest.mark.parametrize("policy", ["drop_oldest", "reject_new"])
def test_full_spool_drops_are_counted_on_metrics_and_the_service_lives(tmp_path: Path, policy: str) -> None:
    port = free_port()
    config = {
        "env": "dev",
        "host": "spool-full",
        "poll_interval_seconds": 0.1,
        "questdb": {"addr": f"127.0.0.1:{free_port()}", "request_timeout_ms": 500},  # nothing listens
        "retry": {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.2},
        "spool": {
            "dir": str(tmp_path / "spool"),
            "max_bytes": MAX_BYTES,
            "when_full": policy,
        },
        "metrics": {"enabled": True, "listen": f"127.0.0.1:{port}"},
        "service": {"shutdown_timeout_seconds": 2},
        "sources": [{"type": "simulate", "symbols_per_exchange": 8, "strategies": 1, "tick_seconds": 0.1}],
    }
    path = tmp_path / "collector.yml"
    path.write_text(yaml.safe_dump(config))
    log = tmp_path / "collector.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector", "run", "--config", str(path)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 30
        dropped = 0.0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                metrics = scrape(port)
            except OSError:
                continue
            dropped = metrics.get('tradewatch_collector_rows_dropped_total{reason="spool_full"}', 0.0)
            if dropped > 2_000:
                break
        assert dropped > 2_000, f"no drops counted: {log.read_text()[-2000:]}"
        time.sleep(1)
        metrics = scrape(port)
        assert proc.poll() is None  # alive after thousands of dropped rows
        assert metrics["tradewatch_collector_spool_bytes"] <= MAX_BYTES
        assert metrics['tradewatch_collector_rows_dropped_total{reason="spool_full"}'] > dropped
        added = sum(v for k, v in metrics.items() if k.startswith("tradewatch_collector_rows_added_total"))
        assert metrics["tradewatch_collector_questdb_up"] == 0
        assert metrics["tradewatch_collector_spool_rows"] > 0
        if policy == "reject_new":
            assert added > 0  # what fitted was accepted before the spool filled up
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text()
    assert "spool full: rows dropped" in text
    assert "Traceback" not in text
