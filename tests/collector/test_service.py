"""The service: SIGTERM flushes and exits 0, sd_notify READY/WATCHDOG/STOPPING, /metrics, JSON logs;
attach() for the in-process daemon; the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from collector.cli import main
from collector.service.app import CollectorApp, build_sources
from collector.service.attach import attach
from collector.service.systemd import Notifier
from collector.sink.spool import Spool
from collector.sources.fake_daemon import status_server
from collector.sources.simulate import SimulatedDaemon
from tests.collector.conftest import make_config, pg_query, questdb_settings, wait_all_wal
from tests.collector.helpers import START
from tests.collector.test_kill9 import next_tick
from tests.support.paths import REPO
from tests.support.questdb_server import QuestDBServer, free_port


def test_sigterm_flushes_everything_and_exits_0(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(30)
    metrics_port = free_port()
    state = tmp_path / "state.json"
    config = {
        "env": "dev",
        "host": host,
        "poll_interval_seconds": 0.1,
        "batch_size": 100_000,
        "flush_interval_seconds": 30,  # nothing would reach QuestDB without the final flush
        "questdb": questdb_settings(qdb),
        "spool": {"dir": str(tmp_path / "spool")},
        "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        "sources": [
            {
                "type": "simulate",
                "seed": 9,
                "start": START.isoformat(),
                "symbols_per_exchange": 5,
                "host": host,
                "state_file": str(state),
            }
        ],
    }
    path = tmp_path / "collector.yml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO), "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "400000"}
    process = subprocess.Popen(
        [sys.executable, "-m", "collector", "run", "-c", str(path)], cwd=REPO, env=env, stderr=subprocess.PIPE
    )
    try:
        messages = [notify.recv(4096).decode()]
        assert messages[0].startswith("READY=1")
        while "WATCHDOG=1" not in messages:
            messages.append(notify.recv(4096).decode())
        while next_tick(state) < 10:
            time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            exposition = response.read().decode()
        assert "tradewatch_collector_rows_added_total" in exposition
        assert "tradewatch_collector_spool_rows" in exposition
        assert "_created" not in exposition
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        while not any(m.startswith("STOPPING=1") for m in messages):
            messages.append(notify.recv(4096).decode())
    finally:
        if process.poll() is None:
            process.kill()
        notify.close()
    assert process.stderr is not None
    logs = [json.loads(line) for line in process.stderr.read().decode().splitlines() if line.strip()]
    assert {"ts", "level", "logger", "message"} <= set(logs[0])
    assert any(entry["message"] == "collector stopped" and entry["everything_delivered"] for entry in logs)
    ticks = next_tick(state)
    rows_per_tick = SimulatedDaemon(symbols_per_exchange=5).rows_per_tick()
    wait_all_wal(qdb)
    total = sum(
        pg_query(qdb, f"SELECT count() FROM {table} WHERE host = %s", (host,))[0][0]
        for table in ("daemon_metrics", "exchange_status", "pipeline_metrics", "trading_metrics")
    )
    assert total == ticks * rows_per_tick
    # and its own health: a row at start, every 10 s, and one at stop, sampled before the final flush
    own_sql = "SELECT rows_sent, rows_spooled FROM collector_metrics WHERE host = %s ORDER BY timestamp"
    own = pg_query(qdb, own_sql, (host,))
    assert len(own) >= 2
    assert own[-1] == (0, total + len(own) - 1)  # nothing was sent before the final flush


def test_attach_in_process(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    daemon = SimulatedDaemon(seed=4, start=START, symbols_per_exchange=3, host=host)
    config = make_config(tmp_path, qdb, host=host, poll_interval_seconds=0.05)
    handle = attach(daemon, config)
    time.sleep(1.0)
    assert handle.stop(30) is True
    polled = daemon.get_status()  # the next tick: tells how many were taken
    ticks = int((START.fromisoformat(polled["timestamp"]) - START).total_seconds())
    assert ticks > 3
    wait_all_wal(qdb)
    rows = pg_query(qdb, "SELECT count() FROM pipeline_metrics WHERE host = %s", (host,))[0][0]
    assert rows == ticks * 4 * 3 * 3
    daemon_rows = pg_query(
        qdb, "SELECT count(), min(memory_rss_bytes) FROM daemon_metrics WHERE host = %s", (host,)
    )
    assert daemon_rows[0][0] == ticks and daemon_rows[0][1] > 0


def test_notifier_without_systemd_is_silent() -> None:
    notifier = Notifier(environ={})
    assert not notifier.enabled
    assert notifier.notify("READY=1") is False
    notifier.watchdog()


def test_watchdog_is_rate_limited(tmp_path: Path) -> None:
    path = str(tmp_path / "n.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(0.2)
        now = [0.0]
        notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}, monotonic=lambda: now[0])
        notifier.watchdog()
        notifier.watchdog()  # within half the interval: not sent
        now[0] = 1.0
        notifier.watchdog()
        received = []
        try:
            while True:
                received.append(sock.recv(100))
        except TimeoutError:
            pass
        assert received == [b"WATCHDOG=1", b"WATCHDOG=1"]


def test_cli_check_config(tmp_path: Path, capsys: object) -> None:
    good = REPO / "collector" / "examples" / "collector.yml"
    assert main(["check-config", "--config", str(good)]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("env: Prod 1\nquestdb: {transport: qwp}\n")
    assert main(["check-config", "-c", str(bad)]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "env: String should match pattern '^[a-z][a-z0-9-]{0,31}$'" in err
    assert "questdb.transport: QWP/WebSocket ingestion needs QuestDB 10" in err


def test_cli_refuses_a_spool_in_use(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(
        yaml.safe_dump({"spool": {"dir": str(tmp_path / "spool")}, "metrics": {"enabled": False}})
    )
    held = Spool(tmp_path / "spool")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "collector", "run", "-c", str(config)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            timeout=60,
        )
    finally:
        held.close()
    assert result.returncode == 1
    assert b"in use by another process" in result.stderr


def test_http_source_end_to_end_and_daemon_stop(tmp_path: Path, qdb: QuestDBServer, host: str) -> None:
    server = status_server(SimulatedDaemon(seed=2, symbols_per_exchange=2, host=host))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/status"
    config = make_config(
        tmp_path,
        qdb,
        host=host,
        poll_interval_seconds=0.1,
        sources=[{"type": "http", "url": url, "timeout_seconds": 1}],
    )
    app = CollectorApp(config, build_sources(config))
    runner = threading.Thread(target=app.run, daemon=True)
    runner.start()
    time.sleep(1.0)
    server.shutdown()  # the daemon stops
    server.server_close()
    time.sleep(0.5)
    app.stop_event.set()
    runner.join(10)
    assert app.shutdown(30)
    value = app.metrics.registry.get_sample_value
    ok = value("tradewatch_collector_source_polls_total", {"source": "daemon", "outcome": "ok"}) or 0
    down = (
        value("tradewatch_collector_source_polls_total", {"source": "daemon", "outcome": "unreachable"}) or 0
    )
    assert ok >= 3 and down >= 2
    wait_all_wal(qdb)
    running = dict(
        pg_query(qdb, "SELECT running, count() FROM daemon_metrics WHERE host = %s GROUP BY running", (host,))
    )
    assert running == {True: ok, False: down}
    (pipeline,) = pg_query(qdb, "SELECT count() FROM pipeline_metrics WHERE host = %s", (host,))[0]
    assert pipeline == ok * 4 * 2 * 3
    latest = (
        "SELECT running, last_error FROM daemon_metrics WHERE host = %s LATEST ON timestamp PARTITION BY host"
    )
    last = pg_query(qdb, latest, (host,))
    assert last[0][0] is False and "unreachable" in last[0][1]
