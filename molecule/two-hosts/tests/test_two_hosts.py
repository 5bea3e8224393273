"""QuestDB on one instance, the collector on another: cross-host configuration, binds and data flow.

Tests run in file order: the collector's counters are read before a test restarts it.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from conftest import COLLECTOR_HOST, QUESTDB_HOST
from stackinfra import (
    COLLECTOR_TABLES,
    PREFIX_COLLECTOR,
    Report,
    check_grafana_provisioning,
    collector_metrics,
    listeners,
    metric_sum,
    process_owners,
    restart_and_wait_for_rows,
    wait_until,
)


# ---- QuestDB host -------------------------------------------------------------------------------
def test_questdb_host_runs_questdb_only(db_host: Any) -> None:
    assert db_host.service("questdb").is_running and db_host.service("questdb").is_enabled
    assert process_owners(db_host, "questdb") == {"questdb"}
    assert not db_host.file("/etc/systemd/system/tradewatch-collector.service").exists


def test_other_hosts_reach_questdb_over_tls_only(
    db_host: Any, db_settings: dict[str, Any], db_address: str
) -> None:
    """On the instance's address: nginx's TLS endpoint and the health port; HTTP and PG wire on loopback."""
    address = db_address
    assert not address.startswith("127."), address
    server_conf = db_host.file("/var/lib/questdb/conf/server.conf").content_string
    assert f"http.net.bind.to=127.0.0.1:{db_settings['questdb_http_port']}" in server_conf
    expected = {
        ("tcp", "127.0.0.1", db_settings["questdb_http_port"], "questdb"),
        ("tcp", "127.0.0.1", db_settings["questdb_pg_port"], "questdb"),
        ("tcp", address, db_settings["questdb_http_min_port"], "questdb"),
        ("tcp", address, db_settings["questdb_https_port"], "root"),  # nginx's master opens it
    }
    found = {(s.proto, s.address, s.port, s.user) for s in listeners(db_host)}
    assert found == expected, f"unexpected: {found - expected}, missing: {expected - found}"
    key = db_host.file("/etc/nginx/tradewatch-questdb.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)


def test_grafana_on_the_questdb_host_reads_questdb_over_loopback(
    db_host: Any, db_settings: dict[str, Any]
) -> None:
    """Provisioning only (package source none): PG wire on loopback, Grafana itself over https."""
    Report.add(f"two-hosts: {check_grafana_provisioning(db_host, db_settings, '127.0.0.1')}")
    ini = db_host.file("/etc/grafana/grafana.ini").content_string
    assert "protocol = https" in ini and "cert_key = /etc/grafana/tls/server.key" in ini
    key = db_host.file("/etc/grafana/tls/server.key")
    assert (key.user, key.group, key.mode) == ("root", "grafana", 0o640)


# ---- Collector host -----------------------------------------------------------------------------
def test_collector_host_runs_the_collector_only(collector_host: Any) -> None:
    unit = "tradewatch-collector"
    assert collector_host.service(unit).is_running and collector_host.service(unit).is_enabled
    assert process_owners(collector_host, unit) == {unit}
    assert not collector_host.file("/etc/systemd/system/questdb.service").exists
    assert not collector_host.file("/var/lib/questdb").exists


def test_collector_ships_to_questdb_by_inventory_name_over_tls(collector_host: Any, db_address: str) -> None:
    config = yaml.safe_load(collector_host.file("/etc/tradewatch-collector/collector.yml").content_string)
    assert config["questdb"]["addr"] == f"{QUESTDB_HOST}:9443"
    assert (config["questdb"]["transport"], config["questdb"]["tls_ca"]) == (
        "https",
        "/etc/tradewatch/tls/ca.crt",
    )
    assert not collector_host.file("/etc/tradewatch/tls/server.key").exists  # a client: the CA only
    assert config["host"] == COLLECTOR_HOST
    resolved = collector_host.check_output(f"getent ahostsv4 {QUESTDB_HOST}").split()[0]
    assert resolved == db_address


def test_collector_listens_on_loopback_only(collector_host: Any, collector_settings: dict[str, Any]) -> None:
    expected = {("tcp", "127.0.0.1", collector_settings["collector_metrics_port"], "tradewatch-collector")}
    assert {(s.proto, s.address, s.port, s.user) for s in listeners(collector_host)} == expected


def test_collector_metrics_show_no_drops(collector_host: Any, collector_settings: dict[str, Any]) -> None:
    def sent_everywhere() -> Any:
        samples = collector_metrics(collector_host, collector_settings)
        sent = [metric_sum(samples, f"{PREFIX_COLLECTOR}_rows_sent_total", table=t) for t in COLLECTOR_TABLES]
        return samples if min(sent) > 0 else None

    samples = wait_until(sent_everywhere, timeout=15) or collector_metrics(collector_host, collector_settings)
    sent = {t: metric_sum(samples, f"{PREFIX_COLLECTOR}_rows_sent_total", table=t) for t in COLLECTOR_TABLES}
    dropped = metric_sum(samples, f"{PREFIX_COLLECTOR}_rows_dropped_total")
    rejected = metric_sum(samples, f"{PREFIX_COLLECTOR}_rows_rejected_total")
    Report.add(f"two-hosts collector /metrics: rows sent {sent}, dropped {dropped:g}, rejected {rejected:g}")
    assert all(count > 0 for count in sent.values()), sent
    assert (dropped, rejected) == (0, 0)
    assert metric_sum(samples, f"{PREFIX_COLLECTOR}_questdb_up") == 1


# ---- Data flow across hosts ---------------------------------------------------------------------
def test_rows_arrive_within_10s_of_collector_start(collector_host: Any, questdb: Any) -> None:
    answer = restart_and_wait_for_rows(collector_host, questdb, "tradewatch-collector", timeout=10)
    delays = {table: seen["visible_after_s"] for table, seen in answer["tables"].items()}
    Report.add(
        f"two-hosts: rows after a collector restart (stop and start took {answer['stop_and_start_s']} s): "
        f"visible in QuestDB {delays} s after the new process started"
    )
    assert not answer["missing"], answer
    assert max(delays.values()) <= 10, answer


@pytest.mark.parametrize("table", COLLECTOR_TABLES)
def test_rows_come_from_the_collector_host(questdb: Any, table: str) -> None:
    assert questdb.rows(f"SELECT DISTINCT host FROM {table}") == [[COLLECTOR_HOST]]
