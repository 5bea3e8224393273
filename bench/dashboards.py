"""Dashboards: every panel query of the provisioned dashboards over 24 h, 7 d, 30 d and 90 d.

The dashboards are rendered by the grafana role itself (tests/grafana/render.py, env ``prod``), their
template variables resolved and their queries expanded exactly as Grafana and the QuestDB plugin do
(tests/grafana/macros.py), then run over PG wire as the read-only user Grafana uses, on the
retention dataset of bench/storage.py (90 days of R ending now). Each query runs ``repeats`` times
(50 in the full run, so that a p95 is not the maximum of a handful);
a dashboard's time is the sum of its queries in one repetition (panels one after another: an upper
bound of what a browser waits for, as Grafana runs them concurrently). One untimed load of every
query comes first: QuestDB compiles a query once and reuses the plan, as on every auto-refresh.

Two variants of the same dashboards, in the same run:

- raw tables (the baseline): rendered with ``grafana_dashboards_rollups: false``. Over ranges longer
  than a raw table's TTL they only find the TTL's worth of rows (fast, but incomplete);
- as provisioned: the panels over pipeline_metrics, exchange_status and daemon_metrics read the
  role's rollup views (``templates/dashboards/_rollups.j2``): 1 h buckets from the ``*_1h`` views,
  1 min buckets from the ``*_1m`` views, finer ones over recent ranges from the raw tables.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.common import BenchQuestDB, Progress, Result, fmt_ms, percentile, say
from tests.grafana import macros

RANGES = {"24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000, "90d": 90 * 86_400_000}
QUERY_P95 = 0.030
DASHBOARD_P95 = 0.150
SLOWEST = 5  # queries printed with the plan QuestDB chose
VARIANTS = {"raw tables": {"grafana_dashboards_rollups": False}, "provisioned": {}}


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


def run_variant(conn: Connection, queries: list[tuple[str, str, int]], repeats: int
                ) -> tuple[dict[str, list[float]], list[float], list[str], int]:  # fmt: skip
    """Times per query label, dashboard totals per repetition, errors, number of queries with rollup
    branches."""
    times: dict[str, list[float]] = {label: [] for label, _, _ in queries}
    totals, errors = [], []
    for _, sql, _ in queries:  # one untimed load: QuestDB compiles each query once, then caches it
        with contextlib.suppress(psycopg.Error):
            conn.query(sql)
    for _ in range(repeats):
        total = 0.0
        for label, sql, _ in queries:
            try:
                _, _, elapsed = conn.query(sql)
            except psycopg.Error as err:
                errors.append(f"{label}: {str(err).splitlines()[0]}")
                continue
            times[label].append(elapsed)
            total += elapsed
        totals.append(total)
    return times, totals, sorted(set(errors)), sum("UNION ALL" in sql for _, sql, _ in queries)


def bench_dashboards(
    server: BenchQuestDB, end_us: int, repeats: int, workdir: Path, details: dict[str, Any]
) -> list[Result]:
    from tests.grafana.render import render

    rendered = {}
    for variant, extra in VARIANTS.items():
        say(f"dashboards: rendering the grafana role (prod, {variant})")
        rendered[variant] = render("prod", Path(tempfile.mkdtemp(dir=workdir, prefix="grafana-")), extra)
    datasource = rendered["provisioned"].provisioning("datasources")["datasources"][0]
    min_interval = datasource["jsonData"]["timeInterval"]
    conn = Connection(server.pg_dsn(readonly=True))
    to_ms = end_us // 1000
    data: dict[str, Any] = {}
    slowest: list[tuple[float, str, str]] = []
    try:
        with Progress("dashboard queries", len(RANGES) * len(VARIANTS), "runs") as bar:
            for span, length in RANGES.items():
                from_ms = to_ms - length
                for variant in VARIANTS:
                    for name, dashboard in rendered[variant].dashboards().items():
                        if not any(p.get("targets") for p in dashboard["panels"]):
                            continue
                        variables = resolve_variables(conn, dashboard, from_ms, to_ms)
                        queries = panel_queries(dashboard, from_ms, to_ms, variables, min_interval)
                        times, totals, errors, routed = run_variant(conn, queries, repeats)
                        if variant == "provisioned":
                            slowest += [(percentile(times[label], 95), f"{span} {name}/{label}", sql)
                                        for label, sql, _ in queries if times[label]]  # fmt: skip
                        data.setdefault(variant, {}).setdefault(name, {})[span] = {
                            "queries": {k: quantiles(v) for k, v in times.items()},
                            "total_p50": percentile(totals, 50),
                            "total_p95": percentile(totals, 95),
                            "errors": errors,
                            "routed": routed,
                        }  # fmt: skip
                    bar.advance()
        slowest = sorted(slowest, reverse=True)[:SLOWEST]
        details["dashboards_slowest"] = [
            {"p95": p95, "query": label, "sql": sql, "plan": plan(conn, sql)} for p95, label, sql in slowest
        ]
    finally:
        conn.close()
    details["dashboards"] = data
    return [r for variant in VARIANTS for r in summarize(variant, data[variant], repeats)]


def plan(conn: Connection, sql: str) -> list[str]:
    """The plan QuestDB chose for ``sql`` (EXPLAIN), one line per operator."""
    try:
        _, rows, _ = conn.query(f"EXPLAIN {sql}")
    except psycopg.Error as err:
        return [f"EXPLAIN failed: {str(err).splitlines()[0]}"]
    return [str(row[0]) for row in rows]


def slowest_queries(details: dict[str, Any]) -> str:
    """The slowest provisioned queries with their plans, printed after the table."""
    lines = [f"The {SLOWEST} slowest dashboard queries (provisioned, p95) and the plans QuestDB chose:"]
    for item in details.get("dashboards_slowest", []):
        lines.append(f"- {fmt_ms(item['p95'])}  {item['query']}")
        lines += [f"    {line}" for line in item["plan"]]
    return "\n".join(lines)


def summarize(variant: str, data: dict[str, Any], repeats: int) -> list[Result]:
    """Slowest query and slowest dashboard per range; only the provisioned variant is judged."""
    results = []
    section = "Dashboards" if variant == "provisioned" else f"Dashboards, {variant} (baseline)"
    judged = variant == "provisioned"
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
        note = f"{routed} of {queries} queries with rollup branches; p50/p95 per dashboard: {dash_list}"
        if errors:
            note = f"{len(errors)} failing: {errors[0]}; " + note
        query_ok = worst_q[0] <= QUERY_P95 and not errors if judged else None
        dash_ok = worst_d[0] <= DASHBOARD_P95 and not errors if judged else None
        target_q = f"<= {fmt_ms(QUERY_P95)}" if judged else ""
        target_d = f"<= {fmt_ms(DASHBOARD_P95)}" if judged else ""
        results.append(Result(section, f"{span}: slowest query p95", fmt_ms(worst_q[0]), target_q,
                              query_ok, f"{worst_q[1]}; {queries} queries x {repeats} runs"))  # fmt: skip
        results.append(Result(section, f"{span}: slowest dashboard p95 ({worst_d[1]})",
                              fmt_ms(worst_d[0]), target_d, dash_ok, note))  # fmt: skip
    return results
