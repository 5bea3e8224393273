"""Alert rules evaluated the way Grafana evaluates them: backend macros, the query on the real QuestDB,
then the rule's reduce and threshold expressions (tests/grafana/sse.py) and its pending period."""

from __future__ import annotations

from typing import Any

from tests.grafana import macros, sse
from tests.grafana.conftest import Monitoring
from tests.grafana.datagen import S
from tests.grafana.grafana_models import duration_seconds


def evaluate_once(
    monitoring: Monitoring, rule: dict[str, Any], now_ns: int, delivered_to_ns: int | None = None
) -> sse.Evaluation:
    """One evaluation at `now_ns`; rows stamped after `delivered_to_ns` are still on their way."""
    query = rule["data"][0]
    span = query["relativeTimeRange"]
    to_ms = (now_ns - span["to"] * S) // 1_000_000
    from_ms = (now_ns - span["from"] * S) // 1_000_000
    delivered_ms = None if delivered_to_ns is None else delivered_to_ns // 1_000_000
    sql = macros.alert_sql(
        query["model"]["rawSql"], from_ms, to_ms, int(query["model"]["intervalMs"]), delivered_ms
    )
    columns, rows, _ = monitoring.query(sql)
    return sse.run_expressions(rule, {query["refId"]: sse.number_set(columns, rows)})


def firing_at(monitoring: Monitoring, group: dict[str, Any], rule: dict[str, Any], now_ns: int) -> set[Any]:
    """Instances firing at `now_ns`: Alerting at every evaluation of the group over the rule's `for`."""
    interval = int(duration_seconds(group["interval"]) * S)
    pending = int(duration_seconds(rule.get("for", "0s")) * S)
    ticks = [now_ns - k * interval for k in range(pending // interval, -1, -1)]
    return sse.firing([evaluate_once(monitoring, rule, tick) for tick in ticks], rule["noDataState"])
