# Copyright: tradewatch developers
# Apache License 2.0 (see galaxy.yml)
"""The SQL that turns a table's server state into its declared state, and what cannot be done in place.

Pure Python (no Ansible import) so the unit tests exercise it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_schema import Column, Table
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import (
    Ttl,
    quote_ident,
    ttl_removable,
)

FORCE_HINT = "set force: true to drop and recreate the table (destroys its rows)"


class Named(Protocol):
    name: str


S = TypeVar("S", bound=Named)


# ---------------------------------------------------------------------------------------------
# SQL
# ---------------------------------------------------------------------------------------------


def create_table_sql(spec: Table) -> str:
    """CREATE TABLE in QuestDB's clause order: TIMESTAMP, PARTITION BY, TTL, WAL, DEDUP."""
    sql = f"CREATE TABLE {quote_ident(spec.name)} ({', '.join(col.definition() for col in spec.columns)})"
    if spec.timestamp:
        sql += f" TIMESTAMP({quote_ident(spec.timestamp)}) PARTITION BY {spec.partition_by}"
        if spec.ttl is not None:
            sql += f" TTL {spec.ttl.sql()}"
        sql += " WAL" if spec.wal else " BYPASS WAL"
        if spec.dedup_upsert_keys:
            sql += f" DEDUP UPSERT KEYS({', '.join(quote_ident(k) for k in spec.dedup_upsert_keys)})"
    return sql


def drop_table_sql(name: str) -> str:
    return f"DROP TABLE {quote_ident(name)}"


def add_column_sql(table: str, column: Column) -> str:
    # One column per statement: WAL tables refuse 'ADD COLUMN a, b' (multiple transactions).
    return f"ALTER TABLE {quote_ident(table)} ADD COLUMN {column.definition()}"


def set_ttl_sql(table: str, ttl: Ttl | None) -> str:
    # Plain 'SET TTL 0' fails with "missing unit"; '0 HOURS' removes the TTL.
    return f"ALTER TABLE {quote_ident(table)} SET TTL {ttl.sql() if ttl is not None else '0 HOURS'}"


def dedup_sql(table: str, keys: list[str]) -> str:
    if not keys:
        return f"ALTER TABLE {quote_ident(table)} DEDUP DISABLE"
    quoted = ", ".join(quote_ident(k) for k in keys)
    return f"ALTER TABLE {quote_ident(table)} DEDUP ENABLE UPSERT KEYS({quoted})"


def alter_symbol_sql(table: str, column: str, cache: bool | None = None, index: bool | None = None) -> str:
    prefix = f"ALTER TABLE {quote_ident(table)} ALTER COLUMN {quote_ident(column)}"
    if cache is not None:
        return f"{prefix} {'CACHE' if cache else 'NOCACHE'}"
    return f"{prefix} {'ADD INDEX' if index else 'DROP INDEX'}"


# ---------------------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------------------


class Plan:
    """What converging a table (or a view) takes: SQL, refusals (not alterable in place) and warnings.

    `kind` names the object in messages; `hint` ends the refusal message (how to apply them anyway).
    """

    def __init__(self, kind: str = "table", hint: str = FORCE_HINT) -> None:
        self.queries: list[str] = []
        self.refusals: list[str] = []
        self.warnings: list[str] = []
        self.recreate = False
        self.kind = kind
        self.hint = hint

    def refusal_message(self, name: str) -> str:
        return f"{name}: {'; '.join(self.refusals)}; {self.hint}"

    def create_or_recreate(
        self,
        spec: S,
        current: S | None,
        force: bool,
        sql: tuple[Callable[[S], str], Callable[[str], str]],
        refusals: Callable[[S, S], list[str]],
        consequence: str,
    ) -> S | None:
        """The first step of a plan: create a missing object; else record the differences QuestDB
        cannot apply in place (`refusals`) and, with `force`, drop and recreate it, warning of the
        `consequence`. `sql` is (create_sql(spec), drop_sql(name)).

        Return `current` when it is to be altered in place, None when the plan is complete.
        """
        create_sql, drop_sql = sql
        if current is None:
            self.queries.append(create_sql(spec))
            return None
        self.refusals = refusals(spec, current)
        if not self.refusals:
            return current
        if force:
            self.recreate = True
            self.queries += [drop_sql(current.name), create_sql(spec)]
            self.warnings.append(
                f"{spec.name}: force: true drops and recreates the {self.kind} because"
                f" {'; '.join(self.refusals)}; {consequence}"
            )
        return None


def plan_changes(spec: Table, current: Table | None, force: bool = False) -> Plan:
    """SQL that turns `current` (None: no table) into `spec`; refusals if that needs a recreation."""
    plan = Plan()
    sql = (create_table_sql, drop_table_sql)
    current = plan.create_or_recreate(spec, current, force, sql, _refusals, "all its rows are deleted")
    if current is None:
        return plan
    table = current.name
    for col in spec.columns:
        have = current.column(col.name)
        if have is None:
            plan.queries.append(add_column_sql(table, col))
            continue
        if col.type != "SYMBOL":
            continue
        if col.cache is not None and col.cache != have.cache:
            plan.queries.append(alter_symbol_sql(table, have.name, cache=col.cache))
        if col.index is not None and col.index != have.index:
            plan.queries.append(alter_symbol_sql(table, have.name, index=col.index))
    if spec.ttl != current.ttl:
        plan.queries.append(set_ttl_sql(table, spec.ttl))
    if _lower(spec.dedup_upsert_keys) != _lower(current.dedup_upsert_keys):
        plan.queries.append(dedup_sql(table, spec.dedup_upsert_keys))
    extra = [col.name for col in current.columns if spec.column(col.name) is None]
    if extra:
        plan.warnings.append(
            f"{table}: column(s) {', '.join(extra)} exist on the server but are not declared;"
            " they are left in place (this module never drops columns)"
        )
    return plan


def _lower(names: list[str]) -> set[str]:
    return {name.lower() for name in names}


def _refusals(spec: Table, current: Table) -> list[str]:
    """The differences QuestDB cannot apply in place, each with its reason."""
    out: list[str] = []
    if (spec.timestamp or "").lower() != (current.timestamp or "").lower():
        out.append(
            f"the designated timestamp is {current.timestamp or 'none'} on the server but"
            f" {spec.timestamp or 'none'} is declared; QuestDB cannot change a table's designated timestamp"
        )
    if spec.partition_by != current.partition_by:
        out.append(
            f"partition_by is {current.partition_by} on the server but {spec.partition_by} is declared;"
            " QuestDB cannot change a table's partitioning"
        )
    if spec.wal != current.wal:
        out.append(
            f"wal is {str(current.wal).lower()} on the server but {str(spec.wal).lower()} is declared;"
            " QuestDB converts between WAL and non-WAL tables only at a server restart (ALTER TABLE SET TYPE)"
        )
    for col in spec.columns:
        have = current.column(col.name)
        if have is not None and have.type != col.type:
            out.append(
                f"column {col.name} is {have.type} on the server but {col.type} is declared;"
                " QuestDB cannot change a column type in place"
            )
    if spec.ttl is None and current.ttl is not None and not ttl_removable(current.partition_by):
        out.append(
            f"TTL {current.ttl.short()} is set on the server but no TTL is declared; QuestDB cannot remove"
            f" the TTL of a {current.partition_by}-partitioned table (it rejects SET TTL 0)"
        )
    return out


def predicted_state(spec: Table, current: Table | None, plan: Plan) -> Table:
    """The state the table will have after `plan` (used in check mode and as the diff's 'after')."""
    if current is None or plan.recreate:
        base: list[Column] = []
    else:
        base = list(current.columns)
    columns: list[Column] = []
    for have in base:
        want = spec.column(have.name)
        if want is None or have.type != "SYMBOL":
            columns.append(have)
        else:
            columns.append(
                Column(
                    have.name,
                    have.type,
                    have.capacity,
                    have.cache if want.cache is None else want.cache,
                    have.index if want.index is None else want.index,
                )
            )
    for want in spec.columns:
        if not any(col.name.lower() == want.name.lower() for col in columns):
            columns.append(_as_created(want))
    return Table(
        name=current.name if current is not None and not plan.recreate else spec.name,
        columns=columns,
        timestamp=spec.timestamp,
        partition_by=spec.partition_by,
        wal=spec.wal,
        dedup_upsert_keys=list(spec.dedup_upsert_keys),
        ttl=spec.ttl,
    )


def _as_created(col: Column) -> Column:
    """A declared column as QuestDB creates it (symbols default to CACHE, no index)."""
    if col.type != "SYMBOL":
        return Column(col.name, col.type)
    return Column(col.name, col.type, col.capacity, True if col.cache is None else col.cache, bool(col.index))
