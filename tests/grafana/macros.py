"""The query text QuestDB receives from Grafana, rebuilt step by step as Grafana and the plugin build it.

Sources (read, not copied; re-implemented here):

1. Panel interval, Grafana frontend: ``rangeutil.calculateInterval`` and ``roundInterval`` in
   grafana/grafana ``packages/grafana-data/src/datetime/rangeutil.ts``.
2. ``$__conditionalAll(cond, $var)``, plugin frontend: ``applyConditionalAll`` and ``getMacroArgs`` in
   questdb/grafana-questdb-datasource ``src/data/QuestDbDatasource.ts``.
3. Template variables, Grafana frontend: ``TemplateSrv.replace`` with ``variableRegex`` from
   ``public/app/features/variables/utils.ts``, called by the plugin with its own ``format`` function
   (``QuestDbDatasource.ts``: an array becomes ``'a','b'``, anything else is inserted as is).
4. Backend macros: ``sqlutil.Interpolate`` in grafana/grafana-plugin-sdk-go ``data/sqlutil/macros.go``
   (v0.291.1, the plugin's go.mod), longest macro name first, ``\\$__name\\b`` plus a bracketed argument
   list; the plugin's macros from ``pkg/macros/macros.go`` (``timeFilter``, ``fromTime``, ``toTime``,
   ``sampleByInterval``) merged over the SDK defaults (``interval``, ``interval_ms``, ...).

Alert rules are evaluated in the backend only: steps 2 and 3 do not apply to them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ALL_VALUE = "$__all"


# --- 1. Panel interval (rangeutil.ts) ----------------------------------------------------------------

_ROUND_STEPS_MS = (
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
    (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
    (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
    (16200000, 10800000), (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
    (1814400000, 604800000), (3628800000, 2592000000),
)  # fmt: skip
_INTERVAL_UNITS_S = {
    "y": 31536000,
    "M": 2592000,
    "w": 604800,
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
    "ms": 0.001,
}


def round_interval_ms(interval: float) -> int:
    for upper, rounded in _ROUND_STEPS_MS:
        if interval < upper:
            return rounded
    return 31536000000


def interval_to_ms(text: str) -> int:
    """rangeutil.intervalToMs: '10s' -> 10000 (a bare number counts as seconds)."""
    match = re.match(r"(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])", text)
    if text.strip().isdigit():
        return int(text) * 1000
    if match is None:
        raise ValueError(f"invalid interval {text!r}")
    return int(float(match.group(1)) * _INTERVAL_UNITS_S[match.group(2)] * 1000)


def panel_interval_ms(from_ms: int, to_ms: int, resolution: int, low_limit: str | None) -> int:
    """rangeutil.calculateInterval: (to - from) / resolution, rounded, not below the low limit."""
    low_ms = interval_to_ms(low_limit) if low_limit else 1
    return max(round_interval_ms((to_ms - from_ms) / resolution), low_ms)


# --- 2. $__conditionalAll (QuestDbDatasource.ts) -----------------------------------------------------


def _macro_args(query: str, args_index: int) -> list[str]:
    """getMacroArgs: split the bracketed list at top-level commas; [] if it never closes."""
    args: list[str] = []
    depth = 0
    last = 1
    sub = query[args_index:]
    for match in re.finditer(r"\(|\)|,", sub):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        if token == "," and depth == 1:
            args.append(sub[last : match.end() - 1])
            last = match.end()
        if depth == 0:
            args.append(sub[last : match.end() - 1])
            return args
    return []


@dataclass
class Variable:
    """A dashboard variable as TemplateSrv sees it: its current value and its options."""

    name: str
    current: str | list[str]
    options: list[str] = field(default_factory=list)
    all_value: str | None = None


def apply_conditional_all(query: str, variables: Mapping[str, Variable]) -> str:
    macro = "$__conditionalAll("
    index = query.rfind(macro)
    while index != -1:
        params = _macro_args(query, index + len(macro) - 1)
        if len(params) != 2:
            return query
        phrase = params[0]
        found = re.search(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+", params[1].strip())
        if found:
            variable = variables.get(found.group(0))
            current = variable.current if variable else None
            # key.current.value.toString(): a JS array joins with ','
            value = ",".join(current) if isinstance(current, list) else str(current)
            if value in ("", ALL_VALUE):
                phrase = "1=1"
        query = query.replace(f"{macro}{params[0]},{params[1]})", phrase, 1)
        index = query.rfind(macro)
    return query


# --- 3. TemplateSrv.replace with the plugin's format function ----------------------------------------

VARIABLE_REGEX = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?}")


def plugin_format(value: object) -> str:
    if isinstance(value, list):
        return "'" + "','".join(str(v) for v in value) + "'"
    return str(value)


def replace_variables(
    query: str,
    variables: Mapping[str, Variable],
    scoped: Mapping[str, object],
    fmt: Callable[[object], str] = plugin_format,
) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        if name in scoped:
            return fmt(scoped[name])
        variable = variables.get(name)
        if variable is None:
            return match.group(0)  # unknown names ($__timeFilter, ...) are left for the backend
        value: object = variable.current
        if value == ALL_VALUE or value == [ALL_VALUE]:
            value = variable.all_value if variable.all_value is not None else list(variable.options)
        return fmt(value)

    return VARIABLE_REGEX.sub(substitute, query)


# --- 4. Backend macros (sqlutil.Interpolate + pkg/macros/macros.go) ----------------------------------


@dataclass(frozen=True)
class BackendQuery:
    """What sqlutil.Query carries into the macros: the time range and the interval."""

    from_ms: int
    to_ms: int
    interval_ms: int
    # Tests only (Grafana has no such thing): rows stamped after it have not reached QuestDB yet, so
    # $__timeFilter ends there while $__toTime stays to_ms (a collector or QuestDB restart's delivery gap).
    delivered_to_ms: int | None = None


def _micros(ms: int) -> int:
    return ms * 1000  # time.Time.UnixMicro of a millisecond timestamp


def _time_filter(q: BackendQuery, args: Sequence[str]) -> str:
    if len(args) != 1:
        raise ValueError(f"unexpected number of arguments: expected 1 argument, received {len(args)}")
    column = args[0]
    to_ms = q.to_ms if q.delivered_to_ms is None else min(q.to_ms, q.delivered_to_ms)
    return (
        f"{column} >= cast({_micros(q.from_ms)} as timestamp) AND "
        f"{column} <= cast({_micros(to_ms)} as timestamp)"
    )


def _sample_by_interval(q: BackendQuery, _args: Sequence[str]) -> str:
    seconds_f = q.interval_ms / 1000
    hours = int(max(seconds_f / 3600, 0))
    seconds = int(max(seconds_f, 0))
    if hours > 0:
        if hours >= 24 and seconds_f / 3600 == float(hours):
            return f"{hours // 24}d"
        return f"{hours}h"
    if seconds > 0:
        return f"{seconds}s"
    return f"{max(q.interval_ms, 1)}T"


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


MACROS: dict[str, Callable[[BackendQuery, Sequence[str]], str]] = {
    # sqlutil.DefaultMacros (the ones a QuestDB query could meet)
    "interval_ms": lambda q, _a: str(q.interval_ms),
    "timeFrom": lambda q, a: f"{a[0]} >= '{_rfc3339(q.from_ms)}'",
    "timeTo": lambda q, a: f"{a[0]} <= '{_rfc3339(q.to_ms)}'",
    # the plugin's macros win over the defaults of the same name
    "timeFilter": _time_filter,
    "fromTime": lambda q, _a: f"cast({_micros(q.from_ms)} as timestamp)",
    "toTime": lambda q, _a: f"cast({_micros(q.to_ms)} as timestamp)",
    "sampleByInterval": _sample_by_interval,
}


def _parse_args(rest: str) -> tuple[list[str] | None, int]:
    """sqlutil.parseArgs: (args, length of the bracketed list); (None, 0) without brackets."""
    if not rest.startswith("("):
        return None, 0
    args: list[str] = []
    depth = 0
    arg: list[str] = []
    for i, char in enumerate(rest):
        if char == "(":
            depth += 1
            if depth == 1:
                continue
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(arg).strip())
                return args, i + 1
        elif char == "," and depth == 1:
            args.append("".join(arg).strip())
            arg = []
            continue
        arg.append(char)
    raise ValueError("failed to parse macro arguments (missing close bracket?)")


def interpolate(sql: str, query: BackendQuery) -> str:
    for name in sorted(MACROS, key=len, reverse=True):
        matches = []
        for found in re.finditer(rf"\$__{name}\b", sql):
            args, length = _parse_args(sql[found.end() :])
            matches.append((sql[found.start() : found.end() + length], args or []))
        for full, args in matches:
            sql = sql.replace(full, MACROS[name](query, args))
    if "$__" in sql:
        raise ValueError(f"macro left unexpanded in {sql!r}")
    return sql


# --- The whole path ----------------------------------------------------------------------------------


def panel_sql(
    raw_sql: str, variables: Mapping[str, Variable], from_ms: int, to_ms: int, interval_ms: int
) -> str:
    """A dashboard query: frontend ($__conditionalAll, variables, $__interval_ms) then backend macros."""
    scoped = {"__interval_ms": interval_ms}
    text = replace_variables(apply_conditional_all(raw_sql, variables), variables, scoped)
    return interpolate(text, BackendQuery(from_ms, to_ms, interval_ms))


SCREEN_PX = 1800  # the dashboard's width in pixels; a panel gets its share of the 24 grid columns


@dataclass(frozen=True)
class PanelQuery:
    panel: Mapping[str, Any]
    target: Mapping[str, Any]
    sql: str  # macros and variables expanded as the plugin does for this panel
    interval_ms: int


def panel_queries(
    dashboard: Mapping[str, Any],
    from_ms: int,
    to_ms: int,
    variables: Mapping[str, Variable],
    min_interval: str,
) -> list[PanelQuery]:
    """Every panel target of `dashboard`, expanded for a time range on a SCREEN_PX-wide screen."""
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            resolution = round(panel["gridPos"]["w"] / 24 * SCREEN_PX)
            interval = panel_interval_ms(from_ms, to_ms, resolution, panel.get("interval") or min_interval)
            sql = panel_sql(target["rawSql"], variables, from_ms, to_ms, interval)
            out.append(PanelQuery(panel, target, sql, interval))
    return out


def alert_sql(
    raw_sql: str, from_ms: int, to_ms: int, interval_ms: int, delivered_to_ms: int | None = None
) -> str:
    """An alert query: the backend macros only (the frontend never sees it)."""
    return interpolate(raw_sql, BackendQuery(from_ms, to_ms, interval_ms, delivered_to_ms))
