"""Fixtures of the grafana tests: the role rendered per example environment, and a real QuestDB with
simulated monitoring data (30 days of history plus one time slice per alert scenario)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.grafana import datagen, scenarios
from tests.grafana.render import ENVS, Rendered, render
from tests.support.questdb_server import QuestDBServer
from tests.support.schema import create_schema, create_views, schema, wait_views

TABLES = tuple(table["name"] for table in schema())  # the role's tables, collector_metrics included


class DevModeQuestDB(QuestDBServer):
    """The harness server with QuestDB's dev mode, which allows ALTER TABLE ... SUSPEND WAL (used to
    produce a really suspended table for the suspended-table and WAL-lag rules)."""

    def write_config(self) -> None:
        super().write_config()
        with (self.root / "conf" / "server.conf").open("a") as conf:
            conf.write("dev.mode.enabled=true\n")


@dataclass
class Monitoring:
    """The loaded QuestDB: `now` of the history (ns), a read-only PG connection like Grafana's."""

    server: QuestDBServer
    now: int
    conn: psycopg.Connection[Any]
    rows_loaded: int
    timings: list[tuple[float, float, str]] = field(default_factory=list)

    def query(self, sql: str) -> tuple[list[tuple[str, int]], list[tuple[Any, ...]], float]:
        """Run one statement; return (name, type oid) per column, the rows and the seconds it took."""
        started = time.perf_counter()
        cursor = self.conn.execute(sql)
        rows = cursor.fetchall()
        elapsed = time.perf_counter() - started
        columns = [(d.name, d.type_code) for d in cursor.description or []]
        return columns, rows, elapsed


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """The grafana role run (package/plugin/service none) for every example environment."""
    with ThreadPoolExecutor(max_workers=len(ENVS)) as pool:
        jobs = {env: pool.submit(render, env, tmp_path_factory.mktemp(f"grafana-{env}")) for env in ENVS}
        return {env: job.result() for env, job in jobs.items()}


@pytest.fixture(scope="session")
def rendered_raw(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """prod rendered with grafana_dashboards_rollups false: every panel reads the raw tables."""
    return render("prod", tmp_path_factory.mktemp("grafana-prod-raw"), {"grafana_dashboards_rollups": False})


@pytest.fixture(scope="session")
def rendered_short_rollups(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """prod with 1-minute rollups kept 14 days: ranges older than that read the hourly rollups."""
    return render(
        "prod", tmp_path_factory.mktemp("grafana-prod-14d"), {"grafana_dashboards_rollup_ttl": "14d"}
    )


@pytest.fixture(scope="package")
def monitoring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitoring]:
    server = DevModeQuestDB(root=Path(tmp_path_factory.mktemp("grafana-questdb")), heap="-Xmx1500m")
    server.start()
    try:
        create_schema(server)
        create_views(server)  # the dashboards read the rollups for intervals of a minute and more
        now = (time.time_ns() // datagen.M) * datagen.M
        rows = datagen.load(server.ilp_conf, datagen.history(now, "prod") + scenarios.simulations("prod"))
        for table in TABLES:
            server.wait_wal(table, timeout=180)
        wait_views(server, timeout=300)
        with psycopg.connect(server.pg_dsn(readonly=True), autocommit=True) as conn:
            yield Monitoring(server=server, now=now, conn=conn, rows_loaded=rows)
    finally:
        server.stop()


@pytest.fixture(scope="package")
def prod_rules(rendered: dict[str, Rendered]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Rule id -> (group, rule) of the rendered prod alerting file."""
    doc = rendered["prod"].provisioning("alerting")
    return {r["uid"].removeprefix("tw-prod-"): (g, r) for g in doc["groups"] for r in g["rules"]}


_TIMINGS: list[tuple[float, float, str]] = []


@pytest.fixture(scope="session")
def query_timings() -> list[tuple[float, float, str]]:
    """(first run seconds, second run seconds, label) of every panel query, for the summary below."""
    return _TIMINGS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _TIMINGS:
        return
    terminalreporter.section("grafana panel queries (real QuestDB, read-only PG user)")
    terminalreporter.write_line(f"{len(_TIMINGS)} query runs; slowest first run / second run:")
    for first, second, label in sorted(_TIMINGS, reverse=True)[:5]:
        terminalreporter.write_line(f"  {first * 1000:8.1f} ms / {second * 1000:8.1f} ms  {label}")
