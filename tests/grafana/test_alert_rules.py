"""Every provisioned alert rule, evaluated the way Grafana evaluates it (backend macros, the query on the
real QuestDB, then the rule's reduce and threshold expressions and its pending period): each fires in
its fault scenario and stays quiet in the healthy one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.grafana.conftest import Monitoring
from tests.grafana.datagen import M
from tests.grafana.evaluation import evaluate_once, firing_at
from tests.grafana.rules import rule_ids
from tests.grafana.scenarios import SCENARIOS, at

RULE_IDS = rule_ids()  # roles/grafana/files/alert_rules.yml
WAL_RULES = ("questdb-wal-lag", "questdb-table-suspended")
QUESTDB_RULES = (*WAL_RULES, "questdb-unreachable")  # QuestDB's own state, tested below


def test_every_rule_is_covered(prod_rules: dict[str, Any]) -> None:
    assert set(prod_rules) == set(RULE_IDS)
    scripted = {s.rule for s in SCENARIOS if s.rule}
    assert scripted == set(RULE_IDS) - set(QUESTDB_RULES)
    for rule_id in scripted:
        assert {s.fires for s in SCENARIOS if s.rule == rule_id} == {True, False}, rule_id


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_alert_query_runs_on_the_live_history(
    monitoring: Monitoring, prod_rules: dict[str, Any], rule_id: str
) -> None:
    """On the 30-day history, at its end: a number table with rows, one row per label set."""
    _, rule = prod_rules[rule_id]
    evaluation = evaluate_once(monitoring, rule, monitoring.now)
    assert not evaluation.no_data, rule_id
    assert evaluation.states, rule_id


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_rule_fires_in_its_fault_scenario_and_not_when_healthy(
    monitoring: Monitoring, prod_rules: dict[str, Any], scenario: Any
) -> None:
    now_ns = at(SCENARIOS.index(scenario))
    checked = [scenario.rule] if scenario.rule else [r for r in RULE_IDS if r not in QUESTDB_RULES]
    for rule_id in checked:
        group, rule = prod_rules[rule_id]
        fired = firing_at(monitoring, group, rule, now_ns)
        if scenario.fires:
            assert fired, f"{rule_id} did not fire in {scenario.name}"
            if scenario.span == 30 * M:  # and it is the fault that fires it: quiet before the fault began
                assert not firing_at(monitoring, group, rule, now_ns - 12 * M), scenario.name
        else:
            assert not fired, f"{rule_id} fired in {scenario.name}: {fired}"
            assert not evaluate_once(monitoring, rule, now_ns).no_data, f"{rule_id} has no data"


def test_error_rate_names_the_failing_exchange_only(
    monitoring: Monitoring, prod_rules: dict[str, Any]
) -> None:
    group, rule = prod_rules["error-rate"]
    index = next(i for i, s in enumerate(SCENARIOS) if s.name == "error-rate/all-requests-failing")
    assert firing_at(monitoring, group, rule, at(index)) == {(("exchange", "binance"), ("host", "daemon-1"))}


@pytest.fixture
def suspended_probe(monitoring: Monitoring) -> Iterator[str]:
    """A WAL table suspended for real (dev mode) with 15 transactions waiting."""
    table = "tw_wal_probe"
    server = monitoring.server
    server.exec(
        f"CREATE TABLE {table} (timestamp TIMESTAMP, v LONG) TIMESTAMP(timestamp) PARTITION BY DAY WAL"
    )
    server.exec(f"INSERT INTO {table} VALUES (now(), 0)")
    server.wait_wal(table)
    server.exec(f"ALTER TABLE {table} SUSPEND WAL")
    try:
        yield table
    finally:
        server.exec(f"ALTER TABLE {table} RESUME WAL")
        server.wait_wal(table)
        server.exec(f"DROP TABLE {table}")


def test_questdb_wal_rules(monitoring: Monitoring, prod_rules: dict[str, Any], suspended_probe: str) -> None:
    lag_group, lag_rule = prod_rules["questdb-wal-lag"]
    suspended_group, suspended_rule = prod_rules["questdb-table-suspended"]
    now_ns = time.time_ns()
    probe = (("table_name", suspended_probe),)
    # suspended, 5 transactions waiting: below the lag threshold (10)
    for i in range(5):
        monitoring.server.exec(f"INSERT INTO {suspended_probe} VALUES (now(), {i + 1})")
    assert firing_at(monitoring, suspended_group, suspended_rule, now_ns) == {probe}
    assert firing_at(monitoring, lag_group, lag_rule, now_ns) == set()
    # 15 waiting: the lag rule fires for that table only
    for i in range(10):
        monitoring.server.exec(f"INSERT INTO {suspended_probe} VALUES (now(), {i + 6})")
    assert firing_at(monitoring, lag_group, lag_rule, now_ns) == {probe}


def test_questdb_wal_rules_quiet_when_applied(monitoring: Monitoring, prod_rules: dict[str, Any]) -> None:
    for rule_id in WAL_RULES:
        group, rule = prod_rules[rule_id]
        assert firing_at(monitoring, group, rule, time.time_ns()) == set(), rule_id


def test_questdb_unreachable_is_quiet_while_questdb_answers(
    monitoring: Monitoring, prod_rules: dict[str, Any]
) -> None:
    group, rule = prod_rules["questdb-unreachable"]
    assert firing_at(monitoring, group, rule, time.time_ns()) == set()
    assert not evaluate_once(monitoring, rule, time.time_ns()).no_data


def test_only_questdb_unreachable_alerts_on_a_failing_query(prod_rules: dict[str, Any]) -> None:
    """A QuestDB restart notifies nobody: every other rule keeps its last state while its query fails;
    questdb-unreachable fires once the queries have failed for its pending period."""
    on_error = {rule_id: rule["execErrState"] for rule_id, (_, rule) in prod_rules.items()}
    assert on_error.pop("questdb-unreachable") == "Alerting"
    assert set(on_error.values()) == {"KeepLast"}
    _, rule = prod_rules["questdb-unreachable"]
    assert (rule["for"], rule["noDataState"]) == ("30s", "Alerting")
