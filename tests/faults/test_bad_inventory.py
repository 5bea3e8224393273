"""Bad inventory values - wrong types, malformed environment names, missing secrets - make the role fail
before it changes anything on the host, in a check that names the variable; no secret reaches the output.

One check-mode run per role against the controller (local connection) with one inventory host per
case (tests/security/plays.py run_hosts): every host gets the same valid settings plus one bad value of
its own, control hosts none. Each bad host must fail exactly once, in the role's argument validation or
a task of its preflight.yml, with the variable in the failed check's own text, nothing run after it and
nothing changed; the control hosts must pass every check that failed (check_refusals).
A "missing" secret is the null that an empty key in a vault file (`questdb_pg_password:`) gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.grafana.render import example_vars, scratch_settings
from tests.security.plays import (
    CONTROLS,
    SECRETS,
    Refusal,
    check_refusals,
    env_vars,
    questdb_vars,
    run_hosts,
)

# Distinctive values of the bad secrets: none may be printed either.
BAD_SECRET_VALUES = ["tw-badinv-list-1", "tw-badinv-list-2", "tw-badinv-dict-3"]
SECRET_VALUES = {**SECRETS, **{f"bad secret {value}": value for value in BAD_SECRET_VALUES}}


def bad(name: str, value: Any, variable: str = "") -> Refusal:
    """`name` set to `value`; the failure must name `variable` (default: `name`)."""
    return Refusal({name: value}, (variable or name,))


QUESTDB: dict[str, Refusal] = {
    "malformed-env": bad("questdb_env", "Production"),
    "env-a-list": bad("questdb_env", ["prod"]),
    "port-not-a-number": bad("questdb_http_port", "http"),
    "port-out-of-range": bad("questdb_pg_port", 70000),
    "version-a-number": bad("questdb_version", 9.3),
    "heap-opts-a-string": bad("questdb_jvm_heap_opts", "-Xmx1g"),
    "bind-a-hostname": bad("questdb_pg_bind_address", "localhost"),
    "conf-extra-a-list": bad("questdb_server_conf_extra", ["http.enabled=false"]),
    "ttl-without-unit": bad("questdb_table_ttl", {"daemon_metrics": 90}),
    "missing-http-password": bad("questdb_http_password", None),
    "missing-readonly-password": bad("questdb_pg_readonly_password", None),
    "password-a-list": bad("questdb_pg_password", BAD_SECRET_VALUES[:2]),
}
COLLECTOR: dict[str, Refusal] = {
    "malformed-env": bad("collector_env", "qa env"),
    "batch-size-not-a-number": bad("collector_batch_size", "many"),
    "port-out-of-range": bad("collector_questdb_port", 70000),
    "unknown-spool-policy": bad("collector_spool_when_full", "block"),
    "no-source": bad("collector_sources", []),
    "source-without-type": bad("collector_sources", [{"name": "daemon"}]),
    "missing-password": bad("collector_questdb_password", None),
    "password-a-dict": bad("collector_questdb_password", {"v": BAD_SECRET_VALUES[2]}),
}
BACKUP: dict[str, Refusal] = {
    "keep-not-a-number": bad("backup_keep_daily", "seven"),
    "relative-state-dir": bad("backup_state_dir", "state"),
    "relative-local-repository": bad("backup_repository", "backups"),
    "subset-not-a-share": bad("backup_check_read_data_subset", "a tenth", "backup_check_read_data_subset"),
    "bad-calendar": bad("backup_check_on_calendar", "every full moon"),
    "missing-repository-password": bad("backup_repository_password", None),
    "missing-password": bad("backup_questdb_http_password", None),
    "missing-questdb-password": bad("questdb_http_password", None, "backup_questdb_http_password"),
    "password-a-list": bad("backup_questdb_http_password", BAD_SECRET_VALUES[:2]),
}
GRAFANA: dict[str, Refusal] = {
    "malformed-env": bad("grafana_env", "uat_1"),
    "version-a-number": bad("grafana_version", 12),
    "missing-admin-password": bad("grafana_admin_password", None),
    "admin-password-a-list": bad("grafana_admin_password", BAD_SECRET_VALUES[:2]),
    "prod-missing-secret-key": Refusal(
        {**env_vars("grafana", "prod"), "grafana_secret_key": None}, ("grafana_secret_key",)
    ),
    "missing-datasource-password": bad("grafana_questdb_pg_password", None),
    "unknown-tls-mode": bad("grafana_questdb_tls_mode", "yes"),
    "overrides-a-list": bad("grafana_alert_rule_overrides", ["pipeline-gap"]),
    "raw-ttl-without-unit": bad(
        "grafana_dashboards_raw_ttl", {"pipeline_metrics": 2, "exchange_status": "7d", "daemon_metrics": "7d"}
    ),
    "raw-ttl-missing-table": bad("grafana_dashboards_raw_ttl", {"pipeline_metrics": "2d"}),
    "raw-ttl-beyond-rollups": Refusal(
        {
            "grafana_dashboards_rollup_ttl": "30d",
            "grafana_dashboards_raw_ttl": {
                "pipeline_metrics": "2d",
                "exchange_status": "7d",
                "daemon_metrics": "6w",
            },
        },
        ("grafana_dashboards_raw_ttl",),
    ),
    "min-interval-splits-minutes": bad("grafana_datasource_min_interval", "90s"),
}


@pytest.mark.fault
@pytest.mark.timeout(600)
def test_questdb_refuses_bad_inventory_values(tmp_path: Path) -> None:
    run = run_hosts(tmp_path, "questdb.yml", "questdb", questdb_vars(tmp_path, "dev"), QUESTDB)
    check_refusals(run, "questdb", QUESTDB, SECRET_VALUES)


@pytest.mark.fault
@pytest.mark.timeout(600)
def test_collector_refuses_bad_inventory_values(tmp_path: Path) -> None:
    settings = {
        **SECRETS,
        "collector_env": "dev",
        "collector_sources": [{"type": "simulate", "name": "daemon", "seed": 1}],
    }
    run = run_hosts(tmp_path, "collector.yml", "collectors", settings, COLLECTOR)
    check_refusals(run, "collector", COLLECTOR, SECRET_VALUES)


@pytest.mark.fault
@pytest.mark.timeout(600)
def test_backup_refuses_bad_inventory_values(tmp_path: Path) -> None:
    # backup_questdb_http_password unset: it defaults to questdb_http_password.
    settings = {k: v for k, v in SECRETS.items() if k != "backup_questdb_http_password"}
    settings |= env_vars("backup", "dev")  # dev: a local repository is accepted
    run = run_hosts(tmp_path, "backup.yml", "questdb", settings, BACKUP, tags="backup_timers")
    # Ansible prints the argument spec with its defaults rendered whenever the argument validation
    # fails (here: backup_keep_daily 'seven'): a templated secret default there would leak.
    check_refusals(run, "backup", BACKUP, SECRET_VALUES)


@pytest.mark.fault
@pytest.mark.timeout(600)
def test_grafana_refuses_bad_inventory_values(tmp_path: Path) -> None:
    root = tmp_path / "root"
    settings = {
        **example_vars("dev"),
        **{k: v for k, v in SECRETS.items() if k.startswith("grafana_")},
        **scratch_settings(root),
    }
    # the strict checks (the vault secrets) need a valid prod host too: the dev example notifies Discord.
    controls = {**CONTROLS, "control-prod": env_vars("grafana", "prod")}
    run = run_hosts(tmp_path, "grafana.yml", "grafana", settings, GRAFANA, controls, tags="grafana_run")
    check_refusals(run, "grafana", GRAFANA, SECRET_VALUES)
    assert not root.exists() or not any(root.iterdir()), "check mode wrote into the scratch root"
