"""Time to notify: the worst time from a fault to its notification leaving Grafana, per alert rule.

The parts, in order (seconds):
- report: the fault reaching QuestDB. Rows of the daemon's tables come through the hook, the status
  channel and the collector (hook interval + the collector's poll and flush intervals + one second of
  WAL apply); collector_metrics every self-metrics interval (+ flush + apply); QuestDB's own functions
  (wal_tables()) at once. Counted only for the onsets that wait for a report (report, age, window);
- detect: the time the rule's query needs to see it, by the record's `onset`: the threshold for
  silence and age, the window for window, 0 otherwise (roles/grafana/files/alert_rules.yml explains
  each kind);
- evaluation: the group's interval (the condition may turn true just after an evaluation);
- pending: the rule's `for`, rounded up to whole intervals;
- wait: the route's group_wait when it groups by every label ('...'), else the longer of group_wait and
  group_interval (a new instance in an existing group waits for the group's next flush).

A duration rule (the plan's "disconnected for more than 5 minutes", the stale-data limits) is counted
from the moment its duration is reached, every other rule from the moment the fault begins. Critical
rules must notify within 60 s (the plan's SC-003), warnings within 5 minutes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from tests.grafana.grafana_models import duration_seconds
from tests.support.paths import REPO

BUDGETS = {"critical": 60.0, "warning": 300.0}
ONSETS = ("silence", "age", "duration", "report", "window", "error")
REPORTED = ("report", "age", "window")
HOOK_TABLES = ("daemon_metrics", "exchange_status", "pipeline_metrics")
INSTANT_SOURCES = ("wal_tables", "long_sequence")
APPLY_SECONDS = 1.0  # a WAL commit becoming visible; measured far below (bench: event -> visible p99)
_FROM = re.compile(r"\bFROM\s+([a-z_]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Delivery:
    """The collector's intervals that delay a report on its way into QuestDB."""

    hook: float
    poll: float
    flush: float
    self_metrics: float

    @classmethod
    def from_collector_defaults(cls) -> Delivery:
        defaults = yaml.safe_load((REPO / "roles" / "collector" / "defaults" / "main.yml").read_text())
        return cls(
            hook=float(defaults["collector_hook_interval_seconds"]),
            poll=float(defaults["collector_poll_interval_seconds"]),
            flush=float(defaults["collector_flush_interval_seconds"]),
            self_metrics=float(defaults["collector_self_metrics_interval_seconds"]),
        )

    def seconds(self, sql: str) -> float:
        """How late the newest row of the table the query reads first can be."""
        match = _FROM.search(sql)
        source = match.group(1).lower() if match else ""
        if source in INSTANT_SOURCES:
            return 0.0
        if source in HOOK_TABLES:
            return self.hook + self.poll + self.flush + APPLY_SECONDS
        if source == "collector_metrics":
            return self.self_metrics + self.flush + APPLY_SECONDS
        raise ValueError(f"no delivery path known for the table {source!r} of the query {sql[:60]!r}")


@dataclass(frozen=True)
class Route:
    group_wait: float
    group_interval: float
    per_instance: bool

    @property
    def wait(self) -> float:
        return self.group_wait if self.per_instance else max(self.group_wait, self.group_interval)

    @classmethod
    def of(cls, timings: Mapping[str, Any], group_by: Sequence[str]) -> Route:
        return cls(
            duration_seconds(str(timings["group_wait"])),
            duration_seconds(str(timings["group_interval"])),
            "..." in timings.get("group_by", group_by),
        )


@dataclass(frozen=True)
class NotifyTime:
    rule: str
    severity: str
    counted_from: str
    report: float
    detect: float
    evaluation: float
    pending: float
    wait: float

    @property
    def total(self) -> float:
        return self.report + self.detect + self.evaluation + self.pending + self.wait

    @property
    def budget(self) -> float | None:
        return BUDGETS.get(self.severity)

    def parts(self) -> str:
        names = ("report", "detect", "evaluation", "pending", "wait")
        return " + ".join(f"{name} {_s(getattr(self, name))}" for name in names if getattr(self, name))


def _s(seconds: float) -> str:
    return f"{seconds:g} s"


def notify_time(
    record: Mapping[str, Any],
    *,
    severity: str,
    threshold: float,
    window: float,
    pending: float,
    interval: float,
    route: Route,
    delivery: Delivery,
) -> NotifyTime:
    """The worst time to notify of one rule (the module's description says how)."""
    onset = record["onset"]
    if onset not in ONSETS:
        raise ValueError(f"alert rule {record['id']}: onset {onset!r} is not one of {', '.join(ONSETS)}")
    detect = {"silence": threshold, "age": threshold, "window": window}.get(onset, 0.0)
    return NotifyTime(
        rule=record["id"],
        severity=severity,
        counted_from="the duration reached" if onset == "duration" else "the fault",
        report=delivery.seconds(record["sql"]) if onset in REPORTED else 0.0,
        detect=float(detect),
        evaluation=interval,
        pending=math.ceil(pending / interval) * interval if pending else 0.0,
        wait=route.wait,
    )


def from_defaults(records: Sequence[Mapping[str, Any]]) -> list[NotifyTime]:
    """Every rule with the grafana role's defaults (the README's figures)."""
    defaults = yaml.safe_load((REPO / "roles" / "grafana" / "defaults" / "main.yml").read_text())
    intervals = {
        "fast": duration_seconds(defaults["grafana_alert_interval_fast"]),
        "normal": duration_seconds(defaults["grafana_alert_interval"]),
    }
    timings = defaults["grafana_alert_timings"]
    delivery = Delivery.from_collector_defaults()
    return [
        notify_time(
            record,
            severity=record["severity"],
            threshold=float(record["threshold"]),
            window=float(record["window"]),
            pending=duration_seconds(str(record["for"])),
            interval=intervals[record["group"]],
            route=Route.of(timings[record["severity"]], defaults["grafana_alert_group_by"]),
            delivery=delivery,
        )
        for record in records
    ]


def _route(policy: Mapping[str, Any], severity: str) -> Route:
    """The timings that apply to an alert of `severity`: the slowest of its routes, else the root's."""
    matching = [
        route
        for route in policy.get("routes", [])
        if ["severity", "=", severity] in [list(m) for m in route.get("object_matchers", [])]
    ]
    group_by = policy.get("group_by", [])
    routes = [Route.of({**policy, **route}, route.get("group_by", group_by)) for route in matching]
    return max(routes or [Route.of(policy, group_by)], key=lambda r: r.wait)


def from_provisioning(
    alerting: Mapping[str, Any], records: Sequence[Mapping[str, Any]], env: str
) -> list[NotifyTime]:
    """Every rule as an environment's rendered alerting file provisions it."""
    by_id = {record["id"]: record for record in records}
    (policy,) = alerting["policies"]
    delivery = Delivery.from_collector_defaults()
    out = []
    for group in alerting["groups"]:
        for rule in group["rules"]:
            rule_id = rule["uid"].removeprefix(f"tw-{env}-")
            condition = next(d for d in rule["data"] if d["refId"] == rule["condition"])
            severity = rule["labels"]["severity"]
            out.append(
                notify_time(
                    by_id[rule_id],
                    severity=severity,
                    threshold=float(condition["model"]["conditions"][0]["evaluator"]["params"][0]),
                    window=float(rule["data"][0]["relativeTimeRange"]["from"]),
                    pending=duration_seconds(rule["for"]),
                    interval=duration_seconds(group["interval"]),
                    route=_route(policy, severity),
                    delivery=delivery,
                )
            )
    return out
