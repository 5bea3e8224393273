"""questdb_materialized_view: the SQL and the plan between the server's and the declared view."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import Ttl
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_view import (
    View,
    build_view_spec,
    comparable_view,
    create_view_sql,
    drop_view_sql,
    plan_view,
    predicted_view,
    set_refresh_sql,
    set_view_ttl_sql,
)

QUERY = "SELECT timestamp, exchange, count() AS samples FROM pipeline_metrics SAMPLE BY 1m"
AS_KEPT = "\n  " + QUERY.replace(", ", ",\n ") + "\n"  # QuestDB keeps the text as given


def spec(**overrides: Any) -> View:
    base: dict[str, Any] = {"name": "p_1m", "query": QUERY, "partition_by": "DAY", "ttl": "90d"}
    base.update(overrides)
    return build_view_spec(base)


def server(**overrides: Any) -> View:
    fields: dict[str, Any] = {
        "name": "p_1m",
        "query": AS_KEPT,
        "partition_by": "DAY",
        "ttl": Ttl(90, "DAY"),
        "refresh": "immediate",
        "base_table": "pipeline_metrics",
        "status": "valid",
    }
    fields.update(overrides)
    return View(**fields)


def test_sql() -> None:
    assert create_view_sql(spec()) == (
        f'CREATE MATERIALIZED VIEW "p_1m" REFRESH IMMEDIATE AS ({QUERY}) PARTITION BY DAY TTL 90 DAYS'
    )
    assert create_view_sql(spec(ttl=None, partition_by=None, refresh="manual")) == (
        f'CREATE MATERIALIZED VIEW "p_1m" REFRESH MANUAL AS ({QUERY})'
    )
    assert create_view_sql(spec(base_table="pipeline_metrics", refresh="timer", refresh_every="5m")) == (
        f'CREATE MATERIALIZED VIEW "p_1m" WITH BASE "pipeline_metrics" REFRESH EVERY 5m AS ({QUERY})'
        " PARTITION BY DAY TTL 90 DAYS"
    )
    assert drop_view_sql("p_1m") == 'DROP MATERIALIZED VIEW "p_1m"'
    assert set_view_ttl_sql("p_1m", Ttl(1, "YEAR")) == 'ALTER MATERIALIZED VIEW "p_1m" SET TTL 1 YEAR'
    assert set_view_ttl_sql("p_1m", None) == 'ALTER MATERIALIZED VIEW "p_1m" SET TTL 0 HOURS'
    assert set_refresh_sql("p_1m", "timer", "1h") == 'ALTER MATERIALIZED VIEW "p_1m" SET REFRESH EVERY 1h'
    assert set_refresh_sql("p_1m", "manual", None) == 'ALTER MATERIALIZED VIEW "p_1m" SET REFRESH MANUAL'


def test_create_when_absent() -> None:
    plan = plan_view(spec(), None)
    assert plan.queries == [create_view_sql(spec())]
    assert not plan.refusals and not plan.warnings


def test_nothing_to_do_when_equal_up_to_whitespace() -> None:
    plan = plan_view(spec(), server())
    assert plan.queries == [] and plan.refusals == [] and plan.warnings == []


def test_undeclared_partitioning_is_not_compared() -> None:
    assert plan_view(spec(partition_by=None, ttl=None), server(ttl=None, partition_by="MONTH")).queries == []


@pytest.mark.parametrize(
    ("declared", "current", "expected"),
    [
        ({"ttl": "30d"}, {}, ['ALTER MATERIALIZED VIEW "p_1m" SET TTL 30 DAYS']),
        ({"ttl": "2w"}, {"ttl": Ttl(14, "DAY")}, []),  # the same duration, QuestDB's canonical form
        ({"ttl": None}, {}, ['ALTER MATERIALIZED VIEW "p_1m" SET TTL 0 HOURS']),
        ({"ttl": "90d"}, {"ttl": None}, ['ALTER MATERIALIZED VIEW "p_1m" SET TTL 90 DAYS']),
        ({"refresh": "manual"}, {}, ['ALTER MATERIALIZED VIEW "p_1m" SET REFRESH MANUAL']),
        (
            {"refresh": "timer", "refresh_every": "5m"},
            {"refresh": "timer", "refresh_every": "1h"},
            ['ALTER MATERIALIZED VIEW "p_1m" SET REFRESH EVERY 5m'],
        ),
        ({}, {"refresh": "manual"}, ['ALTER MATERIALIZED VIEW "p_1m" SET REFRESH IMMEDIATE']),
    ],
)
def test_in_place_changes(declared: dict[str, Any], current: dict[str, Any], expected: list[str]) -> None:
    plan = plan_view(spec(**declared), server(**current))
    assert plan.refusals == []
    assert plan.queries == expected


@pytest.mark.parametrize(
    ("declared", "current", "reason"),
    [
        (
            {"query": QUERY.replace("count()", "count(*)")},
            {},
            "QuestDB cannot change a materialized view's query",
        ),
        ({"partition_by": "WEEK", "ttl": None}, {"ttl": None}, "partition_by is DAY on the server but WEEK"),
        ({"base_table": "exchange_status"}, {}, "the base table is pipeline_metrics on the server"),
        (
            {"partition_by": "MONTH", "ttl": None},
            {"partition_by": "MONTH", "ttl": Ttl(1, "YEAR")},
            "cannot remove the TTL of a MONTH-partitioned view",
        ),
    ],
)
def test_refusals_and_force(declared: dict[str, Any], current: dict[str, Any], reason: str) -> None:
    declared_view, server_view = spec(**declared), server(**current)
    plan = plan_view(declared_view, server_view)
    assert plan.queries == [] and not plan.recreate
    assert any(reason in refusal for refusal in plan.refusals), plan.refusals
    forced = plan_view(declared_view, server_view, force=True)
    assert forced.recreate
    assert forced.queries == [drop_view_sql("p_1m"), create_view_sql(declared_view)]
    assert "rebuilt from its base table" in forced.warnings[0]


def test_an_invalid_view_is_reported_not_refreshed() -> None:
    plan = plan_view(spec(), server(status="invalid", invalidation_reason="base table is dropped or renamed"))
    assert plan.queries == []
    assert "invalid on the server (base table is dropped or renamed)" in plan.warnings[0]
    assert "REFRESH MATERIALIZED VIEW" in plan.warnings[0]


def test_predicted_state_and_comparison() -> None:
    current = server(ttl=None)
    plan = plan_view(spec(), current)
    predicted = predicted_view(spec(), current, plan).as_dict()
    assert predicted["ttl"] == "90d" and predicted["base_table"] == "pipeline_metrics"
    after = server().as_dict()  # what the server shows once the TTL is set
    assert comparable_view(after) == comparable_view(predicted)
    assert comparable_view(server(partition_by="MONTH").as_dict(), with_partition=False) == comparable_view(
        predicted, with_partition=False
    )
    assert comparable_view(server(partition_by="MONTH").as_dict()) != comparable_view(predicted)
    assert comparable_view({"name": "x", "exists": False}) == {"exists": False}


def test_predicted_state_of_an_in_place_change_differs_only_by_the_change() -> None:
    current = server(ttl=Ttl(30, "DAY"))
    plan = plan_view(spec(), current)
    before, after = current.as_dict(), predicted_view(spec(), current, plan).as_dict()
    assert {key for key in before if before[key] != after[key]} == {"ttl"}
    recreated = plan_view(spec(query=QUERY.replace("count()", "count(*)")), current, force=True)
    predicted = predicted_view(spec(query=QUERY.replace("count()", "count(*)")), current, recreated).as_dict()
    assert "count(*)" in predicted["query"] and "status" not in predicted
