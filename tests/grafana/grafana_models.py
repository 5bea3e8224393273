"""Schema helpers: Grafana's own JSON schemas (grafana-foundation-sdk) and ours, and the mapping of the
alerting provisioning file onto the API objects that Grafana's alerting schema describes.

The foundation SDK's alerting schema models the provisioning *API* objects (Rule with orgID, folderUID,
ruleGroup; EmbeddedContactPoint; Route; MuteTiming with alertmanager's parsed ranges). Grafana maps the
file format onto those objects when it reads a file; `*_to_api` below does the same, following
pkg/services/provisioning/alerting (AlertRuleV1.mapToModel, ReceiverV1.mapToModel,
NotificiationPolicyV1.mapToModel, TemplateV1, MuteTimeV1) and alertmanager's timeinterval parsing.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

OURS = Path(__file__).resolve().parent / "schemas"
SDK = OURS / "grafana-foundation-sdk"  # vendored, unchanged (see its SOURCE.md)

PANEL_SCHEMAS = {
    "timeseries": "timeseries",
    "stat": "stat",
    "table": "table",
    "state-timeline": "statetimeline",
    "bargauge": "bargauge",
    "text": "text",
}


@cache
def sdk(name: str) -> dict[str, Any]:
    return dict(json.loads((SDK / f"{name}.jsonschema.json").read_text()))


@cache
def ours(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((OURS / f"{name}.schema.yml").read_text()))


def errors(schema: dict[str, Any], instance: Any, definition: str | None = None) -> list[str]:
    """All validation errors of `instance` against `schema` (or one of its definitions)."""
    if definition is not None:
        schema = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


# --- alerting file -> API objects --------------------------------------------------------------------

_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")


def duration_seconds(text: str) -> float:
    """Prometheus model.ParseDuration (what Grafana uses for for/interval/keepFiringFor)."""
    match = _DURATION.match(text)
    if not text or match is None or text == "":
        raise ValueError(f"not a duration: {text!r}")
    units = (31536000, 604800, 86400, 3600, 60, 1, 0.001)
    return sum(int(match.group(2 * i + 2) or 0) * unit for i, unit in enumerate(units))


def folder_uid(title: str) -> str:
    """Stand-in for the uid Grafana resolves the folder title to (the file only names the title)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def rule_to_api(group: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    duration_seconds(group["interval"])
    api: dict[str, Any] = {
        "orgID": max(int(group.get("orgId", 1)), 1),
        "folderUID": folder_uid(group["folder"]),
        "ruleGroup": group["name"],
        "uid": rule["uid"],
        "title": rule["title"],
        "condition": rule["condition"],
        "data": [dict(q) for q in rule["data"]],
        "noDataState": rule.get("noDataState") or "NoData",
        "execErrState": rule.get("execErrState") or "Alerting",
        "for": rule.get("for") or "0s",
        "annotations": dict(rule.get("annotations", {})),
        "labels": dict(rule.get("labels", {})),
        "isPaused": bool(rule.get("isPaused", False)),
    }
    duration_seconds(api["for"])
    if "keepFiringFor" in rule:
        api["keepFiringFor"] = int(duration_seconds(rule["keepFiringFor"]) * 1e9)
    if "notification_settings" in rule:
        api["notification_settings"] = dict(rule["notification_settings"])
    return api


def contact_points_to_api(contact_point: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "uid": receiver["uid"],
            "name": contact_point["name"],
            "type": receiver["type"],
            "settings": receiver["settings"],
            "disableResolveMessage": bool(receiver.get("disableResolveMessage", False)),
        }
        for receiver in contact_point["receivers"]
    ]


def policy_to_api(policy: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in policy.items() if k != "orgId"}


def template_to_api(template: dict[str, Any]) -> dict[str, Any]:
    return {"name": template["name"], "template": template["template"]}


_WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]  # fmt: skip


def _range(text: str, names: list[str] | None, first: int) -> dict[str, int]:
    """alertmanager timeinterval: 'a' or 'a:b' with names or numbers into an inclusive {begin, end}."""

    def value(part: str) -> int:
        part = part.strip().lower()
        if names is not None and part in names:
            return names.index(part) + first
        return int(part)

    begin, _, end = text.partition(":")
    low, high = value(begin), value(end or begin)
    if names is not None and low > high:
        raise ValueError(f"start day cannot be before end day: {text!r}")
    return {"begin": low, "end": high}


def mute_time_to_api(mute_time: dict[str, Any]) -> dict[str, Any]:
    intervals = []
    for interval in mute_time["time_intervals"]:
        if "times" in interval:
            raise ValueError(
                "times (alertmanager TimeRange, start_time/end_time) has no faithful form in the SDK's "
                "MuteTiming schema; use weekdays, days_of_month, months, years and location"
            )
        api: dict[str, Any] = {}
        for key, names, first in (("weekdays", _WEEKDAYS, 0), ("months", _MONTHS, 1)):
            if key in interval:
                api[key] = [_range(v, names, first) for v in interval[key]]
        for key in ("days_of_month", "years"):
            if key in interval:
                api[key] = [_range(v, None, 0) for v in interval[key]]
        if "location" in interval:
            api["location"] = interval["location"]
        intervals.append(api)
    return {"name": mute_time["name"], "time_intervals": intervals}
