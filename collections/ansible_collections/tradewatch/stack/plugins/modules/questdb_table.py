#!/usr/bin/python
# Copyright: tradewatch developers
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: questdb_table
short_description: Make a QuestDB table match a declared structure
version_added: 0.1.0
description:
  - Creates, alters or drops a QuestDB table through QuestDB's REST C(/exec) endpoint so that it
    matches the declared columns, designated timestamp, partitioning, WAL mode, deduplication keys
    and TTL.
  - Reads the current state from C(tables()) and C(table_columns()), computes the difference and
    runs only the statements needed; a second run with the same arguments changes nothing.
  - Applied in place - missing columns (C(ALTER TABLE ADD COLUMN), one per statement), the TTL
    (C(SET TTL)), the deduplication keys (C(DEDUP ENABLE UPSERT KEYS) / C(DEDUP DISABLE)) and the
    O(columns[].cache) and O(columns[].index) flags of SYMBOL columns.
  - Refused unless O(force=true) - a different designated timestamp, partitioning, WAL mode or column
    type, and removing the TTL of a MONTH- or YEAR-partitioned table. QuestDB cannot change these in
    place (a WAL conversion with C(ALTER TABLE SET TYPE) only takes effect at a server restart, and
    QuestDB 9.3 rejects C(SET TTL 0) on MONTH/YEAR partitions).
  - Columns that exist on the server but are not declared are left in place and reported with a
    warning; this module never drops a column.
  - Metadata changes of WAL tables are applied asynchronously. Before reading and after changing a WAL
    table the module waits up to O(timeout) seconds until QuestDB has applied its pending WAL
    transactions, and fails if the table is suspended.
  - Names are matched case-insensitively, like QuestDB does. Table, column and key names must match
    C(^[A-Za-z_][A-Za-z0-9_]{0,126}$); they are double-quoted in SQL, so keywords such as C(symbol) work.
author:
  - tradewatch developers
extends_documentation_fragment:
  - tradewatch.stack.questdb
  - tradewatch.stack.questdb.attributes
options:
  name:
    description: Name of the table (case-insensitive).
    type: str
    required: true
    aliases: [table]
  state:
    description:
      - V(present) creates or alters the table; V(absent) drops it (with all its rows) if it exists.
    type: str
    choices: [present, absent]
    default: present
  timestamp:
    description:
      - The designated timestamp column. It must be a TIMESTAMP (or TIMESTAMP_NS) column and is added
        to O(columns) as TIMESTAMP when not listed there.
      - Omit it for a table without a designated timestamp (then O(partition_by) must be NONE).
    type: str
  partition_by:
    description:
      - Partitioning of the table. Defaults to V(DAY) when O(timestamp) is set, else V(NONE).
    type: str
    choices: [NONE, HOUR, DAY, WEEK, MONTH, YEAR]
  wal:
    description:
      - Whether the table is a WAL table. Defaults to true for partitioned tables; a table with
        O(partition_by=NONE) cannot be a WAL table.
    type: bool
  dedup_upsert_keys:
    description:
      - Deduplication (upsert) keys. They must be declared columns, include the designated
        timestamp, not be arrays, and need O(wal=true).
      - An empty list (the default) disables deduplication. Enabling deduplication does not
        deduplicate rows already in the table.
    type: list
    elements: str
    default: []
  ttl:
    description:
      - Time to live of the partitions, as C(<n><unit>) with unit C(h), C(d), C(w), C(M) (months) or
        C(y), or as C(<n> <UNIT>) with HOUR(S), DAY(S), WEEK(S), MONTH(S), YEAR(S) (e.g. C(90d),
        C(90 DAYS), C(2w), C(3M)). A lowercase C(m) is refused as ambiguous.
      - Omitted, V(0) or V(none) means no TTL, and removes an existing one.
      - TTLs are compared in QuestDB's canonical form, the largest unit that divides the duration
        exactly, as QuestDB itself stores them - C(14d) equals C(2w), C(48h) equals C(2d), C(12M)
        equals C(1y). Hour-based and month-based TTLs never compare equal (C(30d) is not C(1M)).
      - Must be a whole multiple of the partition size (QuestDB's rule - any TTL for HOUR, whole days
        or months for DAY, whole weeks or months for WEEK, months for MONTH, years for YEAR) and needs a
        partitioned table.
    type: str
  columns:
    description:
      - The columns of the table. On an existing table the missing ones are added at the end;
        the order of existing columns is not compared.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Column name (case-insensitive).
        type: str
        required: true
      type:
        description:
          - QuestDB type, case-insensitive - BOOLEAN, BYTE, SHORT, CHAR, INT, LONG, DATE, TIMESTAMP,
            TIMESTAMP_NS, FLOAT, DOUBLE, STRING, VARCHAR, SYMBOL, LONG128, LONG256, UUID, IPV4, BINARY,
            C(GEOHASH(<n>b)) or C(GEOHASH(<n>c)), C(DECIMAL) or C(DECIMAL(<p>,<s>)), C(DOUBLE[]) (one
            C([]) per dimension). Aliases INTEGER, BIGINT, SMALLINT, REAL, DOUBLE PRECISION and TEXT
            are accepted and compared as the type QuestDB stores.
        type: str
        required: true
      capacity:
        description:
          - SYMBOL only. Initial symbol table capacity, used when the column is created. QuestDB 9
            grows symbol tables automatically, so it is not compared afterwards.
        type: int
      cache:
        description:
          - SYMBOL only. Whether the symbol table is cached in memory (CACHE / NOCACHE). Altered in
            place; when omitted it is not managed (QuestDB creates symbols with CACHE).
        type: bool
      index:
        description:
          - SYMBOL only. Whether the column is indexed. Altered in place (ADD INDEX / DROP INDEX);
            when omitted it is not managed (created without index).
        type: bool
  force:
    description:
      - Apply differences QuestDB cannot make in place by dropping and recreating the table.
      - B(Destructive) - recreating the table deletes all its rows, and the columns that are not
        declared.
    type: bool
    default: false
notes:
  - Symbol capacities are creation-time hints only (see O(columns[].capacity)).
  - A DECIMAL with a precision but no scale is refused, because QuestDB's default scale then
    depends on the precision.
seealso:
  - name: QuestDB CREATE TABLE
    description: Syntax and clause order of CREATE TABLE.
    link: https://questdb.com/docs/reference/sql/create-table/
"""

EXAMPLES = r"""
- name: Ensure the daemon metrics table
  tradewatch.stack.questdb_table:
    url: http://127.0.0.1:9000
    user: admin
    password: "{{ questdb_http_password }}"
    name: daemon_metrics
    timestamp: timestamp
    partition_by: DAY
    wal: true
    dedup_upsert_keys: [timestamp, host, env]
    ttl: 90d
    columns:
      - {name: host, type: SYMBOL}
      - {name: env, type: SYMBOL, index: true}
      - {name: fetch_count, type: LONG}
      - {name: last_error, type: VARCHAR}

- name: Show what would change, without changing anything
  tradewatch.stack.questdb_table:
    name: daemon_metrics
    timestamp: timestamp
    columns: [{name: host, type: SYMBOL}]
  check_mode: true
  diff: true
  register: plan

- name: Change a column type by recreating the table (deletes all rows)
  tradewatch.stack.questdb_table:
    name: scratch
    timestamp: ts
    columns: [{name: value, type: DOUBLE}]
    force: true

- name: Drop a table
  tradewatch.stack.questdb_table:
    name: scratch
    state: absent
"""

RETURN = r"""
queries:
  description: The SQL statements run, or in check mode those that would run.
  returned: always
  type: list
  elements: str
  sample:
    - ALTER TABLE "daemon_metrics" ADD COLUMN "restart_count" LONG
    - ALTER TABLE "daemon_metrics" SET TTL 90 DAYS
state:
  description:
    - The table's resulting state (in check mode, the predicted one). Only C(name) and C(exists)
      when the table does not exist.
    - SYMBOL columns carry C(cache) and C(index).
  returned: always
  type: dict
  sample:
    name: daemon_metrics
    exists: true
    columns:
      - {name: timestamp, type: TIMESTAMP}
      - {name: host, type: SYMBOL, cache: true, index: false}
      - {name: fetch_count, type: LONG}
    timestamp: timestamp
    partition_by: DAY
    wal: true
    dedup_upsert_keys: [timestamp, host]
    ttl: 90d
diff:
  description: The table's state before and after, in the format of RV(state).
  returned: when diff mode is on
  type: dict
  sample:
    before: {name: daemon_metrics, exists: false}
    after: {name: daemon_metrics, exists: true, ttl: 90d}
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb import (
    Declarative,
    ModuleRun,
    find_table,
    managed_argument_spec,
    read_table,
    run_module,
)
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_plan import (
    drop_table_sql,
    plan_changes,
    predicted_state,
)
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_schema import (
    Table,
    build_spec,
    comparable,
)


def argument_spec() -> dict[str, Any]:
    spec = managed_argument_spec("table")
    spec.update(
        timestamp={"type": "str"},
        partition_by={"type": "str", "choices": ["NONE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR"]},
        wal={"type": "bool"},
        dedup_upsert_keys={"type": "list", "elements": "str", "default": []},
        ttl={"type": "str"},
        columns={
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "name": {"type": "str", "required": True},
                "type": {"type": "str", "required": True},
                "capacity": {"type": "int"},
                "cache": {"type": "bool"},
                "index": {"type": "bool"},
            },
        },
    )
    return spec


class TableModule(ModuleRun[Table]):
    """One run: read the table, plan, act (unless check mode), report (module_utils/questdb.py)."""

    kind = "table"
    functions = Declarative(build_spec, plan_changes, predicted_state, drop_table_sql)

    def current(self) -> Table | None:
        info = find_table(self.client, self.name)
        if info is None:
            return None
        if not info.is_table:
            self.fail(f"{self.name}: {info.name} is a {info.kind}, not a table; this module manages tables")
        if info.row.get("walEnabled"):
            self.wait(info.name)
            info = find_table(self.client, self.name) or info
        return read_table(self.client, info)

    def comparable(self, spec: Table, state: dict[str, Any]) -> dict[str, Any]:
        return comparable(state)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, TableModule)


if __name__ == "__main__":
    main()
