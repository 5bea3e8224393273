"""The retention design under test: raw TTLs, the rollup views of the questdb role, server settings.

The views come from ``roles/questdb/vars/main.yml`` (``_questdb_views``) and are created with the
SQL of the ``tradewatch.stack.questdb_materialized_view`` module's own builder, so the bench
measures what a deploy creates (as tests/support/schema.py does for the tables).
"""

from __future__ import annotations

from typing import Any

import yaml
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_view import (
    build_view_spec,
    create_view_sql,
)

from bench.common import REPO
from tests.support.questdb_server import QuestDBServer

# Raw tables: short TTLs (the rollups keep 90 days / a year). pipeline_metrics holds 5.2 M rows a
# day under R, the 1-minute rollup without the symbol dimension 17,280: two days of per-symbol detail
# cover the 24 h dashboards; daemon and exchange rows are small enough for a week.
RAW_TTL = {
    "pipeline_metrics": "2d",
    "exchange_status": "7d",
    "daemon_metrics": "7d",
    "trading_metrics": "365d",
}
# Upstream (the data model): every table 90 days, trading_metrics 365 days.
UPSTREAM_TTL = {
    "pipeline_metrics": "90d",
    "exchange_status": "90d",
    "daemon_metrics": "90d",
    "trading_metrics": "365d",
}
# Page sizes for a small, low-cardinality database (QuestDB's defaults are 16 MiB each): the
# active partition of every column and every symbol column's value index would otherwise take
# 16 MiB on disk per table and per view (about 1 GB for the 4 tables and 7 views).
SERVER_SETTINGS = {
    "cairo.writer.data.append.page.size": "1M",
    "cairo.writer.data.index.value.append.page.size": "1M",
}


def declared_views() -> list[dict[str, Any]]:
    role_vars = yaml.safe_load((REPO / "roles" / "questdb" / "vars" / "main.yml").read_text())
    return list(role_vars.get("_questdb_views") or [])


def create_views(server: QuestDBServer) -> list[str]:
    """Create the role's views that do not exist yet; return their names (in declaration order)."""
    existing = {row[0] for row in server.rows("SELECT view_name FROM materialized_views()")}
    names = []
    for view in declared_views():
        if view["name"] not in existing:
            server.exec(create_view_sql(build_view_spec(view)))
        names.append(view["name"])
    return names
