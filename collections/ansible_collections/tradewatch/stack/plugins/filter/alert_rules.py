# Copyright: tradewatch contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alert rules of one environment, from their records and the environment's overrides.

``declared | tradewatch.stack.alert_rules(overrides, env)`` takes the records of the grafana role's
``files/alert_rules.yml`` (one per rule: id, query, threshold, texts, runbook), applies
``grafana_alert_rule_overrides`` (per rule id: threshold, limits, window, for, severity, paused),
renders each rule's ``sql`` with ``env``, ``threshold``, ``limits`` and ``window`` (a sandboxed Jinja
environment: nothing else is reachable), and numbers the runbook panels in the records' order. An
unknown rule id or key is an error naming ``grafana_alert_rule_overrides.<id>.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # outside Ansible (tests)
    AnsibleFilterError = ValueError

OVERRIDABLE = ("threshold", "limits", "window", "for", "severity", "paused")
SEVERITIES = ("critical", "warning", "info")
_SQL = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def _check(declared: Sequence[Mapping[str, Any]], overrides: Mapping[str, Any]) -> None:
    ids = [rule["id"] for rule in declared]
    for rule_id, override in overrides.items():
        where = f"grafana_alert_rule_overrides.{rule_id}"
        if rule_id not in ids:
            raise AnsibleFilterError(f"{where}: no such alert rule; the rules are {', '.join(ids)}")
        if not isinstance(override, Mapping):
            raise AnsibleFilterError(f"{where} must be a mapping of {', '.join(OVERRIDABLE)}")
        for key, value in override.items():
            if key not in OVERRIDABLE:
                raise AnsibleFilterError(f"{where}.{key}: not overridable; use {', '.join(OVERRIDABLE)}")
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if key in ("threshold", "window") and not number:
                raise AnsibleFilterError(f"{where}.{key} must be a number, not {value!r}")
            if key == "severity" and value not in SEVERITIES:
                raise AnsibleFilterError(f"{where}.severity must be one of {', '.join(SEVERITIES)}")
            if key == "limits" and not (
                isinstance(value, Mapping) and all(isinstance(v, int | float) for v in value.values())
            ):
                raise AnsibleFilterError(f"{where}.limits must map names to numbers")


def alert_rules(
    declared: Sequence[Mapping[str, Any]], overrides: Mapping[str, Any] | None, env: str
) -> list[dict[str, Any]]:
    """The effective rules of ``env`` (see the module's description)."""
    overrides = overrides or {}
    _check(declared, overrides)
    rules = []
    for index, record in enumerate(declared, start=1):
        rule = {**record, **overrides.get(record["id"], {}), "runbook_panel": index}
        context = {
            "env": env,
            "threshold": rule["threshold"],
            "limits": rule.get("limits", {}),
            "window": rule["window"],
        }
        rule["sql"] = _SQL.from_string(str(record["sql"])).render(context)
        rules.append(rule)
    return rules


class FilterModule:
    """tradewatch.stack alert rule filters."""

    def filters(self) -> dict[str, object]:
        return {"alert_rules": alert_rules}
