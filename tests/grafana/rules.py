"""The alert rules as the grafana role declares them (roles/grafana/files/alert_rules.yml, one record
each), and the README's table of them, derived from those records.

``python -m tests.grafana.rules`` rewrites that table in roles/grafana/README.md (between the
``alert-rules`` markers); tests/grafana/test_provisioning_schemas.py fails, naming this command, when
the README is behind the records.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from tests.grafana import notify
from tests.support.paths import REPO

RECORDS = REPO / "roles" / "grafana" / "files" / "alert_rules.yml"
README = REPO / "roles" / "grafana" / "README.md"
BEGIN, END = "<!-- alert-rules:begin -->", "<!-- alert-rules:end -->"


def declared_rules() -> list[dict[str, Any]]:
    return list(yaml.safe_load(RECORDS.read_text()))


def rule_ids() -> tuple[str, ...]:
    return tuple(rule["id"] for rule in declared_rules())


def readme_table() -> str:
    records = declared_rules()
    times = {t.rule: t for t in notify.from_defaults(records)}
    rows = [
        "| rule | severity | fires when (default threshold) | for | window | evaluated "
        "| notified within (worst case) |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule in records:
        limits = rule.get("limits")
        extra = f"; limits {', '.join(f'{k} {v} s' for k, v in limits.items())}" if limits else ""
        group = (
            "every `grafana_alert_interval_fast`"
            if rule["group"] == "fast"
            else "every `grafana_alert_interval`"
        )
        fires = rule["unit"] if rule["onset"] == "error" else f"{rule['unit']} > {rule['threshold']}{extra}"
        time = times[rule["id"]]
        rows.append(
            f"| `{rule['id']}` ({rule['title']}) | {rule['severity']} | {fires} | {rule['for']} "
            f"| {rule['window']} s | {group} "
            f"| **{time.total:g} s** from {time.counted_from}: {time.parts()} |"
        )
    return "\n".join(rows)


def readme_with_table(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{readme_table()}\n{END}{tail}"


if __name__ == "__main__":
    README.write_text(readme_with_table(README.read_text()))
    sys.stdout.write(f"wrote the alert rules table of {README.relative_to(REPO)}\n")
