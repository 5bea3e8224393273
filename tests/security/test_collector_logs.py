"""The collector service never reveals its QuestDB password: not in its logs (JSON, DEBUG level), not
in /metrics, not in the dead-letter file or anything else under its state directory - while QuestDB
refuses its password, while QuestDB is down, and while QuestDB rejects rows.

The real service (`python -m collector run`, as the systemd unit starts it, the password in the
environment like the unit's EnvironmentFile) against a real QuestDB of the test's own with
distinctive passwords (and it listens on its configured /metrics address only):
  run A: a wrong password, QuestDB up     -> 401 on every flush (retried, logged);
  run B: the right password, QuestDB down -> connection errors; then QuestDB starts and takes the
         rows, except daemon_metrics, whose uptime_seconds column is LONG here: the simulator's
         DOUBLE values are rejected and land in the dead-letter file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_plan import create_table_sql
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_schema import build_spec

from tests.support.paths import REPO
from tests.support.questdb_server import QuestDBServer, free_port
from tests.support.schema import create_schema, schema

PASSWORD = "tw-sec-collector-Http-4d2e8a"
WRONG_PASSWORD = "tw-sec-wrong-Http-61ab3c"
PREFIX = "tradewatch_collector"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[QuestDBServer]:
    """A QuestDB of the test's own (to stop and start) whose HTTP password is PASSWORD; its
    daemon_metrics.uptime_seconds is LONG so that the collector's rows for it are rejected."""
    qdb = QuestDBServer(
        root=tmp_path / "questdb", http_password=PASSWORD, pg_password="tw-sec-collector-Pg-0c"
    )
    qdb.start()
    try:
        daemon = next(t for t in schema() if t["name"] == "daemon_metrics")
        columns = [{**c, "type": "LONG"} if c["name"] == "uptime_seconds" else c for c in daemon["columns"]]
        qdb.exec(create_table_sql(build_spec({**daemon, "columns": columns})))
        create_schema(qdb)
        yield qdb
    finally:
        qdb.stop()


class Collector:
    """One `python -m collector run` process; stdout and stderr go to files (DEBUG logs are long)."""

    def __init__(self, tmp_path: Path, server: QuestDBServer, password: str, name: str) -> None:
        tmp_path.mkdir(parents=True)
        self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.state = tmp_path / "state"
        config = {
            "env": "dev",
            "host": "sec-collector",
            "poll_interval_seconds": 0.2,
            "batch_size": 50,
            "flush_interval_seconds": 0.2,
            "questdb": {
                "addr": f"{server.host}:{server.http_port}",
                "username": server.http_user,
                "request_timeout_ms": 2000,
            },
            "retry": {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.5},
            "spool": {"dir": str(self.state / "spool")},
            "metrics": {"listen": f"127.0.0.1:{self.metrics_port}"},
            "logging": {"level": "DEBUG", "format": "json"},
            "sources": [{"type": "simulate", "seed": 5, "symbols_per_exchange": 2}],
        }
        path = tmp_path / f"collector-{name}.yml"
        path.write_text(yaml.safe_dump(config))
        self.stdout = tmp_path / f"collector-{name}.stdout"
        self.stderr = tmp_path / f"collector-{name}.stderr"
        env = {**os.environ, "PYTHONPATH": str(REPO), "TRADEWATCH_COLLECTOR_QUESTDB__PASSWORD": password}
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "collector", "run", "--config", str(path)],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=err,
            )
        self.scrapes: list[str] = []

    def scrape(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text = response.read().decode()
        self.scrapes.append(text)
        return text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a sample of /metrics (0 before the endpoint answers)."""
        try:
            text = self.scrape()
        except OSError:
            return 0.0
        total = 0.0
        for line in text.splitlines():
            if line.startswith(f"{PREFIX}_{name}") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait(self, what: str, condition: Callable[[], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the collector exited: {self.stderr.read_text()[-3000:]}"
            assert time.monotonic() < deadline, (
                f"timed out waiting for {what}: {self.stderr.read_text()[-3000:]}"
            )
            time.sleep(0.2)

    def stop(self) -> str:
        """SIGTERM; return everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.stdout.read_text() + self.stderr.read_text()


def files_holding(root: Path, secrets: list[str]) -> list[str]:
    return [
        str(path)
        for path in root.rglob("*")
        if path.is_file() and any(s.encode() in path.read_bytes() for s in secrets)
    ]


def messages(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.mark.fault
@pytest.mark.timeout(600)
def test_collector_never_reveals_its_password(tmp_path: Path, server: QuestDBServer) -> None:
    secrets = [PASSWORD, WRONG_PASSWORD]

    # Run A: QuestDB refuses the password.
    wrong = Collector(tmp_path / "a", server, WRONG_PASSWORD, "wrong-password")
    wrong.wait("refused flushes", lambda: wrong.metric("flush_retries_total", kind="auth") >= 3)
    assert wrong.metric("rows_sent_total") == 0
    output_a = wrong.stop()

    # Run B: QuestDB down, then up; daemon_metrics rejects its rows.
    server.stop()
    right = Collector(tmp_path / "b", server, PASSWORD, "questdb-down")
    right.wait("connection errors", lambda: right.metric("flush_retries_total", kind="connect") >= 3)
    listening = {
        (s.laddr.ip, s.laddr.port)
        for s in psutil.Process(right.process.pid).net_connections(kind="inet")
        if s.status == psutil.CONN_LISTEN
    }
    assert listening == {("127.0.0.1", right.metrics_port)}, "the collector listens elsewhere too"
    server.start()
    right.wait("rows delivered", lambda: right.metric("rows_sent_total", table="pipeline_metrics") > 0)
    right.wait("rows rejected", lambda: right.metric("rows_rejected_total", table="daemon_metrics") > 0)
    output_b = right.stop()

    # The phases happened and were logged (level DEBUG: everything the collector logs) ...
    logs_a, logs_b = messages(output_a), messages(output_b)
    assert any(e.get("kind") == "auth" and "401" in str(e.get("error")) for e in logs_a), output_a[-3000:]
    assert any(e.get("kind") == "connect" for e in logs_b), output_b[-3000:]
    assert any(e["message"] == "rows rejected and dead-lettered" for e in logs_b), output_b[-3000:]
    assert any(e["message"] == "collector started" for e in logs_a + logs_b)
    dead_letter = tmp_path / "b" / "state" / "spool" / "dead-letter.jsonl"
    assert "cast error" in dead_letter.read_text()
    assert len(wrong.scrapes) > 1 and len(right.scrapes) > 1

    # ... and the password is nowhere.
    for name, output in (("run A", output_a), ("run B", output_b)):
        assert not [s for s in secrets if s in output], f"{name} printed a password"
    for scrape in wrong.scrapes + right.scrapes:
        assert not [s for s in secrets if s in scrape], "/metrics shows a password"
    assert files_holding(tmp_path / "a" / "state", secrets) == []
    assert files_holding(tmp_path / "b" / "state", secrets) == []
