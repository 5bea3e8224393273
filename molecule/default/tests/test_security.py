"""Security of the converged stack: secrets live in their files only, the journal holds none, the
deployed QuestDB refuses defaults and unauthenticated writes, the backup units are hardened.

test_stack.py already checks, and this file does not repeat: exactly the configured listeners (so
nothing else listens), owner/group/mode of server.conf, the collector's files and backup.conf, no
secret in a world-readable file, and `systemd-analyze security` of questdb (<= 5.0) and
tradewatch-collector (<= 3.0). Everything here only reads: no service is restarted or changed.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from stackinfra import SECRET_KEYS, Report, security_exposure

# Secrets of the other roles, checked when the scenario sets them.
MORE_SECRET_KEYS = (
    "backup_questdb_http_password",
    "backup_repository_password",
    "grafana_questdb_pg_password",
    "grafana_smtp_password",
    "grafana_telegram_bot_token",
    "grafana_discord_webhook_url",
)
# Every file allowed to hold a secret: (owner, group, mode).
SECRET_FILES = {
    "/var/lib/questdb/conf/server.conf": ("root", "questdb", 0o640),
    "/var/lib/questdb/conf/parquet.json": ("root", "questdb", 0o640),  # the Parquet job's admin login
    "/etc/tradewatch-collector/credentials.env": ("root", "root", 0o600),
    "/etc/tradewatch-backup/backup.conf": ("root", "root", 0o600),
    "/etc/tradewatch-backup/repository-password": ("root", "root", 0o600),
    "/etc/grafana/grafana.ini": ("root", "grafana", 0o640),
    "/etc/grafana/provisioning/datasources/tradewatch.yml": ("root", "grafana", 0o640),
    "/etc/grafana/provisioning/alerting/tradewatch.yml": ("root", "grafana", 0o640),
}
# Folders of secret files and of backups (a local repository here; its snapshots hold server.conf,
# encrypted) and of the backup program's state and cache: (owner, group, mode).
SECRET_DIRS = {
    "/var/lib/questdb/conf": ("questdb", "questdb", 0o750),
    "/etc/tradewatch-backup": ("root", "root", 0o700),
    "/var/backups/tradewatch": ("root", "root", 0o700),
    "/var/lib/tradewatch-backup": ("root", "root", 0o700),
    "/var/cache/tradewatch-backup": ("root", "root", 0o700),
    "/etc/grafana": ("root", "grafana", 0o750),
    "/etc/grafana/provisioning/datasources": ("root", "grafana", 0o750),
    "/etc/grafana/provisioning/alerting": ("root", "grafana", 0o750),
}
# The local repository; test_backups_are_readable_by_root_only covers it.
BACKUPS = "/var/backups/tradewatch/"
ROOTS = ["/etc", "/opt", "/var", "/srv", "/root", "/home", "/tmp", "/run", "/usr/local"]
# The same bound as QuestDB's: the backup runs as root with CAP_DAC_READ_SEARCH/CAP_DAC_OVERRIDE.
BACKUP_EXPOSURE_LIMIT = 5.0


@pytest.fixture(scope="module")
def secrets(settings: dict[str, Any]) -> dict[str, str]:
    found = {k: str(settings[k]) for k in SECRET_KEYS + MORE_SECRET_KEYS if str(settings.get(k) or "")}
    assert {k for k in SECRET_KEYS if k.startswith("questdb_")} <= set(found), "no plain QuestDB secrets"
    return found


def grep_files(host: Any, values: list[str], roots: list[str]) -> list[str]:
    """Every file under `roots` (any mode) that contains one of `values`."""
    patterns = " ".join(f"-e {shlex.quote(v)}" for v in values)
    cmd = f"grep -rlsF {patterns} {' '.join(roots)} || true"
    return sorted(line for line in host.check_output(cmd).splitlines() if line)


# ---- Where secrets live -------------------------------------------------------------------------
def test_secrets_live_only_in_their_files(host: Any, secrets: dict[str, str]) -> None:
    """Whatever its mode: no copy in QuestDB's data or logs, the collector's spool and dead-letter
    file, Ansible's temporary files, unit files, /run... nor in the backup repository, whose snapshots
    hold server.conf encrypted (the scenario backs up on converge and around the upgrade)."""
    found = grep_files(host, list(secrets.values()), ROOTS)
    assert "/var/lib/questdb/conf/server.conf" in found, f"the search finds nothing: {found}"
    assert host.file(f"{BACKUPS}restic/config").exists, "no repository to search"
    elsewhere = [path for path in found if path not in SECRET_FILES]
    assert elsewhere == []
    for path in set(found) & set(SECRET_FILES):
        item = host.file(path)
        assert (item.user, item.group, item.mode) == SECRET_FILES[path], path


@pytest.mark.parametrize("path", SECRET_DIRS)
def test_secret_folders_are_closed(host: Any, path: str) -> None:
    folder = host.file(path)
    assert folder.is_directory
    assert (folder.user, folder.group, folder.mode) == SECRET_DIRS[path]


def test_backups_are_readable_by_root_only(host: Any) -> None:
    """Backups hold server.conf: nothing under the backup folder is readable by group or others."""
    cmd = "find /var/backups/tradewatch -perm /0077 -print"
    assert host.check_output(cmd).splitlines() == []


def test_no_secret_in_the_journal(host: Any, secrets: dict[str, str]) -> None:
    """The services' own output and everything else in the journal (Ansible logs each module call
    there, with the arguments it does not hide)."""
    units = ["questdb", "tradewatch-collector"]
    own = host.check_output(f"journalctl --no-pager -o cat {' '.join(f'-u {u}' for u in units)}")
    assert own.strip(), "the services' journal is empty"
    everything = host.check_output("journalctl --no-pager -o cat")
    for name, value in secrets.items():
        assert value not in own, f"{name} in the journal of {units}"
        assert value not in everything, f"{name} in the journal"


# ---- The deployed QuestDB -----------------------------------------------------------------------
def test_questdb_refuses_default_passwords(questdb: Any, settings: dict[str, Any]) -> None:
    for user in ("admin", settings["questdb_pg_user"], settings["questdb_pg_readonly_user"]):
        answer = questdb.pg(user, "quest")
        assert not answer["auth"], f"{user}/quest accepted"
    answer = questdb.pg(settings["questdb_pg_readonly_user"], settings["questdb_pg_readonly_password"])
    assert answer["auth"], answer


@pytest.fixture(scope="module")
def target(questdb: Any) -> Iterator[str]:
    """A table of these tests' own (created and dropped by the admin user), so that a regression
    cannot touch the monitoring tables that test_stack.py and test_upgrade.py read."""
    name = f"sec_target_{uuid.uuid4().hex[:8]}"
    questdb.sql(f"CREATE TABLE {name} (ts TIMESTAMP, host SYMBOL, v LONG) TIMESTAMP(ts) PARTITION BY DAY WAL")
    questdb.sql(f"INSERT INTO {name} VALUES (now(), 'seed', 1)")
    yield name
    questdb.sql(f"DROP TABLE IF EXISTS {name}")


def row_count(questdb: Any, table: str) -> int:
    return int(questdb.rows(f"SELECT count() FROM {table}")[0][0])


def table_exists(questdb: Any, table: str) -> bool:
    return bool(questdb.rows(f"SELECT count() FROM tables() WHERE table_name = '{table}'")[0][0])


def test_read_only_user_cannot_write(questdb: Any, settings: dict[str, Any], target: str) -> None:
    user, password = settings["questdb_pg_readonly_user"], settings["questdb_pg_readonly_password"]
    new = f"sec_ro_{uuid.uuid4().hex[:8]}"
    for sql in (
        f"CREATE TABLE {new} (a INT)",
        f"INSERT INTO {target} VALUES (now(), 'sec-probe', 2)",
        f"ALTER TABLE {target} ADD COLUMN sec_probe INT",
        f"TRUNCATE TABLE {target}",
        f"DROP TABLE {target}",
    ):
        answer = questdb.pg(user, password, sql)
        assert answer["auth"] and "permission denied" in str(answer["error"]).lower(), (sql, answer)
    assert not table_exists(questdb, new)
    assert table_exists(questdb, target)
    assert row_count(questdb, target) == 1
    assert [r[0] for r in questdb.rows(f"SELECT \"column\" FROM table_columns('{target}')")] == [
        "ts",
        "host",
        "v",
    ]


@pytest.mark.parametrize("credentials", [None, ("admin", "quest")], ids=["none", "questdb-default"])
def test_unauthenticated_writes_are_refused_and_write_nothing(
    questdb: Any, target: str, credentials: tuple[str, str] | None
) -> None:
    """ILP over HTTP (both endpoints) and SQL over /exec, without or with QuestDB's default login."""
    new = f"sec_ilp_{uuid.uuid4().hex[:8]}"
    user, password = credentials or (None, None)
    body = f"{new},host=sec-probe v=1i\n{target},host=sec-probe v=2i\n"
    for endpoint in ("/write", "/api/v2/write"):
        answer = questdb.http(
            f"{questdb.http_base}{endpoint}", user=user, password=password, method="POST", data=body
        )
        assert answer["status"] == 401, (endpoint, answer)
    for sql in (f"CREATE TABLE {new} (a INT)", f"INSERT INTO {target} VALUES (now(), 'sec-probe', 3)"):
        answer = questdb.http(
            f"{questdb.http_base}/exec?{urlencode({'query': sql})}", user=user, password=password
        )
        assert answer["status"] == 401, (sql, answer)
    assert not table_exists(questdb, new)
    assert row_count(questdb, target) == 1


# ---- Hardening of the backup units --------------------------------------------------------------
def test_backup_units_exposure(host: Any) -> None:
    listed = host.check_output("systemctl list-unit-files --no-legend --plain 'tradewatch-backup-*.service'")
    units = sorted(line.split()[0].removesuffix(".service") for line in listed.splitlines() if line.strip())
    assert "tradewatch-backup-questdb" in units, listed
    scores = {}
    for unit in units:
        exposure = security_exposure(host, unit)
        Report.add(f"systemd-analyze security {exposure.summary()}")
        print(f"systemd-analyze security {exposure.summary()}")
        scores[unit] = exposure.score
    assert max(scores.values()) <= BACKUP_EXPOSURE_LIMIT, json.dumps(scores)
