"""Every dashboard query (panels and template variables) runs on a real QuestDB loaded with 30 days of
simulated data, expanded exactly as Grafana and the plugin expand it, over 1 h, 24 h and 30 d, as the
read-only PG user Grafana uses: no SQL error, the expected columns, rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.grafana import macros
from tests.grafana.conftest import Monitoring
from tests.grafana.render import Rendered
from tests.grafana.sse import NUMERIC_OIDS, STRING_OIDS, TIME_OIDS

QUERY_DASHBOARDS = ("health", "pipeline", "exchange", "trading", "selfhealth")
RANGES = {"1h": 3600_000, "24h": 86400_000, "30d": 30 * 86400_000}


def resolve_variables(
    monitoring: Monitoring, dashboard: dict[str, Any], from_ms: int, to_ms: int, select: dict[str, list[str]]
) -> dict[str, macros.Variable]:
    """Query each template variable in order (later ones may use earlier ones), as Grafana does on load."""
    variables: dict[str, macros.Variable] = {}
    for item in dashboard["templating"]["list"]:
        sql = macros.panel_sql(item["query"], variables, from_ms, to_ms, 1000)
        _, rows, _ = monitoring.query(sql)
        options = [str(r[0]) for r in rows]
        assert options, f"variable {item['name']} has no values: {sql}"
        current = select.get(item["name"], item["current"]["value"])
        variables[item["name"]] = macros.Variable(item["name"], current, options)
    return variables


def check_result(target: dict[str, Any], columns: list[tuple[str, int]], rows: list[tuple[Any, ...]]) -> str:
    """'' when the result is what the panel needs, else what is wrong."""
    if not rows:
        return "no rows"
    if target["format"] == 0:
        # sqlds turns a long time series into a wide one (data.LongToWide): time first, then string
        # labels and numeric values only, sorted by time.
        if columns[0][1] not in TIME_OIDS:
            return f"time series must start with a time column, got {columns[0]}"
        for name, oid in columns[1:]:
            if oid not in STRING_OIDS | NUMERIC_OIDS:
                return f"column {name} (oid {oid}) is neither a label nor a number"
        if not any(oid in NUMERIC_OIDS for _, oid in columns[1:]):
            return "time series without a numeric column"
        times = [r[0] for r in rows]
        if times != sorted(times):
            return "time column not ascending"
    return ""


@pytest.mark.parametrize("span", RANGES)
@pytest.mark.parametrize("name", QUERY_DASHBOARDS)
def test_panel_queries_run_and_return_data(
    rendered: dict[str, Rendered],
    monitoring: Monitoring,
    query_timings: list[tuple[float, float, str]],
    name: str,
    span: str,
) -> None:
    dashboard = rendered["prod"].dashboards()[name]
    to_ms = monitoring.now // 1_000_000
    from_ms = to_ms - RANGES[span]
    variables = resolve_variables(monitoring, dashboard, from_ms, to_ms, {})
    min_interval = rendered["prod"].provisioning("datasources")["datasources"][0]["jsonData"]["timeInterval"]
    problems = []
    for query in macros.panel_queries(dashboard, from_ms, to_ms, variables, min_interval):
        sql = query.sql
        label = f"{name}/{query.panel['id']} {query.panel['title']} ({span})"
        try:
            columns, rows, first = monitoring.query(sql)
            _, _, second = monitoring.query(sql)
        except Exception as err:  # report every failing panel at once
            problems.append(f"{label}: {err}\n{sql}")
            continue
        query_timings.append((first, second, label))
        problem = check_result(query.target, columns, rows)
        if problem:
            problems.append(f"{label}: {problem}\n{sql}")
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("name", ["health", "pipeline", "exchange", "trading"])
def test_a_selection_of_hosts_and_exchanges_narrows_the_queries(
    rendered: dict[str, Rendered], monitoring: Monitoring, name: str
) -> None:
    """With one host and one exchange picked (no 'All'), $__conditionalAll keeps its IN (...) filter."""
    dashboard = rendered["prod"].dashboards()[name]
    to_ms = monitoring.now // 1_000_000
    from_ms = to_ms - RANGES["24h"]
    picked = {"host": ["daemon-2"], "exchange": ["okx"]}  # okx is daemon-2's exchange and venue
    variables = resolve_variables(monitoring, dashboard, from_ms, to_ms, picked)
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            sql = macros.panel_sql(target["rawSql"], variables, from_ms, to_ms, 60_000)
            if "$__conditionalAll(host" not in target["rawSql"]:
                continue
            assert "host IN ('daemon-2')" in sql
            columns, rows, _ = monitoring.query(sql)
            assert rows, f"{panel['title']}: no rows for daemon-2\n{sql}"
            for column in ("host", "exchange"):
                names = [c for c, _ in columns]
                if column in names:
                    values = {r[names.index(column)] for r in rows}
                    assert values <= {"daemon-2", "okx", "dydx"}, (panel["title"], values)
