"""The retention design under test is the one a deploy creates: the raw TTLs of the prod inventory,
the questdb role's rollup views (created by tests/support/schema.py with the modules' own SQL
builders) and the role's page-size settings (which every test server takes:
tests/support/questdb_server.py).
"""

from __future__ import annotations

from typing import Any

import yaml

from bench.common import REPO


def _load(path: str) -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / path).read_text()))


# Raw tables: short TTLs (the rollups keep 90 days at 1 minute and a year at 1 hour).
RAW_TTL: dict[str, str] = {
    k: v
    for k, v in _load("inventories/prod/group_vars/all/main.yml")["questdb_table_ttl"].items()
    if k != "collector_metrics"  # not part of R
}
# Upstream (the data model): every table 90 days, trading_metrics 365 days.
UPSTREAM_TTL = {
    "pipeline_metrics": "90d",
    "exchange_status": "90d",
    "daemon_metrics": "90d",
    "trading_metrics": "365d",
}
