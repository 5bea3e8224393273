# Copyright: tradewatch developers
# Apache License 2.0 (see galaxy.yml)
"""Shared pieces of the tradewatch.stack QuestDB modules.

- questdb_common_argument_spec(): the connection options every module takes (documented by the doc
  fragment tradewatch.stack.questdb, plugins/doc_fragments/questdb.py); managed_argument_spec() adds
  name, state and force, which ModuleRun reads
- client_from_params(): a QuestDBClient (module_utils/questdb_http.py) from those options
- read_table() / wait_wal(): the current state of a table from tables() and table_columns()
- ModuleRun / run_module(): one module run on one table or view - read, plan, act, report

Pure schema logic lives in questdb_types.py and questdb_schema.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, NoReturn, Protocol, TypeVar

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_http import (
    QuestDBClient,
    QuestDBError,
)
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_plan import Named, Plan
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_schema import (
    Table,
    absent_state,
    from_server,
)
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import (
    SchemaError,
    validate_identifier,
)

DEFAULT_URL = "http://127.0.0.1:9000"


def questdb_common_argument_spec() -> dict[str, Any]:
    """Connection options shared by the QuestDB modules (extend it with the module's own).

    Documented once, in the doc fragment tradewatch.stack.questdb (plugins/doc_fragments/questdb.py).
    """
    return {
        "url": {"type": "str", "default": DEFAULT_URL},
        "user": {"type": "str", "aliases": ["login_user"]},
        "password": {"type": "str", "no_log": True, "aliases": ["login_password"]},
        "timeout": {"type": "float", "default": 30.0},
        "validate_certs": {"type": "bool", "default": True},
    }


def managed_argument_spec(kind: str) -> dict[str, Any]:
    """The options ModuleRun reads: the connection, name (alias: `kind`), state and force."""
    spec = questdb_common_argument_spec()
    spec.update(
        name={"type": "str", "required": True, "aliases": [kind]},
        state={"type": "str", "default": "present", "choices": ["present", "absent"]},
        force={"type": "bool", "default": False},
    )
    return spec


def client_from_params(params: dict[str, Any]) -> QuestDBClient:
    return QuestDBClient(
        url=params["url"],
        user=params.get("user"),
        password=params.get("password"),
        timeout=float(params.get("timeout") or 30.0),
        validate_certs=bool(params.get("validate_certs", True)),
    )


class TableInfo:
    """What tables() says about a name: its kind (T table, M materialized view, V view) and row."""

    KINDS: ClassVar[dict[str, str]] = {"T": "table", "M": "materialized view", "V": "view"}

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.name = str(row.get("table_name"))
        kind = row.get("table_type") or ("M" if row.get("matView") else "T")
        self.kind = self.KINDS.get(str(kind), f"object of type {kind}")

    @property
    def is_table(self) -> bool:
        return self.kind == "table"


def find_table(client: QuestDBClient, name: str) -> TableInfo | None:
    """The tables() row whose name equals `name` case-insensitively (QuestDB names are), or None."""
    validate_identifier("table name", name)
    rows = client.rows(f"SELECT * FROM tables() WHERE lower(table_name) = '{name.lower()}'")
    return TableInfo(rows[0]) if rows else None


def read_table(client: QuestDBClient, info: TableInfo) -> Table:
    """The server-side structure of a table found by find_table()."""
    validate_identifier("table name", info.name)
    columns = client.rows(f"SELECT * FROM table_columns('{info.name}')")
    return from_server(info.row, columns)


def wal_lag(client: QuestDBClient, name: str) -> tuple[int, bool]:
    """(sequencerTxn - writerTxn, suspended) of a WAL table; (0, False) if it has no WAL."""
    validate_identifier("table name", name)
    rows = client.rows(f"SELECT * FROM wal_tables() WHERE lower(name) = '{name.lower()}'")
    if not rows:
        return 0, False
    row = rows[0]
    return int(row.get("sequencerTxn") or 0) - int(row.get("writerTxn") or 0), bool(row.get("suspended"))


def wait_wal(client: QuestDBClient, name: str, timeout: float) -> int:
    """Wait until QuestDB applied every WAL transaction of `name` (metadata changes of WAL tables are
    applied asynchronously, and tables()/table_columns() show the applied state). Return the number of
    transactions still pending when `timeout` ran out (0 = caught up). Raise if the table is suspended.
    """
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        pending, suspended = wal_lag(client, name)
        if suspended:
            raise QuestDBError(
                f"{name}: the WAL table is suspended ({pending} transaction(s) not applied); QuestDB applies"
                f" no change until it is resumed: ALTER TABLE {name} RESUME WAL"
            )
        if pending <= 0 or time.monotonic() >= deadline:
            return max(pending, 0)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


# ---------------------------------------------------------------------------------------------
# One module run
# ---------------------------------------------------------------------------------------------


class Managed(Named, Protocol):
    """What a module manages (questdb_schema.Table, questdb_view.View), declared or read back."""

    def as_dict(self) -> dict[str, Any]: ...


M = TypeVar("M", bound=Managed)


@dataclass(frozen=True)
class Declarative(Generic[M]):
    """The pure functions (module_utils) a module declares, plans and drops its object with.

    (A dataclass, not a generic NamedTuple: modules run on Python 3.9 targets.)
    """

    build: Callable[[dict[str, Any]], M]  # the declared object from the module parameters (SchemaError)
    plan: Callable[[M, M | None, bool], Plan]  # (spec, current, force): current None = does not exist
    predict: Callable[[M, M | None, Plan], M]  # the state after the plan (check mode, the diff's after)
    drop_sql: Callable[[str], str]


class ModuleRun(Generic[M]):
    """One run of a QuestDB module on one object: read it, plan, act (unless check mode), report.

    A module subclasses it with what differs between tables and views: `kind`, `functions`,
    current() and comparable().
    """

    kind: ClassVar[str] = "table"  # in messages: "table", "view"
    functions: Declarative[M]

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.name: str = module.params["name"]
        self.client: QuestDBClient = client_from_params(module.params)
        self.timeout = float(module.params["timeout"])
        self.executed: list[str] = []

    # -- what a module provides ---------------------------------------------------------------

    def current(self) -> M | None:
        """The object as the server has it, or None when it does not exist."""
        raise NotImplementedError

    def comparable(self, spec: M, state: dict[str, Any]) -> dict[str, Any]:
        """A state dict reduced to what the declaration decides, to compare predicted and read back."""
        raise NotImplementedError

    def unchanged_state(self, current: M, predicted: dict[str, Any]) -> dict[str, Any]:
        """The resulting state when the object exists and the plan is empty."""
        return predicted

    # -- shared --------------------------------------------------------------------------------

    def fail(self, msg: str, **extra: Any) -> NoReturn:
        self.module.fail_json(msg=msg, queries=self.executed, **extra)
        raise AssertionError(msg)  # not reached: fail_json exits

    def wait(self, name: str) -> None:
        """Wait for the pending WAL transactions of `name` (wait_wal); warn when some are left."""
        pending = wait_wal(self.client, name, self.timeout)
        if pending:
            self.module.warn(
                f"{name}: {pending} WAL transaction(s) still pending after {self.timeout:g}s;"
                " the state read may not show the latest changes"
            )

    def run(self, queries: list[str]) -> None:
        if self.module.check_mode:
            return
        for sql in queries:
            self.client.exec(sql)
            self.executed.append(sql)

    def state_of(self, obj: M | None) -> dict[str, Any]:
        return obj.as_dict() if obj is not None else absent_state(self.name)

    def absent(self) -> dict[str, Any]:
        current = self.current()
        queries = [self.functions.drop_sql(current.name)] if current is not None else []
        self.run(queries)
        return self.result(queries, self.state_of(current), absent_state(self.name))

    def present(self) -> dict[str, Any]:
        try:
            spec = self.functions.build(self.params)
        except SchemaError as exc:
            self.fail(str(exc))
        current = self.current()
        plan = self.functions.plan(spec, current, self.params["force"])
        if plan.refusals and not plan.recreate:
            self.fail(plan.refusal_message(current.name if current is not None else spec.name))
        for warning in plan.warnings:
            self.module.warn(warning)
        before = self.state_of(current)
        after = self.functions.predict(spec, current, plan).as_dict()
        self.run(plan.queries)
        if plan.queries and not self.module.check_mode:
            after = self.read_back(spec, after)
        elif current is not None and not plan.queries:
            after = self.unchanged_state(current, after)
        return self.result(plan.queries, before, after)

    def read_back(self, spec: M, predicted: dict[str, Any]) -> dict[str, Any]:
        """The state after the changes, read from the server; warn if it is not the predicted one."""
        actual = self.current()
        if actual is None:
            self.fail(f"{self.name}: the {self.kind} is missing after {self.executed[-1]!r}")
        state = actual.as_dict()
        if self.comparable(spec, state) != self.comparable(spec, predicted):
            self.module.warn(
                f"{self.name}: the state read back differs from the declared one; server: {state};"
                f" declared: {predicted}"
            )
        return state

    def result(self, queries: list[str], before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"changed": bool(queries), "queries": list(queries), "state": after}
        if self.module._diff:
            out["diff"] = {"before": before, "after": after}
        return out


def run_module(module: AnsibleModule, runner: type[ModuleRun[Any]]) -> None:
    """A module's main() after AnsibleModule(): validate the name, run state=present/absent, exit."""
    try:
        validate_identifier(f"{runner.kind} name", module.params["name"])
        run = runner(module)
    except (SchemaError, QuestDBError) as exc:
        module.fail_json(msg=str(exc), queries=[])
        return
    try:
        result = run.absent() if module.params["state"] == "absent" else run.present()
    except QuestDBError as exc:
        run.fail(str(exc))
        return
    module.exit_json(**result)
