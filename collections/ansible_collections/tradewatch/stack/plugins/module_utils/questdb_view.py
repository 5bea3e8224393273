# Copyright: tradewatch developers
# Apache License 2.0 (see galaxy.yml)
"""Declared vs. server state of a QuestDB materialized view: validation, comparison and the SQL.

Pure Python (no Ansible import) so the unit tests exercise it directly. Identifiers, partitioning
and TTLs follow the same rules as tables (questdb_types.py); the plan reuses questdb_plan.Plan.
Checked against QuestDB 9.3.4:

- ``CREATE MATERIALIZED VIEW "v" [WITH BASE "t"] REFRESH IMMEDIATE|MANUAL|EVERY <n><unit>
  AS (<query>) [PARTITION BY <unit>] [TTL <n> <UNIT>]``; the query must SAMPLE BY (or GROUP BY)
  the base table's designated timestamp; QuestDB keeps the query text as given (``view_sql``).
- In place: ``ALTER MATERIALIZED VIEW "v" SET TTL ...`` and ``SET REFRESH IMMEDIATE|MANUAL|EVERY``.
  Not in place: the query, the partitioning, the base table (drop and recreate: the view is then
  rebuilt from the base table, so history the base table no longer holds is lost).
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_plan import Plan
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import (
    PARTITION_UNITS,
    SchemaError,
    Ttl,
    declared_ttl,
    quote_ident,
    ttl_from_server,
    ttl_removable,
    ttl_short,
    validate_identifier,
)

REFRESH_MODES = ("immediate", "manual", "timer")
VIEW_PARTITIONS = tuple(unit for unit in PARTITION_UNITS if unit != "NONE")
RECREATE_HINT = (
    "set force: true to drop and recreate the view (it is rebuilt from its base table: rows the base"
    " table no longer holds, e.g. past its TTL, are lost, and views built on this one become invalid)"
)
# REFRESH EVERY <n><unit>: the units QuestDB's timer accepts, with the name materialized_views() reports.
_EVERY_UNITS = {"m": "MINUTE", "h": "HOUR", "d": "DAY", "w": "WEEK", "M": "MONTH", "y": "YEAR"}
_EVERY_RE = re.compile(r"^([1-9][0-9]{0,8})([mhdwMy])$")


def normalize_query(query: str) -> str:
    """The query as compared: whitespace runs collapsed, no surrounding blanks or trailing ';'."""
    return " ".join(query.split()).rstrip(";").strip()


class View:
    """A materialized view, declared (build_view_spec) or read from the server (view_from_server).

    partition_by None: not declared (QuestDB picks it from the SAMPLE BY interval).
    """

    def __init__(
        self,
        name: str,
        query: str,
        partition_by: str | None = None,
        ttl: Ttl | None = None,
        refresh: str = "immediate",
        refresh_every: str | None = None,
        base_table: str | None = None,
        status: str | None = None,
        invalidation_reason: str | None = None,
    ) -> None:
        self.name = name
        self.query = query
        self.partition_by = partition_by
        self.ttl = ttl
        self.refresh = refresh
        self.refresh_every = refresh_every
        self.base_table = base_table
        self.status = status
        self.invalidation_reason = invalidation_reason

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "exists": True,
            "query": self.query,
            "partition_by": self.partition_by,
            "ttl": ttl_short(self.ttl),
            "refresh": self.refresh,
            "refresh_every": self.refresh_every,
            "base_table": self.base_table,
        }
        if self.status is not None:
            out["status"] = self.status
            out["invalidation_reason"] = self.invalidation_reason
        return out


# ---------------------------------------------------------------------------------------------
# Declared state
# ---------------------------------------------------------------------------------------------


def build_view_spec(params: dict[str, Any]) -> View:
    """Validate the module parameters of state=present and return the declared view."""
    name = validate_identifier("view name", params.get("name"))
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise SchemaError(f"{name}: query is required: the SELECT ... SAMPLE BY ... the view materializes")
    query = query.strip().rstrip(";").strip()
    if ";" in query:
        raise SchemaError(f"{name}: query must be one SELECT statement (found ';')")
    if not re.match(r"(?is)^(\(\s*)*(select|with|declare)\b", query):
        raise SchemaError(f"{name}: query must be a SELECT statement, got {query[:40]!r}")
    partition_by = params.get("partition_by")
    if partition_by is not None:
        partition_by = str(partition_by).upper()
        if partition_by not in VIEW_PARTITIONS:
            raise SchemaError(f"{name}: partition_by must be one of {', '.join(VIEW_PARTITIONS)}")
    ttl = declared_ttl(name, params.get("ttl"), partition_by)
    refresh = str(params.get("refresh") or "immediate").lower()
    if refresh not in REFRESH_MODES:
        raise SchemaError(f"{name}: refresh must be one of {', '.join(REFRESH_MODES)}")
    every = params.get("refresh_every")
    if refresh == "timer":
        if not isinstance(every, str) or not _EVERY_RE.match(every.strip()):
            raise SchemaError(
                f"{name}: refresh: timer needs refresh_every as <n><unit> with unit m, h, d, w, M or y"
                f" (e.g. 5m), got {every!r}"
            )
        every = every.strip()
    elif every is not None:
        raise SchemaError(f"{name}: refresh_every applies to refresh: timer only")
    base = params.get("base_table")
    if base is not None:
        validate_identifier(f"{name}: base table name", base)
    return View(name, query, partition_by, ttl, refresh, every, base)


# ---------------------------------------------------------------------------------------------
# Server state
# ---------------------------------------------------------------------------------------------


def view_from_server(table_row: dict[str, Any], view_row: dict[str, Any]) -> View:
    """The server-side view from its tables() row and its materialized_views() row."""
    refresh = str(view_row.get("refresh_type") or "immediate").lower()
    every = None
    if refresh == "timer":
        unit = str(view_row.get("timer_interval_unit") or "").upper()
        letter = next((k for k, v in _EVERY_UNITS.items() if v == unit), unit.lower()[:1] or "?")
        every = f"{view_row.get('timer_interval')}{letter}"
    return View(
        name=str(table_row.get("table_name") or view_row.get("view_name")),
        query=str(view_row.get("view_sql") or "").strip(),
        partition_by=str(table_row.get("partitionBy") or "NONE").upper(),
        ttl=ttl_from_server(table_row.get("ttlValue"), table_row.get("ttlUnit")),
        refresh=refresh,
        refresh_every=every,
        base_table=view_row.get("base_table_name") or None,
        status=view_row.get("view_status") or None,
        invalidation_reason=view_row.get("invalidation_reason") or None,
    )


# ---------------------------------------------------------------------------------------------
# SQL and plan
# ---------------------------------------------------------------------------------------------


def refresh_sql(refresh: str, every: str | None) -> str:
    return f"EVERY {every}" if refresh == "timer" else refresh.upper()


def create_view_sql(spec: View) -> str:
    sql = f"CREATE MATERIALIZED VIEW {quote_ident(spec.name)}"
    if spec.base_table:
        sql += f" WITH BASE {quote_ident(spec.base_table)}"
    sql += f" REFRESH {refresh_sql(spec.refresh, spec.refresh_every)} AS ({spec.query})"
    if spec.partition_by:
        sql += f" PARTITION BY {spec.partition_by}"
    if spec.ttl is not None:
        sql += f" TTL {spec.ttl.sql()}"
    return sql


def drop_view_sql(name: str) -> str:
    return f"DROP MATERIALIZED VIEW {quote_ident(name)}"


def set_view_ttl_sql(name: str, ttl: Ttl | None) -> str:
    # Like tables: 'SET TTL 0' fails with "missing unit"; '0 HOURS' removes the TTL.
    return (
        f"ALTER MATERIALIZED VIEW {quote_ident(name)} SET TTL {ttl.sql() if ttl is not None else '0 HOURS'}"
    )


def set_refresh_sql(name: str, refresh: str, every: str | None) -> str:
    return f"ALTER MATERIALIZED VIEW {quote_ident(name)} SET REFRESH {refresh_sql(refresh, every)}"


def _refusals(spec: View, current: View) -> list[str]:
    out: list[str] = []
    if normalize_query(spec.query) != normalize_query(current.query):
        out.append(
            "the query differs from the server's; QuestDB cannot change a materialized view's query"
            f" in place (server: {normalize_query(current.query)!r})"
        )
    if spec.partition_by is not None and spec.partition_by != current.partition_by:
        out.append(
            f"partition_by is {current.partition_by} on the server but {spec.partition_by} is declared;"
            " QuestDB cannot change a view's partitioning"
        )
    if spec.base_table and spec.base_table.lower() != (current.base_table or "").lower():
        out.append(f"the base table is {current.base_table} on the server but {spec.base_table} is declared")
    partition = current.partition_by or "DAY"
    if spec.ttl is None and current.ttl is not None and not ttl_removable(partition):
        out.append(
            f"TTL {current.ttl.short()} is set on the server but no TTL is declared; QuestDB cannot remove"
            f" the TTL of a {partition}-partitioned view (it rejects SET TTL 0)"
        )
    return out


def plan_view(spec: View, current: View | None, force: bool = False) -> Plan:
    """SQL that turns `current` (None: no view) into `spec`; refusals when that needs a recreation."""
    plan = Plan("view", RECREATE_HINT)
    sql = (create_view_sql, drop_view_sql)
    consequence = "it is rebuilt from its base table, and views built on it become invalid"
    current = plan.create_or_recreate(spec, current, force, sql, _refusals, consequence)
    if current is None:
        return plan
    if spec.ttl != current.ttl:
        plan.queries.append(set_view_ttl_sql(current.name, spec.ttl))
    if (spec.refresh, spec.refresh_every) != (current.refresh, current.refresh_every):
        plan.queries.append(set_refresh_sql(current.name, spec.refresh, spec.refresh_every))
    if current.status == "invalid":
        reason = current.invalidation_reason or "no reason given"
        plan.warnings.append(
            f"{current.name}: the view is invalid on the server ({reason});"
            " it is not refreshed any more. REFRESH MATERIALIZED VIEW ... FULL rebuilds it from the base"
            " table (losing history the base table no longer holds); this module does not do it for you"
        )
    return plan


def predicted_view(spec: View, current: View | None, plan: Plan) -> View:
    """The state after `plan` (check mode and the diff's 'after').

    A view altered in place keeps its name, query text, base table and status as the server has them,
    so that the diff shows only what the plan changes.
    """
    if current is None or plan.recreate:
        return View(
            spec.name,
            spec.query,
            spec.partition_by,
            spec.ttl,
            spec.refresh,
            spec.refresh_every,
            spec.base_table,
        )
    return View(
        name=current.name,
        query=current.query,
        partition_by=spec.partition_by or current.partition_by,
        ttl=spec.ttl,
        refresh=spec.refresh,
        refresh_every=spec.refresh_every,
        base_table=spec.base_table or current.base_table,
        status=current.status,
        invalidation_reason=current.invalidation_reason,
    )


def comparable_view(state: dict[str, Any], with_partition: bool = True) -> dict[str, Any]:
    """A state dict reduced to what a declaration decides (the partitioning only if it is declared),
    to compare the predicted and the read-back state."""
    if not state.get("exists"):
        return {"exists": False}
    out = {
        "query": normalize_query(state["query"]),
        "ttl": state["ttl"],
        "refresh": state["refresh"],
        "refresh_every": state["refresh_every"],
    }
    if with_partition:
        out["partition_by"] = state["partition_by"]
    return out
