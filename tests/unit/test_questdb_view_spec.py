"""questdb_materialized_view: validation of the declared view and reading the server's state."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import SchemaError, Ttl
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_view import (
    build_view_spec,
    normalize_query,
    view_from_server,
)

QUERY = "SELECT timestamp, exchange, sum(records_count) AS records_count FROM pipeline_metrics SAMPLE BY 1m"


def params(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "p_1m", "query": QUERY, "partition_by": "DAY", "ttl": "90d"}
    base.update(overrides)
    return base


def test_a_complete_declaration() -> None:
    view = build_view_spec(params(query=f"  {QUERY} ;\n", partition_by="day", ttl="90 DAYS"))
    assert view.name == "p_1m"
    assert view.query == QUERY  # surrounding blanks and the trailing ';' go
    assert view.partition_by == "DAY"
    assert view.ttl == Ttl(90, "DAY")
    assert (view.refresh, view.refresh_every, view.base_table) == ("immediate", None, None)


def test_defaults_leave_partitioning_to_questdb() -> None:
    view = build_view_spec({"name": "v", "query": QUERY})
    assert view.partition_by is None
    assert view.ttl is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "1bad"}, "invalid view name '1bad'"),
        ({"name": 'x"; DROP TABLE t; --'}, "invalid view name"),
        ({"query": None}, "p_1m: query is required"),
        ({"query": "   "}, "p_1m: query is required"),
        ({"query": f"{QUERY}; DROP TABLE pipeline_metrics"}, "query must be one SELECT statement"),
        ({"query": "DROP TABLE pipeline_metrics"}, "query must be a SELECT statement"),
        ({"partition_by": "NONE"}, "partition_by must be one of HOUR, DAY, WEEK, MONTH, YEAR"),
        ({"partition_by": "DECADE"}, "partition_by must be one of"),
        ({"partition_by": None}, "a ttl needs partition_by"),
        ({"ttl": "90 minutes"}, "p_1m: invalid ttl unit"),
        ({"ttl": "2m"}, "p_1m: ambiguous ttl"),
        ({"ttl": "12h"}, "TTL 12h is not a whole multiple of the partition size (DAY)"),
        (
            {"partition_by": "MONTH", "ttl": "365d"},
            "TTL 365d is not a whole multiple of the partition size (MONTH)",
        ),
        ({"refresh": "sometimes"}, "refresh must be one of immediate, manual, timer"),
        ({"refresh": "timer"}, "refresh: timer needs refresh_every"),
        ({"refresh": "timer", "refresh_every": "5 minutes"}, "refresh_every as <n><unit>"),
        ({"refresh": "timer", "refresh_every": "0m"}, "refresh_every as <n><unit>"),
        ({"refresh_every": "5m"}, "refresh_every applies to refresh: timer only"),
        ({"base_table": "bad-name"}, "invalid p_1m: base table name"),
    ],
)
def test_invalid_declarations(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=None) as info:
        build_view_spec(params(**overrides))
    assert message in str(info.value)


def test_accepted_variants() -> None:
    assert build_view_spec(params(partition_by="MONTH", ttl="1y")).ttl == Ttl(12, "MONTH")
    assert build_view_spec(params(partition_by="WEEK", ttl="52w")).ttl == Ttl(52, "WEEK")
    assert build_view_spec(params(ttl="0")).ttl is None
    timer = build_view_spec(params(refresh="TIMER", refresh_every=" 5m "))
    assert (timer.refresh, timer.refresh_every) == ("timer", "5m")
    assert build_view_spec(params(query=f"WITH x AS (SELECT 1) {QUERY}")).query.startswith("WITH")
    assert build_view_spec(params(base_table="pipeline_metrics")).base_table == "pipeline_metrics"


def test_normalize_query() -> None:
    assert normalize_query("\n  SELECT a,\n\tb  FROM t SAMPLE BY 1m ;") == "SELECT a, b FROM t SAMPLE BY 1m"
    assert normalize_query("SELECT a FROM t") != normalize_query("select a from t")  # case is kept


def server_rows(**view: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    table = {"table_name": "P_1m", "partitionBy": "DAY", "ttlValue": 90, "ttlUnit": "DAY", "table_type": "M"}
    row = {
        "view_name": "P_1m",
        "refresh_type": "immediate",
        "base_table_name": "pipeline_metrics",
        "view_sql": f"\n  {QUERY}\n",
        "view_status": "valid",
        "invalidation_reason": None,
        "timer_interval": 0,
        "timer_interval_unit": None,
    }
    row.update(view)
    return table, row


def test_view_from_server() -> None:
    view = view_from_server(*server_rows())
    assert view.as_dict() == {
        "name": "P_1m",
        "exists": True,
        "query": QUERY,
        "partition_by": "DAY",
        "ttl": "90d",
        "refresh": "immediate",
        "refresh_every": None,
        "base_table": "pipeline_metrics",
        "status": "valid",
        "invalidation_reason": None,
    }


@pytest.mark.parametrize(
    ("interval", "unit", "every"), [(5, "MINUTE", "5m"), (1, "HOUR", "1h"), (2, "MONTH", "2M")]
)
def test_timer_refresh_from_server(interval: int, unit: str, every: str) -> None:
    view = view_from_server(
        *server_rows(refresh_type="timer", timer_interval=interval, timer_interval_unit=unit)
    )
    assert (view.refresh, view.refresh_every) == ("timer", every)


def test_invalid_view_from_server() -> None:
    view = view_from_server(*server_rows(view_status="invalid", invalidation_reason="base table is dropped"))
    assert (view.status, view.invalidation_reason) == ("invalid", "base table is dropped")
