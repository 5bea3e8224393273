"""Grafana's evaluation of an alert rule (server-side expressions), for the rule shapes we provision.

Sources (grafana/grafana, read and re-implemented, not copied):

- ``pkg/expr/nodes.go`` ``convertDataFramesToResults``: a single table frame without a time field, with
  exactly one numeric field and otherwise only string fields is a *number set*: one Number per row,
  labelled by the row's string fields (``isNumberTable`` / ``extractNumberSet``). A frame with any other
  field type (bool, time) is not a number table and, not being a wide series either, is an error.
- grafana-plugin-sdk-go ``Field.FloatAt``: a NULL numeric cell reads as NaN.
- ``pkg/expr/commands.go`` ``ReduceCommand.Execute``: a Number passes through a reduce unchanged, except
  that the mode's mapper applies (``dropNN`` drops NaN, +-Inf and nil; ``replaceNN`` replaces them).
- ``pkg/expr/mathexp/reduce.go``: ``DropNonNumber``, ``ReplaceNonNumberWithValue``.
- ``pkg/expr/threshold.go`` ``ThresholdCommand.Execute``: 1 when the predicate holds, 0 otherwise, nil stays
  nil; the predicates (gt, lt, within_range, ...) as written there (comparisons with NaN are false).
- ``pkg/services/ngalert/eval/eval.go`` ``evaluateExecutionResult``/``frameToResult``: no condition value at
  all is NoData; per instance 0 is Normal, any other value (NaN too) Alerting, nil NoData; two instances
  with the same labels are an error.
- ngalert state manager: a rule with ``for`` fires once it has been Alerting at every evaluation over
  ``for``; NoData maps to ``noDataState`` (Alerting, OK, NoData = a DatasourceNoData alert).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

STRING_OIDS = {18, 19, 25, 1042, 1043}  # char, name, text, bpchar, varchar
NUMERIC_OIDS = {20, 21, 23, 700, 701, 1700}  # int8, int2, int4, float4, float8, numeric
TIME_OIDS = {1082, 1114, 1184}


class EvaluationError(Exception):
    """What Grafana reports as the Error state (execErrState)."""


@dataclass(frozen=True)
class Number:
    labels: tuple[tuple[str, str], ...]
    value: float | None


def number_set(columns: Sequence[tuple[str, int]], rows: Sequence[Sequence[Any]]) -> list[Number]:
    """A query result (column name and PG type oid) as Grafana's number set."""
    numeric = [i for i, (_, oid) in enumerate(columns) if oid in NUMERIC_OIDS]
    strings = [i for i, (_, oid) in enumerate(columns) if oid in STRING_OIDS]
    others = [name for i, (name, _) in enumerate(columns) if i not in numeric and i not in strings]
    if len(numeric) != 1 or others:
        raise EvaluationError(
            f"not a number table: numeric fields {[columns[i][0] for i in numeric]}, other fields {others}"
            " (input data must be a wide series but got type not)"
        )
    (value_index,) = numeric
    result = []
    for row in rows:
        raw = row[value_index]
        value = math.nan if raw is None else float(raw)
        labels = tuple((columns[i][0], "" if row[i] is None else str(row[i])) for i in strings)
        result.append(Number(labels, value))
    return result


def _non_number(value: float | None) -> bool:
    return value is None or math.isnan(value) or math.isinf(value)


def reduce(numbers: Sequence[Number], reducer: str, settings: Mapping[str, Any] | None) -> list[Number]:
    """A reduce over Numbers: the reducer is a no-op, the mode's mapper is not."""
    if reducer not in {"sum", "mean", "min", "max", "count", "last", "median"}:
        raise EvaluationError(f"reduction {reducer} not implemented")
    mode = (settings or {}).get("mode")
    out = []
    for number in numbers:
        value = number.value
        if mode == "dropNN" and _non_number(value):
            continue
        if mode == "replaceNN" and _non_number(value):
            value = float((settings or {})["replaceWithValue"])
        out.append(Number(number.labels, value))
    return out


PREDICATES: dict[str, Callable[[float, Sequence[float]], bool]] = {
    "gt": lambda f, p: f > p[0],
    "lt": lambda f, p: f < p[0],
    "eq": lambda f, p: f == p[0],
    "ne": lambda f, p: f != p[0],
    "gte": lambda f, p: f >= p[0],
    "lte": lambda f, p: f <= p[0],
    "within_range": lambda f, p: p[0] < f < p[1],
    "outside_range": lambda f, p: f < p[0] or f > p[1],
    "within_range_included": lambda f, p: p[0] <= f <= p[1],
    "outside_range_included": lambda f, p: f <= p[0] or f >= p[1],
}


def threshold(numbers: Sequence[Number], conditions: Sequence[Mapping[str, Any]]) -> list[Number]:
    if len(conditions) != 1:
        raise EvaluationError("threshold expression requires exactly one condition")
    evaluator = conditions[0]["evaluator"]
    predicate = PREDICATES[evaluator["type"]]
    params = [float(p) for p in evaluator["params"]]
    out = []
    for number in numbers:
        if number.value is None:
            out.append(number)
        else:
            out.append(Number(number.labels, 1.0 if predicate(number.value, params) else 0.0))
    return out


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a rule: per instance (labels) its state, or a rule-wide NoData."""

    no_data: bool
    states: dict[tuple[tuple[str, str], ...], str]
    values: dict[tuple[tuple[str, str], ...], float | None]


def evaluate(condition: Sequence[Number], reduced: Sequence[Number]) -> Evaluation:
    if not condition:
        return Evaluation(True, {}, {})
    states: dict[tuple[tuple[str, str], ...], str] = {}
    for number in condition:
        if number.labels in states:
            raise EvaluationError(f"frame cannot uniquely be identified by its labels: {dict(number.labels)}")
        if number.value is None:
            states[number.labels] = "NoData"
        else:
            states[number.labels] = "Normal" if number.value == 0 else "Alerting"
    values = {n.labels: n.value for n in reduced}
    return Evaluation(False, states, values)


def run_expressions(rule: Mapping[str, Any], numbers_by_ref: dict[str, list[Number]]) -> Evaluation:
    """Apply the rule's __expr__ nodes in order, then evaluate its condition."""
    for query in rule["data"]:
        if query["datasourceUid"] != "__expr__":
            continue
        model = query["model"]
        source = numbers_by_ref[model["expression"]]
        if model["type"] == "reduce":
            numbers_by_ref[query["refId"]] = reduce(source, model["reducer"], model.get("settings"))
        elif model["type"] == "threshold":
            numbers_by_ref[query["refId"]] = threshold(source, model["conditions"])
        else:
            raise EvaluationError(f"expression type {model['type']} is not used by our rules")
    reduced = next(
        (numbers_by_ref[q["refId"]] for q in rule["data"] if q["model"].get("type") == "reduce"),
        [],
    )
    return evaluate(numbers_by_ref[rule["condition"]], reduced)


def firing(evaluations: Sequence[Evaluation], no_data_state: str) -> set[tuple[tuple[str, str], ...]]:
    """Instances that fire at the last evaluation: Alerting at every evaluation over the pending period.

    `evaluations` are the consecutive evaluations covering `for` (a single one when for is 0s).
    A rule-wide NoData becomes one instance without labels in state `noDataState`.
    """

    def alerting(evaluation: Evaluation) -> set[tuple[tuple[str, str], ...]]:
        if evaluation.no_data:
            return {()} if no_data_state == "Alerting" else set()
        return {labels for labels, state in evaluation.states.items() if state == "Alerting"}

    result = alerting(evaluations[0])
    for evaluation in evaluations[1:]:
        result &= alerting(evaluation)
    return result
