"""The bench in its quickest mode prints the table with every row (and no section failed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

EXPECTED = [
    ("Ingest", "MetricsClient.add_many (durable spool)"),
    ("Ingest", "MetricsClient / raw client (same models)"),
    ("Backlog", "5,000 spooled rows delivered after an outage"),
    ("Latency", "event -> visible in SQL, p99"),
    ("Latency", "event -> visible in SQL, max"),
    ("Footprint", "collector RSS at 1,005 rows/s"),
    ("Footprint", "the same interpreter, the service's imports only"),
    ("Footprint", "collector CPU at 1,005 rows/s"),
    ("Storage before", "total, 90 days of R (upstream design)"),
    ("Storage after", "total, 1 days of R"),
    ("Storage after", "total, 1 days of R, at the end of a day"),
    ("Storage after", "pipeline_metrics_1m (view)"),
    ("Dashboards", "90d: slowest query p95"),
    ("Dashboards, raw tables (baseline)", "90d: slowest query p95"),
    ("Hook", "one exchange request, watched vs bare (baseline, same run)"),
]


@pytest.mark.bench
@pytest.mark.timeout(1800)
def test_quick_bench_prints_every_row(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    args = ["--quick", "--no-progress", "--json", str(report), "--workdir", str(tmp_path)]
    args += ["--ingest-rows", "5000", "--backlog-rows", "5000", "--latency-seconds", "3"]
    args += ["--footprint-seconds", "3", "--days", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    out = result.stdout
    assert "load average (1/5/15 min) at start:" in out
    for section, metric in EXPECTED:
        assert metric in out, f"{section}: {metric!r} missing from the table\n{out}"
    rows = json.loads(report.read_text())["results"]
    assert not [r for r in rows if r["metric"] == "error"], rows
    # the five slowest dashboard queries, each with the plan QuestDB chose
    assert "slowest dashboard queries (provisioned, p95)" in out
    slowest = json.loads(report.read_text())["details"]["dashboards_slowest"]
    assert len(slowest) == 5, slowest
    assert all(item["plan"] and not item["plan"][0].startswith("EXPLAIN failed") for item in slowest), slowest
    assert {(r["section"], r["metric"]) for r in rows} >= set(EXPECTED)
