"""The whole stack on one instance: services, listeners, data flow, secrets, unit hardening.

Tests run in file order: the collector's counters are read before a test restarts it, so they cover
the upgrade in side_effect.yml (QuestDB restarted under a live collector).
"""

from __future__ import annotations

from typing import Any

import pytest
from stackinfra import (
    COLLECTOR_TABLES,
    EXPOSURE_LIMITS,
    PREFIX_COLLECTOR,
    Report,
    check_grafana_provisioning,
    collector_metrics,
    listeners,
    metric_sum,
    process_owners,
    restart_and_wait_for_rows,
    secrets_of,
    security_exposure,
    wait_until,
    world_readable_files_containing,
)

# unit: user (Grafana is provisioned only, package source none: no grafana-server unit here)
SERVICES = {"questdb": "questdb", "tradewatch-collector": "tradewatch-collector"}


# ---- Services -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("unit", "user"), SERVICES.items())
def test_service_active_as_its_own_user(host: Any, unit: str, user: str) -> None:
    service = host.service(unit)
    assert service.is_enabled and service.is_running
    account = host.user(user)
    assert account.uid < 1000 and account.shell == "/usr/sbin/nologin", f"{user} must be a system user"
    assert process_owners(host, unit) == {user}


def test_listeners(host: Any, settings: dict[str, Any]) -> None:
    """Exactly the configured sockets, each owned by its service's user; nothing else (no ILP/TCP 9009)."""
    questdb, collector = "questdb", "tradewatch-collector"
    expected = {
        ("tcp", settings["questdb_http_bind_address"], settings["questdb_http_port"], questdb),
        ("tcp", settings["questdb_pg_bind_address"], settings["questdb_pg_port"], questdb),
        ("tcp", settings["questdb_http_min_bind_address"], settings["questdb_http_min_port"], questdb),
        ("tcp", settings["collector_metrics_address"], settings["collector_metrics_port"], collector),
    }
    found = {(s.proto, s.address, s.port, s.user) for s in listeners(host)}
    assert found == expected, f"unexpected: {found - expected}, missing: {expected - found}"
    assert settings["questdb_ilp_tcp_port"] not in {port for _, _, port, _ in found}


# ---- Data flow ----------------------------------------------------------------------------------
def test_collector_metrics_show_no_drops(host: Any, settings: dict[str, Any]) -> None:
    """Rows sent to every table, none dropped, rejected or invalid - across the QuestDB upgrade."""

    def sent_everywhere() -> Any:
        samples = collector_metrics(host, settings)
        sent = {
            t: metric_sum(samples, f"{PREFIX_COLLECTOR}_rows_sent_total", table=t) for t in COLLECTOR_TABLES
        }
        return samples if min(sent.values()) > 0 else None

    samples = wait_until(sent_everywhere, timeout=15) or collector_metrics(host, settings)
    sent = {t: metric_sum(samples, f"{PREFIX_COLLECTOR}_rows_sent_total", table=t) for t in COLLECTOR_TABLES}
    dropped = metric_sum(samples, f"{PREFIX_COLLECTOR}_rows_dropped_total")
    rejected = metric_sum(samples, f"{PREFIX_COLLECTOR}_rows_rejected_total")
    invalid = metric_sum(samples, f"{PREFIX_COLLECTOR}_invalid_samples_total")
    retries = metric_sum(samples, f"{PREFIX_COLLECTOR}_flush_retries_total")
    Report.add(
        f"collector /metrics: rows sent {sent}, dropped {dropped:g}, rejected {rejected:g}, "
        f"invalid {invalid:g}, flush retries {retries:g}"
    )
    assert all(count > 0 for count in sent.values()), sent
    assert (dropped, rejected, invalid) == (0, 0, 0)
    assert metric_sum(samples, f"{PREFIX_COLLECTOR}_questdb_up") == 1


def test_rows_arrive_within_10s_of_collector_start(host: Any, questdb: Any) -> None:
    answer = restart_and_wait_for_rows(host, questdb, "tradewatch-collector", timeout=10)
    delays = {table: seen["visible_after_s"] for table, seen in answer["tables"].items()}
    Report.add(
        f"rows after a collector restart (stop and start took {answer['stop_and_start_s']} s): "
        f"visible in QuestDB {delays} s after the new process started"
    )
    assert not answer["missing"], f"no new rows within 10 s in {answer['missing']}: {answer}"
    assert max(delays.values()) <= 10, answer


# ---- Grafana ------------------------------------------------------------------------------------
def test_grafana_provisioning_reads_questdb(host: Any, settings: dict[str, Any]) -> None:
    Report.add(check_grafana_provisioning(host, settings, settings["grafana_questdb_host"]))


# ---- Files and secrets --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "owner", "group", "mode", "holds_secret"),
    [
        ("/var/lib/questdb/conf/server.conf", "root", "questdb", 0o640, True),
        ("/etc/tradewatch-collector", "root", "tradewatch-collector", 0o750, False),
        ("/etc/tradewatch-collector/collector.yml", "root", "tradewatch-collector", 0o640, False),
        ("/etc/tradewatch-collector/credentials.env", "root", "root", 0o600, True),
        ("/etc/tradewatch-backup/backup.conf", "root", "root", 0o600, True),
        ("/etc/systemd/system/questdb.service", "root", "root", 0o644, False),
        ("/etc/systemd/system/tradewatch-collector.service", "root", "root", 0o644, False),
    ],
)
def test_config_files(
    host: Any, settings: dict[str, Any], path: str, owner: str, group: str, mode: int, holds_secret: bool
) -> None:
    item = host.file(path)
    assert (item.user, item.group, item.mode) == (owner, group, mode)
    if item.is_file:
        text = item.content_string
        assert any(s in text for s in secrets_of(settings)) == holds_secret, (
            f"{path}: secret present is not {holds_secret}"
        )


def test_no_secret_in_a_world_readable_file(host: Any, settings: dict[str, Any]) -> None:
    secrets = secrets_of(settings)
    assert len(secrets) == 5, secrets
    roots = ["/etc", "/opt", "/var", "/srv", "/root", "/home", "/tmp", "/run", "/usr/local"]
    assert world_readable_files_containing(host, secrets, roots) == []


# ---- Hardening ----------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", SERVICES)
def test_unit_exposure(host: Any, unit: str) -> None:
    """`systemd-analyze security` scores the unit's settings (podman skips some at runtime)."""
    exposure = security_exposure(host, unit)
    Report.add(f"systemd-analyze security {exposure.summary()}")
    assert exposure.score <= EXPOSURE_LIMITS[unit], exposure.summary()
