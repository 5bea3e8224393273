"""No default credential survives a deploy: every role refuses it in every environment, in its
preflight, naming the variable, before anything changes; and site.yml refuses before any role changes
a host.

The roles run in check mode against the controller (local connection), one run per role with one
inventory host per refused case and control hosts with valid settings (tests/security/plays.py
run_hosts and check_refusals); the grafana role writes into a scratch root, which must stay empty.
Refused values: empty, the product's default ('quest' for QuestDB, 'admin' and the built-in
secret_key for Grafana) and the placeholder of the inventories' vault.yml.example. The other secrets
are distinctive values (tests/security/plays.py SECRETS) that must not appear in the output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.grafana.render import scratch_settings
from tests.security.plays import (
    CONTROLS,
    QUESTDB_PASSWORDS,
    SECRETS,
    Refusal,
    assert_refused,
    check_refusals,
    env_vars,
    grafana_vars,
    questdb_vars,
    run_hosts,
    run_playbook,
)
from tests.support.inventories import inventory_relaxed
from tests.support.paths import REPO

# Our inventories' environments and a new one (canary): every environment but those an inventory marks
# relaxed (dev) gets the strict checks.
ENVS = ["prod", "staging", "dev", "canary"]
STRICT = [env for env in ENVS if not inventory_relaxed(env)]
# Grafana's built-in [security] secret_key (conf/defaults.ini), known to everybody.
GRAFANA_DEFAULT_SECRET_KEY = "SW2YcwTIb9zpOOhoPsMm"
DEFAULTS = {"empty": "", "quest": "quest"}
# What every inventories/*/group_vars/all/vault.yml.example holds.
PLACEHOLDER = "CHANGE-ME"


class VaultLoader(yaml.SafeLoader):
    """YAML as Ansible reads a vault file: `!unsafe` marks a plain string that is never templated."""


VaultLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def vault_placeholders() -> set[str]:
    """The values of every inventory's vault.yml.example: what a copied, unedited vault holds."""
    found: set[str] = set()
    for example in sorted((REPO / "inventories").glob("*/group_vars/all/vault.yml.example")):
        found |= {str(value) for value in yaml.load(example.read_text(), Loader=VaultLoader).values()}
    return found


def test_vault_examples_mark_every_secret_unsafe() -> None:
    """So that a real secret holding '{{' is never evaluated by Ansible."""
    for example in sorted((REPO / "inventories").glob("*/group_vars/all/vault.yml.example")):
        values = [line for line in example.read_text().splitlines() if line.startswith("vault_")]
        assert values and all(": !unsafe " in line for line in values), example


def test_vault_examples_hold_one_placeholder() -> None:
    """The refusals below test PLACEHOLDER; a new placeholder must be added to them."""
    assert vault_placeholders() == {PLACEHOLDER}


# ---- questdb, collector, backup: every env x every refused value -------------------------------
BAD_VALUES = {**DEFAULTS, "placeholder": PLACEHOLDER}
QUESTDB_TASK = "Assert credentials are set and not QuestDB's defaults"
COLLECTOR_TASK = "Assert the QuestDB password is set"
BACKUP_TASK = "Assert the QuestDB credentials are set"
# Secrets a file cannot carry: refused naming the variable and the character (the formats:
# tradewatch.stack.secret_refusals; that everything else is carried: test_secret_formats.py).
QUESTDB_FORMAT_TASK = "Assert each secret fits server.conf"
COLLECTOR_FORMAT_TASK = "Assert the QuestDB password fits server.conf and the EnvironmentFile"
BACKUP_FORMAT_TASK = "Assert the QuestDB password fits server.conf and the backup configuration"
LOCAL_REPOSITORY_TASK = "Assert the repository is off the host"
REPOSITORY_PASSWORD_TASK = "Assert the repository password is set, strong and not a placeholder"
EXTERNAL_SERVER_TASK = "Assert the SFTP key and the host keys of a server outside the inventory are set"
GRAFANA_FORMAT_TASK = "Assert each secret fits the files that carry it"
# Nothing crosses a network in clear text in prod and staging (README, TLS).
QUESTDB_TLS_TASK = "Assert other hosts reach QuestDB over TLS only in {{ questdb_env }}"
COLLECTOR_TLS_TASK = "Assert the QuestDB password crosses no network in clear text in {{ collector_env }}"
CONTACT_TASK = "Assert somebody is notified in {{ grafana_env }}"
GRAFANA_TLS_TASK = "Assert Grafana serves HTTPS and reads QuestDB over loopback or TLS in {{ grafana_env }}"


def test_questdb_refuses_every_default_password(tmp_path: Path) -> None:
    """Each of the three passwords refused on its own (a failed loop item each), in each env."""
    cases = {
        f"{env}-{kind}": Refusal(
            {**env_vars("questdb", env), **dict.fromkeys(QUESTDB_PASSWORDS, value)},
            tuple(QUESTDB_PASSWORDS),
            QUESTDB_TASK,
        )
        for env in ENVS
        for kind, value in BAD_VALUES.items()
    }
    formats = {
        "leading-space": Refusal(
            {"questdb_pg_password": " tw-sec-lead"}, ("questdb_pg_password", "U+0020"), QUESTDB_FORMAT_TASK
        ),
        "trailing-space": Refusal(
            {"questdb_http_password": "tw-sec-trail "},
            ("questdb_http_password", "U+0020"),
            QUESTDB_FORMAT_TASK,
        ),
        "line-break": Refusal(
            {"questdb_pg_readonly_password": "tw-sec\nro"},
            ("questdb_pg_readonly_password", "U+000A"),
            QUESTDB_FORMAT_TASK,
        ),
        **{
            f"{env}-clear-to-other-hosts": Refusal(
                {**env_vars("questdb", env), "questdb_pg_bind_address": "0.0.0.0"},
                ("questdb_pg_bind_address", "questdb_tls_enabled"),
                QUESTDB_TLS_TASK,
            )
            for env in STRICT
        },
    }
    controls = {
        **CONTROLS,
        "control-prod": env_vars("questdb", "prod"),  # on loopback: no TLS needed
        "control-dev-clear": {**env_vars("questdb", "dev"), "questdb_pg_bind_address": "0.0.0.0"},  # relaxed
    }
    run = run_hosts(
        tmp_path, "questdb.yml", "questdb", questdb_vars(tmp_path, "dev"), cases | formats, controls
    )
    check_refusals(run, "questdb", cases | formats, SECRETS)
    for case in cases:
        items = {e.result.get("item") for e in run.events[case] if e.status == "failed"}
        assert items == set(QUESTDB_PASSWORDS), f"{case}: refused {items}"


def test_collector_refuses_default_questdb_password(tmp_path: Path) -> None:
    cases = {
        f"{env}-{kind}": Refusal(
            {**env_vars("collector", env), "collector_questdb_password": value},
            ("collector_questdb_password",),
            COLLECTOR_TASK,
        )
        for env in ENVS
        for kind, value in BAD_VALUES.items()
    }
    cases |= {
        f"{env}-clear-to-another-host": Refusal(
            {**env_vars("collector", env), "collector_questdb_host": "questdb-1.example.internal"},
            ("collector_questdb_transport",),
            COLLECTOR_TLS_TASK,
        )
        for env in STRICT
    }
    cases["tab"] = Refusal(
        {"collector_questdb_password": "tw-sec\tx"},
        ("collector_questdb_password", "U+0009"),
        COLLECTOR_FORMAT_TASK,
    )
    settings = {
        **SECRETS,
        "collector_env": "dev",
        "collector_sources": [{"type": "simulate", "name": "daemon", "seed": 1}],
    }
    controls = {**CONTROLS, "control-prod": env_vars("collector", "prod")}  # ships to 127.0.0.1
    run = run_hosts(tmp_path, "collector.yml", "collectors", settings, cases, controls)
    check_refusals(run, "collector", cases, SECRETS)


def test_backup_refuses_default_questdb_password(tmp_path: Path) -> None:
    """The backup program logs in to QuestDB's REST API: a default, empty or placeholder password is
    refused, set on its own or inherited from questdb_http_password (its default)."""
    name = "backup_questdb_http_password"
    cases = {kind: Refusal({name: value}, (name,), BACKUP_TASK) for kind, value in BAD_VALUES.items()}
    cases |= {
        f"inherited-{kind}": Refusal({"questdb_http_password": value}, (name,), BACKUP_TASK)
        for kind, value in BAD_VALUES.items()
    }
    cases["inherited-trailing-space"] = Refusal(
        {"questdb_http_password": "tw-sec-trail "}, (name, "U+0020"), BACKUP_FORMAT_TASK
    )
    settings = {k: v for k, v in SECRETS.items() if k != name}  # the control inherits a good one
    settings |= env_vars("backup", "dev")  # dev: a local repository is accepted
    run = run_hosts(tmp_path, "backup.yml", "questdb", settings, cases, tags="backup_timers")
    check_refusals(run, "backup", cases, SECRETS)


def test_backup_refuses_a_repository_on_the_host_and_a_weak_repository_password(tmp_path: Path) -> None:
    """Backups that stay on the host die with it: every environment but the relaxed ones refuses a local
    repository; the repository's password is refused when missing, short or the placeholder, in every
    environment; a server outside the inventory needs a key and its host keys."""
    name = "backup_repository_password"
    cases = {
        f"{env}-local-repository": Refusal(
            env_vars("backup", env), ("backup_repository",), LOCAL_REPOSITORY_TASK
        )
        for env in STRICT
    }
    cases |= {
        f"repository-password-{kind}": Refusal({name: value}, (name,), REPOSITORY_PASSWORD_TASK)
        for kind, value in {"empty": "", "short": "tw-sec-11ch", "placeholder": PLACEHOLDER}.items()
    }
    cases["repository-password-newline"] = Refusal(
        {name: "tw-sec-Brepo-\nx-long-enough"}, (name, "U+000A"), REPOSITORY_PASSWORD_TASK
    )
    cases["external-server-without-key"] = Refusal(
        {"backup_repository": "sftp:tw@backup.example.internal:/srv/x"},
        ("backup_sftp_private_key", "backup_sftp_known_hosts"),
        EXTERNAL_SERVER_TASK,
    )
    settings = {**SECRETS, **env_vars("backup", "dev")}
    controls = {
        **CONTROLS,
        # a strict environment with its repository on a backup server of the inventory
        "control-prod": {
            **env_vars("backup", "prod"),
            "backup_repository": "sftp:tw@backup-1.example.internal:/repository",
            "backup_sftp_private_key": "\n".join(
                ["-----BEGIN OPENSSH PRIVATE KEY-----", "tw-sec-Bkey", "-----END OPENSSH PRIVATE KEY-----"]
            ),
            "backup_sftp_known_hosts": "backup-1.example.internal ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA",
        },
    }
    run = run_hosts(tmp_path, "backup.yml", "questdb", settings, cases, controls, tags="backup_timers")
    check_refusals(run, "backup", cases, SECRETS)


# ---- grafana ------------------------------------------------------------------------------------
VAULT_TASK = "Assert the admin password and secret key come from the vault in {{ grafana_env }}"
ADMIN_TASK = "Assert an admin password is set"
DATASOURCE_TASK = "Assert the datasource password is not QuestDB's default in {{ grafana_env }}"

# (env, overrides, task, variable).
GRAFANA_REFUSED: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "prod-empty-admin-password": (
        "prod",
        {"grafana_admin_password": ""},
        VAULT_TASK,
        "grafana_admin_password",
    ),
    "staging-empty-admin-password": (
        "staging",
        {"grafana_admin_password": ""},
        VAULT_TASK,
        "grafana_admin_password",
    ),
    "prod-default-admin-password": (
        "prod",
        {"grafana_admin_password": "admin"},
        VAULT_TASK,
        "grafana_admin_password",
    ),
    "staging-default-admin-password": (
        "staging",
        {"grafana_admin_password": "admin"},
        VAULT_TASK,
        "grafana_admin_password",
    ),
    "staging-short-admin-password": (
        "staging",
        {"grafana_admin_password": "tw-11-chars"},
        VAULT_TASK,
        "grafana_admin_password",
    ),
    "prod-placeholder-admin-password": (
        "prod",
        {"grafana_admin_password": PLACEHOLDER},
        VAULT_TASK,
        "grafana_admin_password",
    ),
    "prod-empty-secret-key": ("prod", {"grafana_secret_key": ""}, VAULT_TASK, "grafana_secret_key"),
    "staging-empty-secret-key": ("staging", {"grafana_secret_key": ""}, VAULT_TASK, "grafana_secret_key"),
    "prod-default-secret-key": (
        "prod",
        {"grafana_secret_key": GRAFANA_DEFAULT_SECRET_KEY},
        VAULT_TASK,
        "grafana_secret_key",
    ),
    "staging-default-secret-key": (
        "staging",
        {"grafana_secret_key": GRAFANA_DEFAULT_SECRET_KEY},
        VAULT_TASK,
        "grafana_secret_key",
    ),
    "prod-default-datasource-password": (
        "prod",
        {"grafana_questdb_pg_password": "quest"},
        DATASOURCE_TASK,
        "grafana_questdb_pg_password",
    ),
    "staging-default-datasource-password": (
        "staging",
        {"grafana_questdb_pg_password": "quest"},
        DATASOURCE_TASK,
        "grafana_questdb_pg_password",
    ),
    # A new environment gets the strict checks without being named anywhere.
    "canary-empty-secret-key": ("canary", {"grafana_secret_key": ""}, VAULT_TASK, "grafana_secret_key"),
    "canary-default-admin-password": (
        "canary",
        {"grafana_admin_password": "admin"},
        VAULT_TASK,
        "grafana_admin_password",
    ),
    "canary-no-contact-point": (
        "canary",
        {f"grafana_{kind}_enabled": False for kind in ("telegram", "discord", "email")},
        CONTACT_TASK,
        "grafana_telegram_enabled",
    ),
    "dev-empty-admin-password": ("dev", {"grafana_admin_password": ""}, ADMIN_TASK, "grafana_admin_password"),
    "dev-default-admin-password": (
        "dev",
        {"grafana_admin_password": "admin"},
        ADMIN_TASK,
        "grafana_admin_password",
    ),
    "dev-placeholder-admin-password": (
        "dev",
        {"grafana_admin_password": PLACEHOLDER},
        ADMIN_TASK,
        "grafana_admin_password",
    ),
    "dev-default-datasource-password": (
        "dev",
        {"grafana_questdb_pg_password": "quest"},
        DATASOURCE_TASK,
        "grafana_questdb_pg_password",
    ),
}


def test_grafana_refuses_default_credentials(tmp_path: Path) -> None:
    root = tmp_path / "root"
    cases = {
        case: Refusal({**env_vars("grafana", env), **overrides}, (variable,), task)
        for case, (env, overrides, task, variable) in GRAFANA_REFUSED.items()
    }
    # grafana.ini expands ${VAR} and $__file{...} with no escape; server.conf trims the read-only password.
    cases["ini-expansion"] = Refusal(
        {"grafana_admin_password": "tw-sec-${HOME}-admin"},
        ("grafana_admin_password", "'$'"),
        GRAFANA_FORMAT_TASK,
    )
    cases["ini-file-expansion"] = Refusal(
        {"grafana_secret_key": "tw-sec-$__file{/etc/shadow}"},
        ("grafana_secret_key", "'$'"),
        GRAFANA_FORMAT_TASK,
    )
    cases["prod-over-plain-http"] = Refusal(
        {"grafana_tls_enabled": False, "grafana_root_url": "http://grafana:3000/"},
        ("grafana_tls_enabled",),
        GRAFANA_TLS_TASK,
    )
    cases["staging-remote-pg-in-clear"] = Refusal(
        {**env_vars("grafana", "staging"), "grafana_questdb_host": "questdb-1.example.internal"},
        ("grafana_questdb_tls_mode", "grafana_questdb_host"),
        GRAFANA_TLS_TASK,
    )
    cases["datasource-leading-space"] = Refusal(
        {"grafana_questdb_pg_password": " tw-sec-ro"},
        ("grafana_questdb_pg_password", "U+0020"),
        GRAFANA_FORMAT_TASK,
    )
    settings = {**grafana_vars("prod", {}), **scratch_settings(root)}
    controls = {
        **CONTROLS,
        "control-staging": env_vars("grafana", "staging"),
        "control-dev": env_vars("grafana", "dev"),
        "control-canary": env_vars("grafana", "canary"),
    }
    run = run_hosts(tmp_path, "grafana.yml", "grafana", settings, cases, controls, tags="grafana_run")
    check_refusals(run, "grafana", cases, SECRETS)
    assert not root.exists() or not any(root.iterdir()), "check mode wrote into the scratch root"


# ---- site.yml -----------------------------------------------------------------------------------
def stack_vars(tmp_path: Path, env: str) -> dict[str, Any]:
    """A whole stack on one host that passes every preflight (Grafana provisioning only, a tiny
    stand-in for the QuestDB artifact)."""
    return {
        **SECRETS,
        **grafana_vars(env, {}),
        **questdb_vars(tmp_path, env),
        **env_vars("collector", env),
        "collector_questdb_host": "127.0.0.1",
        "grafana_package_source": "none",
        "grafana_questdb_plugin_source": "none",
        "grafana_create_account": True,
        "collector_sources": [{"type": "simulate", "name": "daemon", "seed": 1}],
    }


SITE_DEFAULTS = {
    "prod": (
        {"grafana_admin_password": "admin"},
        "grafana",
        VAULT_TASK.replace("{{ grafana_env }}", "{env}"),  # the name as Ansible prints it
        "grafana_admin_password",
    ),
    "staging": (
        {"collector_questdb_password": "quest"},
        "collector",
        "Assert the QuestDB password is set",
        "collector_questdb_password",
    ),
}


@pytest.mark.parametrize("env", SITE_DEFAULTS)
def test_site_refuses_a_default_before_any_role_changes_a_host(tmp_path: Path, env: str) -> None:
    """One default in a later role (Grafana's admin password in prod, the collector's QuestDB password
    in staging) stops the whole deploy before QuestDB, the first role, is installed."""
    overrides, role, task, variable = SITE_DEFAULTS[env]
    variables = {**stack_vars(tmp_path, env), **overrides}
    hosts = {"probe": ["questdb", "grafana", "collectors"]}
    run = run_playbook(tmp_path, REPO / "site.yml", hosts, variables, verbosity=1, systemd=True)
    assert not run.ran("questdb : Ensure the QuestDB group exists"), (
        "QuestDB was installed before the refusal"
    )
    assert_refused(run, task.format(env=env), [variable], role)
