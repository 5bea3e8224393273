"""The server-side expression semantics of tests/grafana/sse.py on hand-made frames."""

from __future__ import annotations

import math

import pytest

from tests.grafana import sse

VARCHAR, FLOAT8, INT8, BOOL, TIMESTAMP = 1043, 701, 20, 16, 1114
RULE = {
    "condition": "C",
    "data": [
        {"refId": "A", "datasourceUid": "questdb-prod", "model": {}},
        {"refId": "B", "datasourceUid": "__expr__",
         "model": {"type": "reduce", "expression": "A", "reducer": "last", "settings": {"mode": "dropNN"}}},
        {"refId": "C", "datasourceUid": "__expr__",
         "model": {"type": "threshold", "expression": "B",
                   "conditions": [{"evaluator": {"type": "gt", "params": [5]}}]}},
    ],
}  # fmt: skip


def evaluate(columns: list[tuple[str, int]], rows: list[tuple[object, ...]]) -> sse.Evaluation:
    return sse.run_expressions(RULE, {"A": sse.number_set(columns, rows)})


def test_one_number_per_row_labelled_by_its_strings() -> None:
    result = evaluate([("host", VARCHAR), ("x", FLOAT8)], [("a", 9.0), ("b", 1.0)])
    assert result.states == {(("host", "a"),): "Alerting", (("host", "b"),): "Normal"}
    assert result.values[(("host", "a"),)] == 9.0


def test_null_reads_as_nan_and_drop_nn_drops_it() -> None:
    numbers = sse.number_set([("host", VARCHAR), ("x", INT8)], [("a", None)])
    assert math.isnan(numbers[0].value or 0.0)
    assert evaluate([("host", VARCHAR), ("x", INT8)], [("a", None)]).no_data


def test_no_rows_is_no_data() -> None:
    result = evaluate([("host", VARCHAR), ("x", FLOAT8)], [])
    assert result.no_data
    assert sse.firing([result], "Alerting") == {()}
    assert sse.firing([result], "OK") == set()


@pytest.mark.parametrize("other", [BOOL, TIMESTAMP])
def test_a_bool_or_time_column_is_not_a_number_table(other: int) -> None:
    with pytest.raises(sse.EvaluationError):
        sse.number_set([("host", VARCHAR), ("flag", other), ("x", FLOAT8)], [("a", True, 1.0)])


def test_two_numbers_are_not_a_number_table() -> None:
    with pytest.raises(sse.EvaluationError):
        sse.number_set([("x", FLOAT8), ("y", FLOAT8)], [(1.0, 2.0)])


def test_duplicate_labels_are_an_error() -> None:
    with pytest.raises(sse.EvaluationError):
        evaluate([("host", VARCHAR), ("x", FLOAT8)], [("a", 9.0), ("a", 1.0)])


def test_pending_period_needs_every_evaluation_alerting() -> None:
    alerting = evaluate([("host", VARCHAR), ("x", FLOAT8)], [("a", 9.0)])
    normal = evaluate([("host", VARCHAR), ("x", FLOAT8)], [("a", 1.0)])
    assert sse.firing([alerting, alerting], "NoData") == {(("host", "a"),)}
    assert sse.firing([normal, alerting], "NoData") == set()


def test_threshold_predicates() -> None:
    number = [sse.Number((), 5.0)]
    for kind, params, expected in [
        ("gt", [5], 0.0), ("gte", [5], 1.0), ("lt", [6], 1.0), ("within_range", [5, 6], 0.0),
        ("within_range_included", [5, 6], 1.0), ("outside_range", [6, 7], 1.0), ("ne", [5], 0.0),
    ]:  # fmt: skip
        (result,) = sse.threshold(number, [{"evaluator": {"type": kind, "params": params}}])
        assert result.value == expected, kind
