"""Collector footprint: RSS and CPU share of the real service at a given row rate.

Runs ``python -m collector run --config ...`` (the systemd service's command) with a simulate
source of 4 exchanges x 3 data types and as many symbols as the rate needs, one tick per second,
against the bench's QuestDB. After a warm-up, psutil samples the process every second: RSS (mean
and max) and CPU seconds (user + system, all threads) over the window, as a share of one core.
The rows QuestDB received in the window confirm the rate.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench.common import REPO, BenchQuestDB, Progress, Result, fmt_rate, median, say

WARMUP = 5.0
HOST = "bench-footprint"
TARGET_RSS_MIB = 50.0
TARGET_CPU_SHARE = 0.03
# The same interpreter importing what the service imports, then reporting its RSS: the floor that the
# libraries alone take (pydantic, the questdb client's native library, prometheus_client, psutil).
_IMPORTS_ONLY = (
    "import collector.cli, collector.service.app;"
    "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')))"
)


def service_config(server: BenchQuestDB, rate: int, workdir: Path) -> tuple[Path, int]:
    exchanges, data_types, strategies = 4, 3, 2
    symbols = max(1, round((rate - 1 - exchanges - 2 * strategies) / (exchanges * data_types)))
    rows_per_tick = 1 + exchanges + exchanges * symbols * data_types + 2 * strategies
    config = {
        "env": "prod",
        "host": HOST,
        "poll_interval_seconds": 1.0,
        "questdb": {
            "addr": f"{server.host}:{server.http_port}",
            "username": server.http_user,
            "password": server.http_password,
        },
        "spool": {"dir": str(workdir / "footprint-spool")},
        "metrics": {"enabled": True, "listen": f"127.0.0.1:{_free_port()}"},
        "logging": {"level": "WARNING"},
        "sources": [
            {
                "type": "simulate",
                "host": HOST,
                "symbols_per_exchange": symbols,
                "strategies": strategies,
                "tick_seconds": 1.0,
            }
        ],
    }
    path = workdir / "footprint.yml"
    path.write_text(yaml.safe_dump(config))
    return path, rows_per_tick


def _free_port() -> int:
    from tests.support.questdb_server import free_port

    return free_port()


def delivered(server: BenchQuestDB) -> int:
    total = 0
    for table in ("daemon_metrics", "exchange_status", "pipeline_metrics", "trading_metrics"):
        total += int(server.rows(f"SELECT count() FROM {table} WHERE host = '{HOST}'")[0][0])
    return total


def bench_footprint(
    server: BenchQuestDB, rate: int, seconds: float, workdir: Path, details: dict[str, Any]
) -> list[Result]:
    config, rows_per_tick = service_config(server, rate, workdir)
    say(f"footprint: `python -m collector run` at {rows_per_tick:,} rows/s for {seconds:g} s")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = (workdir / "footprint.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector", "run", "--config", str(config)], cwd=REPO, env=env, stderr=log
    )
    try:
        process = psutil.Process(proc.pid)
        time.sleep(WARMUP)
        if proc.poll() is not None:
            raise RuntimeError(
                f"the collector exited with {proc.returncode}; see {workdir / 'footprint.log'}"
            )
        rss: list[float] = []
        rows_before = delivered(server)
        cpu_before = process.cpu_times()
        started = time.monotonic()
        with Progress("footprint", seconds, "s") as bar:
            while time.monotonic() - started < seconds:
                time.sleep(1.0)
                rss.append(process.memory_info().rss)
                bar.advance(1.0)
        cpu_after = process.cpu_times()
        elapsed = time.monotonic() - started
        rows_after = delivered(server)
        threads = process.num_threads()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    imports = subprocess.run(
        [sys.executable, "-c", _IMPORTS_ONLY], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    floor_mib = int(imports.stdout) / 1024
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    share = cpu / elapsed
    achieved = (rows_after - rows_before) / elapsed
    details["footprint"] = {
        "rss_mean": median(rss),
        "rss_max": max(rss),
        "cpu_seconds": cpu,
        "seconds": elapsed,
        "rows_per_second": achieved,
        "threads": threads,
        "rss_imports_only": floor_mib * 2**20,
        "exit_code": proc.returncode,
    }
    note = f"{elapsed:.0f} s after {WARMUP:.0f} s warm-up; delivered {fmt_rate(achieved)}; {threads} threads"
    rss_mib, top = median(rss) / 2**20, max(rss) / 2**20
    return [
        Result("Footprint", f"collector RSS at {rows_per_tick:,} rows/s", f"{rss_mib:.1f} MiB",
               f"<= {TARGET_RSS_MIB:.0f} MiB", rss_mib <= TARGET_RSS_MIB, f"max {top:.1f} MiB; {note}"),
        Result("Footprint", "the same interpreter, the service's imports only", f"{floor_mib:.1f} MiB",
               note=f"baseline: running takes {rss_mib / floor_mib:.2f}x of it"),
        Result("Footprint", f"collector CPU at {rows_per_tick:,} rows/s", f"{share:.1%} of one core",
               f"<= {TARGET_CPU_SHARE:.0%}", share <= TARGET_CPU_SHARE,
               f"{cpu:.2f} CPU-s (user + system) in {elapsed:.0f} s; exit {proc.returncode}"),
    ]  # fmt: skip
