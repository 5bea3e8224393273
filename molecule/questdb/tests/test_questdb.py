"""What the questdb role must have produced on the converged instance."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from stackinfra import SCHEMA  # molecule/shared (on sys.path: conftest.py)

SECRET_KEYS = ("questdb_http_password", "questdb_pg_password", "questdb_pg_readonly_password")
TTL_UNITS = {"h": "HOUR", "d": "DAY", "w": "WEEK", "M": "MONTH", "y": "YEAR"}


# ---- Service and process ------------------------------------------------------------------------
def test_service_is_enabled_and_running(host: Any) -> None:
    service = host.service("questdb")
    assert service.is_enabled
    assert service.is_running
    assert host.check_output("systemctl show --property=Type --value questdb") == "exec"


def test_process_runs_as_questdb(host: Any, main_pid: int) -> None:
    assert host.check_output(f"ps -o user= -p {main_pid}").strip() == "questdb"


def test_system_user_has_no_login(host: Any, settings: dict[str, Any]) -> None:
    user = host.user("questdb")
    assert user.exists
    assert user.shell == "/usr/sbin/nologin"
    assert user.group == "questdb"
    assert user.uid < 1000, "questdb must be a system user"
    assert user.home == settings["questdb_data_dir"]


def test_jvm_command_line(host: Any, main_pid: int, role_vars: dict[str, Any]) -> None:
    cmdline = host.file(f"/proc/{main_pid}/cmdline").content.split(b"\0")
    args = [a.decode() for a in cmdline if a]
    assert args[0].startswith("/opt/questdb/9.3.4-") and args[0].endswith("/bin/java")
    release = host.file(args[0].rsplit("/bin/", 1)[0] + "/release").content_string
    java_major = re.search(r'JAVA_VERSION="(\d+)', release).group(1)
    for flag in role_vars["_questdb_jvm_flags_by_java"][java_major]:
        assert flag in args
    assert "-Djava.io.tmpdir=/var/lib/questdb/tmp" in args
    assert any(a.startswith("-Dquestdb.libs.dir=/opt/questdb/9.3.4-") for a in args)
    assert any(a.startswith("-XX:ErrorFile=/var/lib/questdb/log/") for a in args)
    assert args[-4:] == ["-m", "io.questdb/io.questdb.ServerMain", "-d", "/var/lib/questdb"]


def test_open_files_limit(host: Any, main_pid: int, settings: dict[str, Any]) -> None:
    limits = host.file(f"/proc/{main_pid}/limits").content_string
    line = next(li for li in limits.splitlines() if li.startswith("Max open files"))
    assert line.split()[3:5] == [str(settings["questdb_limit_nofile"])] * 2


def test_process_is_confined(host: Any, main_pid: int) -> None:
    """NoNewPrivileges, the empty capability bounding set and the seccomp filter apply even in podman."""
    status = host.file(f"/proc/{main_pid}/status").content_string
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["CapBnd"].strip() == "0000000000000000"
    assert fields["CapEff"].strip() == "0000000000000000"
    assert fields["Seccomp"].strip() == "2"


def test_unit_file(host: Any) -> None:
    unit = host.file("/etc/systemd/system/questdb.service")
    assert unit.user == "root" and unit.mode == 0o644
    text = unit.content_string
    for directive in [
        "Type=exec",
        "User=questdb",
        "Restart=always",
        "SuccessExitStatus=143",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/questdb",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallArchitectures=native",
    ]:
        assert re.search(rf"^{re.escape(directive)}$", text, re.M), directive
    assert not re.search(r"^MemoryDenyWriteExecute=", text, re.M), "the JVM JIT needs W+X memory"


# ---- Files --------------------------------------------------------------------------------------
def test_install_layout(host: Any) -> None:
    current = host.file("/opt/questdb/current")
    assert current.is_symlink
    target = current.linked_to
    assert re.fullmatch(r"/opt/questdb/9\.3\.4-[0-9a-f]{12}", target)
    release = host.file(target)
    assert release.user == "root" and release.group == "root"
    assert host.file(f"{target}/bin/java").is_file
    assert host.file(f"{target}/lib/libquestdb.so").is_file
    marker = host.file(f"{target}/.questdb-archive.sha256").content_string
    assert marker.split()[0][:12] == target.rsplit("-", 1)[1]


@pytest.mark.parametrize(
    "path", ["/var/lib/questdb", "/var/lib/questdb/conf", "/var/lib/questdb/db", "/var/lib/questdb/log"]
)
def test_data_directories(host: Any, path: str) -> None:
    directory = host.file(path)
    assert directory.is_directory
    assert (directory.user, directory.group, directory.mode) == ("questdb", "questdb", 0o750)


def test_server_conf(host: Any, settings: dict[str, Any]) -> None:
    conf = host.file("/var/lib/questdb/conf/server.conf")
    assert (conf.user, conf.group, conf.mode) == ("root", "questdb", 0o640)
    values = dict(
        line.split("=", 1) for line in conf.content_string.splitlines() if line and not line.startswith("#")
    )
    assert values["http.min.worker.count"] == "1"
    assert values["http.health.check.authentication.required"] == "false"
    assert values["telemetry.enabled"] == "false"
    assert values["metrics.enabled"] == "true"
    assert values["cairo.wal.enabled.default"] == "true"
    assert values["line.tcp.enabled"] == "false"
    assert values["pg.readonly.user.enabled"] == "true"
    assert values["http.user"] == settings["questdb_http_user"]


def test_append_pages_are_small(questdb: Any, role_vars: dict[str, Any], settings: dict[str, Any]) -> None:
    """The running server took the role's append page size from server.conf (QuestDB's defaults: 16M for
    the column and index pages, 1M for the WAL writers' pages)."""
    keys = [key for key in role_vars["_questdb_server_conf"] if key.endswith("append.page.size")]
    assert len(keys) == 3
    size = settings["questdb_append_page_size"]
    values = {row[0]: row[2:4] for row in questdb.rows("SHOW PARAMETERS") if row[0] in keys}
    assert values == {key: [size, "conf"] for key in keys}, values


def test_no_secret_in_world_readable_files(host: Any, settings: dict[str, Any]) -> None:
    secrets = [settings[k] for k in SECRET_KEYS]
    patterns = " ".join(f"-e {json.dumps(s)}" for s in secrets)
    roots = "/etc /opt /var /srv /home /root /tmp /run /usr/local"
    found = host.run(f"grep -rlsF {patterns} {roots}").stdout.split()
    world_readable = [p for p in found if host.file(p).mode & 0o004]
    assert world_readable == [], f"secrets in world-readable files: {world_readable}"
    assert found, "server.conf should be found holding the secrets (search is broken otherwise)"


def test_no_secret_in_journal(host: Any, settings: dict[str, Any]) -> None:
    journal = host.run("journalctl --no-pager").stdout
    for key in SECRET_KEYS:
        assert settings[key] not in journal, f"{key} appears in the journal"


# ---- Network ------------------------------------------------------------------------------------
def test_listeners(host: Any, settings: dict[str, Any]) -> None:
    for key in ("questdb_http_port", "questdb_pg_port", "questdb_http_min_port"):
        assert host.socket(f"tcp://0.0.0.0:{settings[key]}").is_listening, key
    assert not host.socket(f"tcp://0.0.0.0:{settings['questdb_ilp_tcp_port']}").is_listening
    assert not host.socket(f"tcp://:::{settings['questdb_ilp_tcp_port']}").is_listening


def test_health_without_credentials(questdb: Any) -> None:
    assert questdb.http(f"{questdb.min_base}/status")["status"] == 200


def test_metrics(questdb: Any) -> None:
    answer = questdb.http(f"{questdb.min_base}/metrics")
    assert answer["status"] == 200
    assert "questdb_" in answer["body"]


@pytest.mark.parametrize(
    "credentials",
    [None, ("admin", "quest"), ("tw_admin", "wrong-password")],
    ids=["no-credentials", "default-admin-quest", "wrong-password"],
)
def test_http_rejects_bad_credentials(questdb: Any, credentials: tuple[str, str] | None) -> None:
    user, password = credentials if credentials else (None, None)
    exec_answer = questdb.http(f"{questdb.http_base}/exec?query=select%201", user=user, password=password)
    assert exec_answer["status"] == 401
    write_answer = questdb.http(
        f"{questdb.http_base}/write", user=user, password=password, method="POST", data="probe x=1i\n"
    )
    assert write_answer["status"] == 401


# ---- PostgreSQL wire ----------------------------------------------------------------------------
def test_pg_rejects_default_password(questdb: Any, settings: dict[str, Any]) -> None:
    for user in ("admin", settings["questdb_pg_user"], settings["questdb_pg_readonly_user"]):
        answer = questdb.pg(user, "quest")
        assert not answer["auth"], f"{user}/quest accepted"
        assert answer["error"]


def test_pg_admin_login(questdb: Any, settings: dict[str, Any]) -> None:
    answer = questdb.pg(settings["questdb_pg_user"], settings["questdb_pg_password"], "SELECT 1")
    assert answer["auth"] and answer["error"] is None, answer
    assert answer["rows"] == [["1"]]


def test_pg_readonly_user(questdb: Any, settings: dict[str, Any]) -> None:
    user, password = settings["questdb_pg_readonly_user"], settings["questdb_pg_readonly_password"]
    select = questdb.pg(user, password, "SELECT count() FROM daemon_metrics")
    assert select["auth"] and select["error"] is None, select
    create = questdb.pg(user, password, "CREATE TABLE ro_probe (x INT)")
    assert create["auth"] and create["error"], create


# ---- Schema and data ----------------------------------------------------------------------------
def test_tables_match_the_schema(questdb: Any, settings: dict[str, Any]) -> None:
    columns = "table_name, walEnabled, partitionBy, dedup, ttlValue, ttlUnit, designatedTimestamp"
    query = f"SELECT {columns} FROM tables()"
    tables = {row[0]: row[1:] for row in questdb.rows(query)}
    for table in SCHEMA:
        name = table["name"]
        assert name in tables, f"{name} missing"
        wal, partition_by, dedup, ttl_value, ttl_unit, designated = tables[name]
        assert (wal, partition_by, dedup, designated) == (
            True,
            table["partition_by"],
            True,
            table["timestamp"],
        )
        # a table the inventory gives no TTL (here backup_runs) keeps its rows
        ttl = settings["questdb_table_ttl"].get(name)
        expected_ttl = (int(ttl[:-1]), TTL_UNITS[ttl[-1]]) if ttl else (0, "HOUR")
        assert (ttl_value, ttl_unit) == expected_ttl, f"{name} TTL"
        actual = questdb.rows(f"SELECT \"column\", type, upsertKey FROM table_columns('{name}')")
        assert [[c["name"], c["type"]] for c in table["columns"]] == [row[:2] for row in actual]
        assert {row[0] for row in actual if row[2]} == set(table["dedup_upsert_keys"]), f"{name} dedup keys"


def test_views_exist_with_their_partitioning_and_ttl(
    questdb: Any, role_vars: dict[str, Any], settings: dict[str, Any]
) -> None:
    views = {
        row[0]: row[1:]
        for row in questdb.rows("SELECT view_name, view_status, refresh_type FROM materialized_views()")
    }
    tables = {
        row[0]: row[1:]
        for row in questdb.rows("SELECT table_name, partitionBy, ttlValue, ttlUnit FROM tables()")
    }
    for view in role_vars["_questdb_views"]:
        name = view["name"]
        assert name in views, f"{name} missing: {sorted(views)}"
        assert views[name] == ["valid", "immediate"], f"{name}: {views[name]}"
        ttl = settings.get("questdb_view_ttl", {}).get(name, view["ttl"])
        assert tables[name] == [view["partition_by"], int(ttl[:-1]), TTL_UNITS[ttl[-1]]], (
            f"{name}: {tables[name]}"
        )


def test_a_base_row_reaches_the_rollups(questdb: Any) -> None:
    host_tag = f"molecule-view-{time.time_ns()}"
    line = f"daemon_metrics,host={host_tag},env=dev fetch_count=3i,error_count=1i,running=t,cpu_percent=2.5\n"
    answer = questdb.admin_http(f"{questdb.http_base}/write", method="POST", data=line)
    assert answer["status"] == 204, answer
    minute = f"SELECT samples, fetch_count, cpu_percent_sum FROM daemon_metrics_1m WHERE host = '{host_tag}'"
    assert questdb.poll_rows(minute) == [[1, 3, 2.5]]
    hour = f"SELECT samples, error_count FROM daemon_metrics_1h WHERE host = '{host_tag}'"
    assert questdb.poll_rows(hour) == [[1, 1]]


def test_ilp_write_then_read(questdb: Any) -> None:
    host_tag = f"molecule-{time.time_ns()}"
    fields = "fetch_count=7i,error_count=0i,running=t,uptime_seconds=1.5"
    line = f"daemon_metrics,host={host_tag},env=dev {fields}\n"
    answer = questdb.admin_http(f"{questdb.http_base}/write", method="POST", data=line)
    assert answer["status"] == 204, answer
    rows = questdb.poll_rows(f"SELECT fetch_count, running FROM daemon_metrics WHERE host = '{host_tag}'")
    assert rows == [[7, True]]


# ---- Nightly Parquet conversion -----------------------------------------------------------------
def test_parquet_timer_is_scheduled_and_its_configuration_kept_from_others(
    host: Any, settings: dict[str, Any]
) -> None:
    timer = host.service("questdb-parquet.timer")
    assert timer.is_enabled and timer.is_running
    next_run = host.check_output("systemctl show -p NextElapseUSecRealtime --value questdb-parquet.timer")
    assert next_run.strip() not in ("", "n/a"), next_run
    config = host.file(f"{settings['questdb_data_dir']}/conf/parquet.json")
    assert (config.user, config.group, config.mode) == ("root", "questdb", 0o640)
    assert "ReadWritePaths" not in host.file("/etc/systemd/system/questdb-parquet.service").content_string


def test_the_nightly_job_converts_a_closed_day_and_keeps_its_rows(host: Any, questdb: Any) -> None:
    """A row three days old and one of today; the job (run now, as its timer would) turns the old day
    into Parquet, leaves today native, and both rows read back unchanged."""
    tag = f"molecule-parquet-{time.time_ns()}"
    questdb.sql(
        "INSERT INTO daemon_metrics (timestamp, host, env, fetch_count) VALUES "
        f"(dateadd('d', -3, now()), '{tag}', 'dev', 1), (now(), '{tag}', 'dev', 2)"
    )
    rows = f"SELECT fetch_count FROM daemon_metrics WHERE host = '{tag}' ORDER BY timestamp"
    assert questdb.poll_rows(rows) == [[1], [2]]  # one transaction: both rows or none
    host.run_expect([0], "systemctl start questdb-parquet.service")
    result = host.check_output("systemctl show -p Result --value questdb-parquet.service")
    assert result.strip() == "success"
    journal = host.check_output("journalctl -u questdb-parquet.service --no-pager -o cat")
    assert "daemon_metrics: converted" in journal or "daemon_metrics: every closed" in journal
    today = questdb.rows("SELECT to_str(now(), 'yyyy-MM-dd')")[0][0]
    parts = questdb.rows("SELECT name, isParquet FROM table_partitions('daemon_metrics') ORDER BY name")
    assert [name for name, _ in parts if name < today], parts
    assert all(parquet for name, parquet in parts if name < today), parts
    assert parts[-1] == [today, False], parts
    assert questdb.rows(rows) == [[1], [2]]
