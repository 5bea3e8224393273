"""Dashboards: every panel query of the provisioned dashboards over 24 h, 7 d, 30 d and 90 d.

The dashboards are rendered by the grafana role itself (tests/grafana/render.py, env ``prod``), their
template variables resolved and their queries expanded exactly as Grafana and the QuestDB plugin do
(tests/grafana/macros.py), then run over PG wire as the read-only user Grafana uses, on the
retention dataset of bench/storage.py (90 days of R ending now). Each query runs ``repeats`` times;
a dashboard's time is the sum of its queries in one repetition (panels one after another: an upper
bound of what a browser waits for, as Grafana runs them concurrently).

Two variants:

- as provisioned: the panels read the raw tables. Over ranges longer than a raw table's TTL they
  only find the TTL's worth of rows (fast, but incomplete): the dashboards must read the rollups;
- with rollups: the same panel queries routed to the role's views where the panel interval is at
  least a view's bucket (``route()``, the mapping proposed for the dashboards): 1 h buckets from
  the ``*_1h`` views, 1 min buckets from the ``*_1m`` views, finer ones from the raw tables.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.common import BenchQuestDB, Progress, Result, fmt_ms, percentile, say
from tests.grafana import macros

RANGES = {"24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000, "90d": 90 * 86_400_000}
QUERY_P95 = 0.050
DASHBOARD_P95 = 0.500
MINUTE_MS, HOUR_MS = 60_000, 3_600_000

# Aggregates of the raw tables and their equivalents on the rollups (bench/retention.py views).
_COMMON = [
    (r"\bsum\(records_count\)", "sum(records_count)"),
    (r"\bsum\(bytes_written\)", "sum(bytes_written)"),
]
REWRITES: dict[str, list[tuple[str, str]]] = {
    "pipeline_metrics": [
        *_COMMON,
        (r"\bavg\(latency_ms\)", "(sum(latency_ms_sum) / sum(latency_ms_count))"),
        (r"\bmax\(latency_ms\)", "max(max_latency_ms)"),
        (r"max\(CASE WHEN gap_detected THEN 1 ELSE 0 END\)", "max(CASE WHEN gaps > 0 THEN 1 ELSE 0 END)"),
    ],
    "pipeline_gaps": [
        (r"\s+AND gap_detected\b", ""),
        (r"\bmax\(gap_duration_seconds\)", "max(max_gap_seconds)"),
    ],
    "exchange_status": [
        (r"min\(CASE WHEN connected THEN 1 ELSE 0 END\)", "min(connected_min)"),
        (
            r"avg\(CASE WHEN connected THEN 100\.0 ELSE 0\.0 END\)",
            "(sum(connected_samples) * 100.0 / sum(samples))",
        ),
        (r"\s+AND connected\b", ""),
        (r"\bavg\(latency_ms\)", "(sum(latency_ms_sum) / sum(latency_ms_count))"),
    ],
    "daemon_metrics": [
        (r"\bmax\(memory_rss_bytes\)", "max(max_memory_rss_bytes)"),
        (r"\bavg\(cpu_percent\)", "(sum(cpu_percent_sum) / sum(cpu_percent_count))"),
        (r"min\(CASE WHEN running THEN 1 ELSE 0 END\)", "min(running_min)"),
        (r"max\(restart_count\) - min\(restart_count\)", "max(restart_count) - min(min_restart_count)"),
    ],
}
ROLLED = ("pipeline_metrics", "exchange_status", "daemon_metrics")


def route(sql: str, interval_ms: int) -> tuple[str, str | None]:
    """``sql`` on the coarsest rollup whose bucket fits ``interval_ms``; (sql, None) if not routable.

    Routable: an aggregate over one raw table with SAMPLE BY or GROUP BY and no LATEST ON (the
    latest-state panels read the raw tables, which always hold the newest rows).
    """
    if interval_ms < MINUTE_MS or "LATEST ON" in sql.upper():
        return sql, None
    found = [t for t in ROLLED if re.search(rf"\bFROM {t}\b", sql)]
    if len(found) != 1 or not re.search(r"\b(SAMPLE|GROUP) BY\b", sql, re.IGNORECASE):
        return sql, None
    table = found[0]
    rules = REWRITES[table]
    target = f"{table}_{'1h' if interval_ms >= HOUR_MS else '1m'}"
    if table == "pipeline_metrics" and re.search(r"\bgap_detected\b", sql) and "symbol" in sql:
        rules, target = REWRITES["pipeline_gaps"], "pipeline_gaps_1m"
    routed = re.sub(rf"\bFROM {table}\b", f"FROM {target}", sql)
    for pattern, replacement in rules:
        routed = re.sub(pattern, replacement, routed)
    return routed, target


def quantiles(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95)}


class Connection:
    """The read-only PG connection Grafana's data source uses."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)

    def query(self, sql: str) -> tuple[list[tuple[str, int]], list[tuple[Any, ...]], float]:
        started = time.perf_counter()
        cursor = self.conn.execute(sql)
        rows = cursor.fetchall()
        elapsed = time.perf_counter() - started
        return [(d.name, d.type_code) for d in cursor.description or []], rows, elapsed

    def close(self) -> None:
        self.conn.close()


def resolve_variables(
    conn: Connection, dashboard: dict[str, Any], from_ms: int, to_ms: int
) -> dict[str, Any]:
    """Each template variable's options queried in order, as Grafana does on load (current values
    as provisioned; an empty table gives an empty option list)."""
    variables: dict[str, Any] = {}
    for item in dashboard["templating"]["list"]:
        sql = macros.panel_sql(item["query"], variables, from_ms, to_ms, 1000)
        _, rows, _ = conn.query(sql)
        variables[item["name"]] = macros.Variable(
            item["name"], item["current"]["value"], [str(r[0]) for r in rows]
        )
    return variables


def panel_queries(dashboard: dict[str, Any], from_ms: int, to_ms: int, variables: dict[str, Any],
                  min_interval: str) -> list[tuple[str, str, int]]:  # fmt: skip
    """(label, expanded SQL, panel interval ms) of every panel target."""
    return [
        (f"{q.panel['id']} {q.panel['title']}", q.sql, q.interval_ms)
        for q in macros.panel_queries(dashboard, from_ms, to_ms, variables, min_interval)
    ]


def run_variant(conn: Connection, queries: list[tuple[str, str, int]], repeats: int,
                routed: bool) -> tuple[dict[str, list[float]], list[float], list[str], int]:  # fmt: skip
    """Times per query label, dashboard totals per repetition, errors, number of routed queries."""
    times: dict[str, list[float]] = {label: [] for label, _, _ in queries}
    totals, errors, routed_count = [], [], 0
    prepared = []
    for label, sql, interval in queries:
        target = None
        if routed:
            sql, target = route(sql, interval)
            routed_count += target is not None
        prepared.append((label, sql, target))
    for repeat in range(repeats):
        total = 0.0
        for index, (label, sql, target) in enumerate(prepared):
            try:
                _, _, elapsed = conn.query(sql)
            except psycopg.Error as err:
                if target is not None and repeat == 0:  # a panel the mapping cannot express: raw
                    raw = next(q for lbl, q, _ in queries if lbl == label)
                    prepared[index] = (label, raw, None)
                    routed_count -= 1
                    _, _, elapsed = conn.query(raw)
                else:
                    errors.append(f"{label} ({target or 'raw'}): {str(err).splitlines()[0]}")
                    continue
            times[label].append(elapsed)
            total += elapsed
        totals.append(total)
    return times, totals, sorted(set(errors)), routed_count


def bench_dashboards(
    server: BenchQuestDB, end_us: int, repeats: int, workdir: Path, details: dict[str, Any]
) -> list[Result]:
    try:
        from tests.grafana.render import render
    except ImportError as err:  # pragma: no cover - the dashboards are another engineer's work
        return [Result("Dashboards", "pending: dashboards", "", note=f"cannot import them: {err}")]
    say("dashboards: rendering the grafana role (prod)")
    rendered = render("prod", Path(tempfile.mkdtemp(dir=workdir, prefix="grafana-")))
    dashboards = {
        k: v for k, v in rendered.dashboards().items() if any(p.get("targets") for p in v["panels"])
    }
    min_interval = rendered.provisioning("datasources")["datasources"][0]["jsonData"]["timeInterval"]
    conn = Connection(server.pg_dsn(readonly=True))
    to_ms = end_us // 1000
    results: list[Result] = []
    data: dict[str, Any] = {}
    try:
        with Progress("dashboard queries", len(RANGES) * len(dashboards) * 2, "runs") as bar:
            for span, length in RANGES.items():
                from_ms = to_ms - length
                for name, dashboard in dashboards.items():
                    variables = resolve_variables(conn, dashboard, from_ms, to_ms)
                    queries = panel_queries(dashboard, from_ms, to_ms, variables, min_interval)
                    for variant in ("provisioned", "rollups"):
                        times, totals, errors, routed = run_variant(
                            conn, queries, repeats, variant == "rollups"
                        )
                        data.setdefault(variant, {}).setdefault(name, {})[span] = {
                            "queries": {k: quantiles(v) for k, v in times.items()},
                            "total_p50": percentile(totals, 50),
                            "total_p95": percentile(totals, 95),
                            "errors": errors,
                            "routed": routed,
                        }  # fmt: skip
                        bar.advance()
    finally:
        conn.close()
    details["dashboards"] = data
    for variant in ("provisioned", "rollups"):
        results += summarize(variant, data[variant], repeats)
    return results


def summarize(variant: str, data: dict[str, Any], repeats: int) -> list[Result]:
    results = []
    section = "Dashboards" if variant == "provisioned" else "Dashboards, rollups"
    for span in RANGES:
        per_dash = {name: d[span] for name, d in data.items()}
        worst_q = max(
            (
                (q["p95"], f"{name}/{label}")
                for name, d in per_dash.items()
                for label, q in d["queries"].items()
            ),
            default=(float("nan"), ""),
        )
        worst_d = max((d["total_p95"], name) for name, d in per_dash.items())
        errors = [e for d in per_dash.values() for e in d["errors"]]
        routed = sum(d["routed"] for d in per_dash.values())
        queries = sum(len(d["queries"]) for d in per_dash.values())
        dash_list = ", ".join(
            f"{n} {fmt_ms(d['total_p50'])}/{fmt_ms(d['total_p95'])}" for n, d in per_dash.items()
        )
        note = f"p50/p95 per dashboard: {dash_list}"
        if variant == "rollups":
            note = f"{routed} of {queries} queries on rollups; " + note
        if errors:
            note = f"{len(errors)} failing: {errors[0]}; " + note
        results.append(Result(section, f"{span}: slowest query p95", fmt_ms(worst_q[0]),
                              f"<= {fmt_ms(QUERY_P95)}", worst_q[0] <= QUERY_P95 and not errors,
                              f"{worst_q[1]}; {queries} queries x {repeats} runs"))  # fmt: skip
        results.append(Result(section, f"{span}: slowest dashboard p95 ({worst_d[1]})", fmt_ms(worst_d[0]),
                              f"<= {fmt_ms(DASHBOARD_P95)}", worst_d[0] <= DASHBOARD_P95 and not errors,
                              note))  # fmt: skip
    return results
