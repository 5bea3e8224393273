"""Secrets reach only the files meant for them, with restrictive modes, and never Ansible's output.

- A check-mode run of site.yml against the controller at -v with --diff, with distinctive secrets,
  goes through every task that writes a secret (QuestDB's server.conf, grafana.ini and its
  provisioning, the backup configuration) and prints none of them.
- The roles' task files: every template that can receive a secret (found by following the template's
  variables through the role's vars) is written by a task with mode 0600/0640, owner root, the group
  root or the service's, and no_log; every other task that handles a secret hides it too.
- The secret-bearing templates rendered with distinctive secrets hold exactly the secrets that the
  analysis above predicts (and the collector's configuration file none).
The files on a converged instance are checked in molecule/default/tests/test_security.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.security.plays import (
    SECRETS,
    env_vars,
    grafana_vars,
    questdb_vars,
    render_role_templates,
    run_playbook,
)
from tests.support.paths import REPO

ROLES = ["questdb", "grafana", "collector", "backup"]
SECRET_VARS = set(SECRETS)
# The templates that receive secrets, and the group (besides root) that may read them.
SECRET_TEMPLATES = {
    ("questdb", "server.conf.j2"): "{{ questdb_group }}",
    ("collector", "credentials.env.j2"): None,
    ("backup", "backup.conf.j2"): None,
    ("grafana", "grafana.ini.j2"): "{{ grafana_group }}",
    ("grafana", "provisioning/datasources.yml.j2"): "{{ grafana_group }}",
    ("grafana", "provisioning/alerting.yml.j2"): "{{ grafana_group }}",
}
MODULE_PREFIX = "ansible.builtin."
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ---- Static analysis of the roles ---------------------------------------------------------------
def role_variables(role: str) -> dict[str, str]:
    """Every variable of the role's defaults and vars, as the YAML text of its value."""
    found: dict[str, str] = {}
    for part in ("defaults", "vars"):
        data = yaml.safe_load((REPO / "roles" / role / part / "main.yml").read_text()) or {}
        found |= {name: yaml.safe_dump(value) for name, value in data.items()}
    return found


def secret_carriers(role: str) -> set[str]:
    """Secret variables and every role variable whose value refers to one (transitively)."""
    variables = role_variables(role)
    carriers = set(SECRET_VARS)
    while True:
        more = {name for name, text in variables.items() if set(NAME.findall(text)) & carriers} - carriers
        if not more:
            return carriers
        carriers |= more


def tasks_of(role: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file, task) for every task of the role's task and handler files, blocks unrolled."""

    def walk(items: list[dict[str, Any]], origin: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for task in items or []:
            for key in ("block", "rescue", "always"):
                if key in task:
                    yield from walk(task[key], origin)
            if not {"block", "rescue", "always"} & set(task):
                yield origin, task

    for folder in ("tasks", "handlers"):
        for path in sorted((REPO / "roles" / role / folder).glob("*.yml")):
            yield from walk(yaml.safe_load(path.read_text()), f"{role}/{folder}/{path.name}")


def module_of(task: dict[str, Any]) -> str:
    keywords = {
        "name", "when", "loop", "loop_control", "register", "notify", "tags", "vars", "no_log", "diff",
        "become", "become_user", "delegate_to", "delegate_facts", "run_once", "check_mode", "changed_when",
        "failed_when", "until", "retries", "delay", "ignore_errors", "ignore_unreachable", "listen",
        "environment", "args", "async", "poll", "throttle", "timeout", "any_errors_fatal", "module_defaults",
        "with_items", "with_dict", "with_fileglob", "with_first_found", "with_together", "with_nested",
    }  # fmt: skip
    modules = [key for key in task if key not in keywords]
    assert len(modules) == 1, f"cannot tell the module of {task.get('name')}: {modules}"
    return modules[0].removeprefix(MODULE_PREFIX)


def mentions(text: str, names: set[str]) -> set[str]:
    return set(NAME.findall(text)) & names


def template_tasks(role: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for origin, task in tasks_of(role):
        if module_of(task) == "template":
            found.append((origin, task, task[f"{MODULE_PREFIX}template"]))
    return found


def secret_templates() -> set[tuple[str, str]]:
    """The templates whose text refers to a secret, directly or through the role's variables."""
    found = set()
    for role in ROLES:
        carriers = secret_carriers(role)
        for path in (REPO / "roles" / role / "templates").rglob("*.j2"):
            if mentions(path.read_text(), carriers):
                found.add((role, str(path.relative_to(REPO / "roles" / role / "templates"))))
    return found


def test_the_secret_bearing_templates_are_the_known_ones() -> None:
    """A new template that receives a secret must be added to SECRET_TEMPLATES (and so to the checks
    below and to molecule/default/tests/test_security.py)."""
    assert secret_templates() == set(SECRET_TEMPLATES)


@pytest.mark.parametrize(("role", "template"), list(SECRET_TEMPLATES), ids="/".join)
def test_secret_files_are_written_restrictively(role: str, template: str) -> None:
    writers = [(o, t, a) for o, t, a in template_tasks(role) if a["src"] == template]
    assert writers, f"no task of roles/{role} writes {template}"
    group = SECRET_TEMPLATES[(role, template)]
    for origin, task, args in writers:
        where = f"{origin}: {task['name']}"
        assert args.get("owner") == "root", where
        if group is None:
            assert (args.get("group"), str(args.get("mode"))) == ("root", "0600"), where
        else:
            assert (args.get("group"), str(args.get("mode"))) == (group, "0640"), where
        assert re.fullmatch(r"\{\{ \w+_no_log( \| bool)? \}\}|True", str(task.get("no_log"))), where


def test_no_log_defaults_to_true() -> None:
    for role in ROLES:
        defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
        assert defaults[f"{role}_no_log"] is True, role


@pytest.mark.parametrize("role", ROLES)
def test_every_task_handling_a_secret_hides_it(role: str) -> None:
    """Any task whose arguments carry a secret (not its name) has no_log, except assertions, which
    print their expression and message, never the values (the preflight tests read that output)."""
    carriers = secret_carriers(role)
    exposed = []
    for origin, task in tasks_of(role):
        arguments = {k: v for k, v in task.items() if k not in ("name", "no_log")}
        if not mentions(json.dumps(arguments), carriers) or module_of(task) == "assert":
            continue
        if not str(task.get("no_log", "")).strip() or task.get("no_log") is False:
            exposed.append(f"{origin}: {task['name']}")
    assert exposed == []


# ---- The templates, rendered --------------------------------------------------------------------
RENDERED = {
    "server.conf": "questdb/templates/server.conf.j2",
    "credentials.env": "collector/templates/credentials.env.j2",
    "collector.yml": "collector/templates/collector.yml.j2",
    "backup.conf": "backup/templates/backup.conf.j2",
}
HOLDS = {
    "server.conf": {"questdb_http_password", "questdb_pg_password", "questdb_pg_readonly_password"},
    "credentials.env": {"collector_questdb_password"},
    "collector.yml": set(),
    "backup.conf": {"backup_questdb_http_password"},
}


def test_rendered_templates_hold_exactly_their_secrets(tmp_path: Path) -> None:
    # Each secret distinct here, so a file's content tells which variable reached it.
    secrets = {
        name: f"tw-render-{name}-9e1" for name in HOLDS["server.conf"] | {"collector_questdb_password"}
    }
    secrets["backup_questdb_http_password"] = "tw-render-backup-77c"
    variables = {**secrets, "backup_questdb_enabled": True}
    out, output = render_role_templates(tmp_path, RENDERED, ("questdb", "collector", "backup"), variables)
    assert not [name for name, value in secrets.items() if value in output]
    for name, expected in HOLDS.items():
        text = (out / name).read_text()
        assert {var for var, value in secrets.items() if value in text} == expected, name
    assert "tw-render-collector_questdb_password-9e1" not in (out / "collector.yml").read_text()


# ---- Ansible's output ---------------------------------------------------------------------------
SECRET_WRITERS = [
    "questdb : Write server.conf",
    "grafana : Write grafana.ini",
    "grafana : Provision the QuestDB datasource",
    "grafana : Provision alerting (rules, contact points, template, policies, mute timings)",
    "backup : Write the configuration (holds the QuestDB password)",
    "backup : Write the repository password",
]


def test_site_check_run_prints_no_secret(tmp_path: Path) -> None:
    """site.yml in check mode at -v with --diff on one host of the questdb and grafana groups (the
    collector's secrets: tests/security/test_preflight.py and test_collector_logs.py; its install
    needs a real host)."""
    variables = {
        **SECRETS,
        **grafana_vars("dev", {}),
        **questdb_vars(tmp_path, "dev"),
        **env_vars("backup", "dev"),
        "grafana_package_source": "none",
        "grafana_questdb_plugin_source": "none",
        "grafana_create_account": True,
        "grafana_telegram_enabled": True,
        "grafana_telegram_chat_id": "-1001",
        "grafana_discord_enabled": True,
        "grafana_email_enabled": True,
        "grafana_email_addresses": ["oncall@example.invalid"],
        "grafana_smtp_enabled": True,
        "grafana_smtp_host": "smtp.example.invalid:587",
        "grafana_smtp_from_address": "grafana@example.invalid",
        **{k: SECRETS[k] for k in SECRETS if k.startswith("grafana_")},
    }
    hosts = {"probe": ["questdb", "grafana"]}
    run = run_playbook(tmp_path, REPO / "site.yml", hosts, variables, diff=True, verbosity=1, systemd=True)
    assert run.returncode == 0, run.output[-5000:]
    missing = [task for task in SECRET_WRITERS if not run.ran(task)]
    assert missing == [], f"the run did not reach {missing}"
    assert run.leaked() == [], f"secrets in the output: {run.leaked()}"
