#!/usr/bin/python
# Copyright: tradewatch developers
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: questdb_materialized_view
short_description: Make a QuestDB materialized view match a declared query, partitioning, TTL and refresh
version_added: 0.2.0
description:
  - Creates, alters or drops a QuestDB materialized view through QuestDB's REST C(/exec) endpoint so
    that it matches the declared query, partitioning, TTL and refresh mode.
  - Reads the current state from C(tables()) and C(materialized_views()), computes the difference and
    runs only the statements needed; a second run with the same arguments changes nothing.
  - Applied in place - the TTL (C(ALTER MATERIALIZED VIEW SET TTL)) and the refresh mode
    (C(SET REFRESH IMMEDIATE|MANUAL|EVERY)).
  - Refused unless O(force=true) - a different query (compared with whitespace collapsed),
    partitioning or base table, and removing the TTL of a MONTH- or YEAR-partitioned view. QuestDB
    cannot change these in place; recreating rebuilds the view from its base table, so rows the base
    table no longer holds (past its own TTL) are lost, and views built on this one become invalid.
  - An invalid view (for example after its base table was dropped) is reported with a warning; it is
    not refreshed by this module (C(REFRESH MATERIALIZED VIEW ... FULL) would rebuild it from the base
    table only).
  - The base table (or view) must exist before the view is created; declare views after their bases.
  - After changing the view the module waits up to O(timeout) seconds until QuestDB has applied its
    pending WAL transactions, and fails if it is suspended.
  - Names are matched case-insensitively, like QuestDB does, and must match C(^[A-Za-z_][A-Za-z0-9_]{0,126}$).
author:
  - tradewatch developers
extends_documentation_fragment:
  - tradewatch.stack.questdb
  - tradewatch.stack.questdb.attributes
options:
  name:
    description: Name of the view (case-insensitive).
    type: str
    required: true
    aliases: [view]
  state:
    description: V(present) creates or alters the view; V(absent) drops it if it exists.
    type: str
    choices: [present, absent]
    default: present
  query:
    description:
      - The SELECT the view materializes, with C(SAMPLE BY) (or C(GROUP BY) on the designated timestamp)
        over its base table, e.g. C(SELECT timestamp, exchange, sum(records_count) AS records_count
        FROM pipeline_metrics SAMPLE BY 1m). Required with O(state=present).
    type: str
  base_table:
    description:
      - The base table, for queries that join several tables (C(WITH BASE)). Omit for one table.
    type: str
  partition_by:
    description:
      - Partitioning of the view. When omitted QuestDB picks it from the sampling interval and it is
        not compared afterwards. Required with O(ttl).
    type: str
    choices: [HOUR, DAY, WEEK, MONTH, YEAR]
  ttl:
    description:
      - Time to live of the view's partitions, in the format of the M(tradewatch.stack.questdb_table)
        module's O(tradewatch.stack.questdb_table#module:ttl) (e.g. C(90d), C(52w), C(12M), C(1y)).
        It must be a whole multiple of O(partition_by). Omitted, V(0) or V(none) means no TTL.
    type: str
  refresh:
    description:
      - V(immediate) refreshes incrementally after each base table transaction, V(manual) only on
        C(REFRESH MATERIALIZED VIEW), V(timer) every O(refresh_every).
    type: str
    choices: [immediate, manual, timer]
    default: immediate
  refresh_every:
    description: The timer interval of O(refresh=timer), as C(<n><unit>) with unit m, h, d, w, M or y.
    type: str
  force:
    description:
      - Apply differences QuestDB cannot make in place by dropping and recreating the view.
      - B(Destructive) - the view is rebuilt from its base table; history the base table no longer
        holds is lost, and views built on this one become invalid.
    type: bool
    default: false
notes:
  - Materialized views appeared in QuestDB 8.3.
seealso:
  - module: tradewatch.stack.questdb_table
  - name: QuestDB materialized views
    description: Syntax, refresh modes and TTL of materialized views.
    link: https://questdb.com/docs/concept/mat-views/
"""

EXAMPLES = r"""
- name: One-minute rollup of the pipeline metrics, kept 90 days
  tradewatch.stack.questdb_materialized_view:
    url: http://127.0.0.1:9000
    user: admin
    password: "{{ questdb_http_password }}"
    name: pipeline_metrics_1m
    query: >-
      SELECT timestamp, exchange, data_type, host, env, sum(records_count) AS records_count,
      count() AS samples FROM pipeline_metrics SAMPLE BY 1m
    partition_by: DAY
    ttl: 90d

- name: Hourly rollup of the one-minute view, kept a year
  tradewatch.stack.questdb_materialized_view:
    name: pipeline_metrics_1h
    query: >-
      SELECT timestamp, exchange, data_type, host, env, sum(records_count) AS records_count,
      sum(samples) AS samples FROM pipeline_metrics_1m SAMPLE BY 1h
    partition_by: MONTH
    ttl: 1y

- name: Drop a view
  tradewatch.stack.questdb_materialized_view:
    name: scratch_1m
    state: absent
"""

RETURN = r"""
queries:
  description: The SQL statements run, or in check mode those that would run.
  returned: always
  type: list
  elements: str
  sample:
    - ALTER MATERIALIZED VIEW "pipeline_metrics_1m" SET TTL 90 DAYS
state:
  description:
    - The view's resulting state (in check mode, the predicted one). Only C(name) and C(exists) when
      the view does not exist. C(status) and C(invalidation_reason) come from the server.
  returned: always
  type: dict
  sample:
    name: pipeline_metrics_1m
    exists: true
    query: SELECT timestamp, exchange, sum(records_count) AS records_count FROM pipeline_metrics SAMPLE BY 1m
    partition_by: DAY
    ttl: 90d
    refresh: immediate
    refresh_every: null
    base_table: pipeline_metrics
    status: valid
    invalidation_reason: null
diff:
  description: The view's state before and after, in the format of RV(state).
  returned: when diff mode is on
  type: dict
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb import (
    Declarative,
    ModuleRun,
    TableInfo,
    find_table,
    managed_argument_spec,
    run_module,
)
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_http import (
    QuestDBClient,
    QuestDBError,
)
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_types import validate_identifier
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_view import (
    View,
    build_view_spec,
    comparable_view,
    drop_view_sql,
    plan_view,
    predicted_view,
    view_from_server,
)


def argument_spec() -> dict[str, Any]:
    spec = managed_argument_spec("view")
    spec.update(
        query={"type": "str"},
        base_table={"type": "str"},
        partition_by={"type": "str", "choices": ["HOUR", "DAY", "WEEK", "MONTH", "YEAR"]},
        ttl={"type": "str"},
        refresh={"type": "str", "default": "immediate", "choices": ["immediate", "manual", "timer"]},
        refresh_every={"type": "str"},
    )
    return spec


def read_view(client: QuestDBClient, info: TableInfo) -> View:
    """The server-side view found by find_table() (its tables() row and materialized_views() row)."""
    validate_identifier("view name", info.name)
    rows = client.rows(f"SELECT * FROM materialized_views() WHERE lower(view_name) = '{info.name.lower()}'")
    if not rows:
        raise QuestDBError(
            f"{info.name}: listed in tables() as a materialized view but not in materialized_views()"
        )
    return view_from_server(info.row, rows[0])


class ViewModule(ModuleRun[View]):
    """One run: read the view, plan, act (unless check mode), report (module_utils/questdb.py)."""

    kind = "view"
    functions = Declarative(build_view_spec, plan_view, predicted_view, drop_view_sql)

    def current(self) -> View | None:
        info = find_table(self.client, self.name)
        if info is None:
            return None
        if info.kind != "materialized view":
            self.fail(f"{self.name}: {info.name} is a {info.kind}, not a materialized view")
        return read_view(self.client, info)

    def comparable(self, spec: View, state: dict[str, Any]) -> dict[str, Any]:
        # The partitioning only when it is declared (else QuestDB picks it from the SAMPLE BY interval).
        return comparable_view(state, spec.partition_by is not None)

    def unchanged_state(self, current: View, predicted: dict[str, Any]) -> dict[str, Any]:
        return current.as_dict()

    def read_back(self, spec: View, predicted: dict[str, Any]) -> dict[str, Any]:
        # current() does not wait for the view's WAL (it reads before any change): wait here.
        self.wait(self.name)
        return super().read_back(spec, predicted)


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[("state", "present", ("query",)), ("refresh", "timer", ("refresh_every",))],
    )
    run_module(module, ViewModule)


if __name__ == "__main__":
    main()
