"""The dashboards and alert rules run against the deployed schema only: the QuestDB of these tests has
exactly the role's tables and columns (tests/support/schema.py), and the simulated data added none
(ILP would create a missing table or column silently, and a query would then pass here but fail in
production). The columns the self-health queries read are the collector's own."""

from __future__ import annotations

import re

from collector.schema import TABLES
from tests.grafana.conftest import Monitoring
from tests.support.paths import REPO
from tests.support.schema import schema

SELFHEALTH = REPO / "roles" / "grafana" / "templates" / "dashboards" / "selfhealth.yml.j2"
RULES = REPO / "roles" / "grafana" / "files" / "alert_rules.yml"


def test_loaded_tables_have_exactly_the_role_columns(monitoring: Monitoring) -> None:
    for table in schema():
        _, rows, _ = monitoring.query(f"SELECT \"column\", type FROM table_columns('{table['name']}')")
        assert [(name, kind) for name, kind in rows] == [(c["name"], c["type"]) for c in table["columns"]]


def test_collector_metrics_queries_read_the_collectors_columns() -> None:
    columns = {name for name, _ in TABLES["collector_metrics"].columns}
    wanted = {"rows_sent", "rows_spooled", "spool_bytes", "spool_age_seconds", "flush_latency_ms"}
    wanted |= {"retries", "rejects", "drops"}
    assert wanted <= columns
    for path in (SELFHEALTH, RULES):
        text = path.read_text()
        assert "collector_metrics" in text
        # every column-like word of the self-health queries that is not a known column is an alias
        used = set(re.findall(r"\b(?:rows_\w+|spool_\w+|flush_\w+|retries|rejects|drops)\b", text))
        aliases = {"rows_per_second", "spooled_rows", "spooled_bytes"}
        assert used - aliases <= columns, path
