"""The dashboards read the questdb role's rollup views for long ranges (grafana_dashboards_rollups).

Every panel query with rollup branches runs on the real QuestDB (30 days of simulated data, the role's
views refreshed; the test's raw tables keep everything) and is checked twice, for each of the five
branches of _rollups.j2 (an hour interval; a 2-minute interval over a range older than the 1-minute
rollups' TTL; a 2-minute interval; a 10 s interval over a range older than the raw TTL; a 10 s
interval over a recent range):
- only the branch of the case returns rows (each branch run alone), and the panel returns them;
- its result equals the same panel rendered with grafana_dashboards_rollups false (raw tables only),
  bucket by bucket, on hour-aligned ranges, at the bucket the branch samples by.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.grafana import macros
from tests.grafana.conftest import Monitoring
from tests.grafana.render import Rendered
from tests.grafana.test_panel_queries import resolve_variables

HOUR_MS, MINUTE_MS, DAY_MS = 3_600_000, 60_000, 86_400_000
DASHBOARDS = ("pipeline", "exchange", "health")
ROUTED = {
    "pipeline/OI fetches per hour", "pipeline/Funding fetches per hour",
    "pipeline/Liquidations per minute", "pipeline/Gap timeline", "pipeline/Gaps",
    "pipeline/Records per second", "pipeline/Bytes written per second", "pipeline/Processing latency",
    "exchange/Availability in range", "exchange/Downtime timeline", "exchange/Latency",
    "exchange/Reconnects", "exchange/Disconnections", "health/Restarts in range",
    "health/Memory trend", "health/CPU", "health/Errors per minute", "health/Running state",
}  # fmt: skip
# Rollup results that are bounds rather than equal values: column -> (min, max) of rollup - raw.
# A disconnection read from the 1-minute rollup lasts until the end of its last minute down.
BOUNDS = {"down_seconds": (0.0, 60.0)}
# Increments of a cumulative counter (lag over the rollup's per-bucket maximum): exact unless the
# counter restarts in the bucket or the one before (the bucket's maximum is then not its last value).
# column -> (table, counter, series key): the buckets of a restart are found in the raw rows.
COUNTERS = {
    "errors_per_minute": ("daemon_metrics", "error_count", "host"),
    "restarts": ("daemon_metrics", "restart_count", "host"),
    "reconnects": ("exchange_status", "reconnect_count", "exchange"),
}
# Panels of rare events: no rows in an old range is no finding.
SPARSE = {"Gaps", "Disconnections"}
# Text aggregates whose order is not defined: compared as sets.
SETS = {"affected_symbols"}


def tiered_targets(rendered: Rendered) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for name in DASHBOARDS:
        dashboard = rendered.dashboards()[name]
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                if "UNION ALL" in target["rawSql"]:
                    out.append((name, panel, target))
    return out


def raw_counterparts(rendered_raw: Rendered) -> dict[tuple[str, int, str], dict[str, Any]]:
    """The raw-only rendering's targets by (dashboard, panel id, refId)."""
    return {
        (name, panel["id"], target["refId"]): target
        for name in DASHBOARDS
        for panel in rendered_raw.dashboards()[name]["panels"]
        for target in panel.get("targets", [])
    }


def branch_sources(sql: str) -> list[str]:
    """The table each UNION ALL branch reads, in the order of _rollups.j2."""
    sources = []
    for branch in sql.split("\nUNION ALL\n"):
        found = re.findall(r"FROM (\w+)\s*\n\s*WHERE", branch)
        assert len(found) == 1, branch
        sources.append(found[0])
    return sources


def scanned(monitoring: Monitoring, sql: str) -> set[str]:
    _, rows, _ = monitoring.query(f"EXPLAIN {sql}")
    return {m.group(1) for (line,) in rows for m in [re.search(r"scan on: (\w+)", line)] if m}


def test_the_three_dashboards_route_their_aggregates(rendered: dict[str, Rendered]) -> None:
    labels = {f"{n}/{p['title']}" for n, p, _ in tiered_targets(rendered["prod"])}
    assert labels == ROUTED
    for _, panel, target in tiered_targets(rendered["prod"]):
        assert "LATEST ON" not in target["rawSql"], panel["title"]  # latest-state panels read the raw table


def test_raw_only_rendering_has_no_rollup_branches(rendered_raw: Rendered) -> None:
    for dashboard in rendered_raw.dashboards().values():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                assert "UNION ALL" not in target["rawSql"] and "_1m" not in target["rawSql"], panel["title"]
        for item in dashboard.get("templating", {}).get("list", []):
            assert "_1h" not in item["query"], item["name"]


@dataclass(frozen=True)
class Case:
    """A panel interval over a range of `span_ms` starting `age_ms` before the data's end, the branch
    of _rollups.j2 that must answer, and the interval at which that branch's buckets are sampled."""

    interval_ms: int
    span_ms: int
    age_ms: int
    branch: int
    bucket_ms: int
    rendering: str = "prod"  # "short": grafana_dashboards_rollup_ttl 14d


CASES = {
    "hour interval": Case(HOUR_MS, 7 * DAY_MS, 0, 0, HOUR_MS),
    "minute interval, range older than the rollup TTL": Case(
        2 * MINUTE_MS, DAY_MS, 20 * DAY_MS, 1, HOUR_MS, "short"
    ),
    "minute interval": Case(2 * MINUTE_MS, 7 * DAY_MS, 0, 2, 2 * MINUTE_MS),
    "10 s interval, range older than the raw TTL": Case(10_000, 2 * HOUR_MS, 10 * DAY_MS, 3, MINUTE_MS),
    "10 s interval, recent range": Case(10_000, HOUR_MS, 0, 4, 10_000),
}


def window(monitoring: Monitoring, case: Case) -> tuple[int, int]:
    """Hour-aligned [from, to]: whole rollup buckets at both ends."""
    end = (monitoring.now // 1_000_000 // HOUR_MS) * HOUR_MS - case.age_ms
    return end - case.span_ms, end - 1


@pytest.fixture(scope="module")
def renderings(rendered: dict[str, Rendered], rendered_short_rollups: Rendered) -> dict[str, Rendered]:
    return {"prod": rendered["prod"], "short": rendered_short_rollups}


@pytest.mark.parametrize("case", CASES)
def test_only_the_branch_of_the_case_returns_rows(
    renderings: dict[str, Rendered], rendered_raw: Rendered, monitoring: Monitoring, case: str
) -> None:
    """Each branch run alone: only the case's branch returns rows, and the panel returns exactly those
    (the test's raw tables have no TTL, so a raw branch would find rows if its condition let it). When
    the branch is chosen by the interval alone, QuestDB does not even scan the other tables (EXPLAIN)."""
    c = CASES[case]
    from_ms, to_ms = window(monitoring, c)
    rendered = renderings[c.rendering]
    raw_targets = raw_counterparts(rendered_raw)
    problems = []
    for name, panel, target in tiered_targets(rendered):
        variables = resolve_variables(monitoring, rendered.dashboards()[name], from_ms, to_ms, {})

        def expand(sql: str) -> str:
            return macros.panel_sql(sql, variables, from_ms, to_ms, c.interval_ms)  # noqa: B023

        def run(sql: str) -> list[tuple[Any, ...]]:
            return monitoring.query(expand(sql))[1]

        branches = target["rawSql"].split("\nUNION ALL\n")
        counts = [len(run(branch.strip()[1:-1])) for branch in branches]
        rows = run(target["rawSql"])
        label = f"{name}/{panel['title']}"
        if any(count for i, count in enumerate(counts) if i != c.branch) or len(rows) != counts[c.branch]:
            problems.append(f"{label}: rows per branch {counts}, panel {len(rows)}; expected {c.branch} only")
        if not rows and run(raw_targets[(name, panel["id"], target["refId"])]["rawSql"]):
            problems.append(f"{label}: no rows, the raw tables have some")
        if c.branch in (0, 2) and c.age_ms == 0:  # chosen by the interval: the others are empty tables
            tables = scanned(monitoring, expand(target["rawSql"]))
            sources = branch_sources(target["rawSql"])
            if sources[c.branch] not in tables or not tables <= {sources[c.branch], sources[1]}:
                problems.append(f"{label}: QuestDB scans {sorted(tables)}")
    assert not problems, f"{case}:\n" + "\n".join(problems)


def _key(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(v) for v in row if not isinstance(v, float))


def restarts(monitoring: Monitoring, column: str, from_ms: int, to_ms: int, bucket_ms: int) -> set[Any]:
    """(bucket start, series) of the buckets a counter restart makes approximate: the bucket of the
    restart and the next one; (None, series) as well for the whole-range panels."""
    table, counter, key = COUNTERS[column]
    _, rows, _ = monitoring.query(
        f"SELECT timestamp, {key}, {counter} < lag({counter}) OVER (PARTITION BY {key}, host"
        f" ORDER BY timestamp) FROM {table} WHERE timestamp BETWEEN cast({from_ms * 1000} AS timestamp)"
        f" AND cast({to_ms * 1000} AS timestamp)"
    )
    found: set[Any] = set()
    for ts, series, restarted in rows:
        if restarted:
            start = (
                ts.replace(minute=0, second=0, microsecond=0)
                if bucket_ms == HOUR_MS
                else ts.replace(second=0, microsecond=0)
            )
            found |= {(start, series), (start + timedelta(milliseconds=bucket_ms), series), (None, series)}
    return found


def compare(
    columns: list[str], rolled: list[tuple[Any, ...]], raw: list[tuple[Any, ...]], approximate: set[Any]
) -> list[str]:
    """Differences between the rollup result and the raw result, as readable lines (`approximate`:
    the (bucket start, series) whose counter increments may differ, from restarts())."""
    if len(rolled) != len(raw):
        return [f"{len(rolled)} rows from the rollups, {len(raw)} from the raw table"]
    problems = []
    for a, b in zip(sorted(rolled, key=_key), sorted(raw, key=_key), strict=True):
        for column, x, y in zip(columns, a, b, strict=True):
            if column in SETS:
                same = set(str(x).split(",")) == set(str(y).split(","))
            elif column in BOUNDS and x is not None and y is not None:
                low, high = BOUNDS[column]
                same = low - 1e-6 <= x - y <= high + 1e-6
            elif column in COUNTERS and (a[0] if isinstance(a[0], datetime) else None, a[1]) in approximate:
                same = True
            elif isinstance(x, float) and isinstance(y, float):
                same = math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
            else:
                same = x == y
            if not same:
                problems.append(f"{column}: rollups {x!r}, raw {y!r} in rollup row {a}")
    return problems


@pytest.mark.parametrize("case", CASES)
def test_rollup_results_equal_the_raw_tables(
    renderings: dict[str, Rendered], rendered_raw: Rendered, monitoring: Monitoring, case: str
) -> None:
    """The panel at the case's interval equals the raw-only panel at the bucket its branch samples by
    (a 10 s panel over last week's range reads 1-minute buckets, rates per second unchanged)."""
    c = CASES[case]
    from_ms, to_ms = window(monitoring, c)
    rendered = renderings[c.rendering]
    raw_panels = raw_counterparts(rendered_raw)
    problems, checked = [], 0
    for name, panel, target in tiered_targets(rendered):
        variables = resolve_variables(monitoring, rendered.dashboards()[name], from_ms, to_ms, {})
        raw_target = raw_panels[(name, panel["id"], target["refId"])]
        columns, rolled, _ = monitoring.query(
            macros.panel_sql(target["rawSql"], variables, from_ms, to_ms, c.interval_ms)
        )
        _, raw, _ = monitoring.query(
            macros.panel_sql(raw_target["rawSql"], variables, from_ms, to_ms, c.bucket_ms)
        )
        if not raw and panel["title"] in SPARSE:
            continue
        assert raw, f"{name}/{panel['title']}: the raw query found no rows"
        names = [column for column, _ in columns]
        counter = next((column for column in names if column in COUNTERS), None)
        approximate = restarts(monitoring, counter, from_ms, to_ms, c.bucket_ms) if counter else set()
        found = compare(names, rolled, raw, approximate)
        problems += [f"{name}/{panel['title']}: {line}" for line in found[:3]]
        checked += 1
    assert checked >= len(ROUTED) - len(SPARSE)
    assert not problems, "\n".join(problems)
