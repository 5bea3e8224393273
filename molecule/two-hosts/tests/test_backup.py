"""Backups off the host (side_effect.yml): the QuestDB instance's snapshots went over SFTP to the backup
server, the instance lost its data and every file of the backup role, and playbooks/restore.yml
restored the latest snapshot from the backup server onto it.

Checked here: every table's rows after the restore equal those the snapshot holds; the second backup
of the unchanged database added almost nothing; each run is a backup_runs row; the account on the
backup server is SFTP only and locked into its own folder; a wrong repository password is refused
with a clear error and changes nothing in the repository.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import testinfra
from stackinfra import TABLES, Report

EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
BACKUP_HOST = "tw-two-hosts-backup"
PROGRAM = "/usr/local/sbin/tradewatch-backup"
CONFIG = "/etc/tradewatch-backup/backup.conf"


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    path = EPHEMERAL / "backup" / "record.json"
    if not path.is_file():
        pytest.skip(f"no backup record ({path}): run side_effect before verify")
    return dict(json.loads(path.read_text()))


@pytest.fixture(scope="module")
def backup_host() -> Any:
    return testinfra.get_host(f"podman://{BACKUP_HOST}")


def config_value(db_host: Any, key: str) -> str:
    text = db_host.file(CONFIG).content_string
    return next(line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith(f"{key} ="))


@pytest.fixture(scope="module")
def account(db_host: Any) -> str:
    repository = config_value(db_host, "repository")  # sftp:<account>@<server>:/repository
    assert repository.startswith("sftp:") and repository.endswith(f"@{BACKUP_HOST}:/repository"), repository
    return repository[len("sftp:") :].split("@", 1)[0]


def repository_listing(backup_host: Any, account: str) -> str:
    return str(
        backup_host.check_output(
            f"find /srv/tradewatch-backups/{account}/repository -type f -printf '%p %s %T@\\n' | sort"
        )
    )


def test_every_table_has_its_rows_back(record: dict[str, Any]) -> None:
    before, after = record["before"]["tables"], record["after"]["tables"]
    counts = {name: (before[name]["count"], after[name]["count"]) for name in TABLES}
    seconds = record["restore_seconds"]
    Report.add(
        f"backup: restore from the backup server onto the emptied instance in {seconds:.1f} s "
        f"(restore.yml: program, login, fetch, start, check); rows (snapshot, restored): {counts}"
    )
    assert all(b > 0 for b, _ in counts.values()), counts
    assert all(b == a for b, a in counts.values()), counts
    assert any("verified" in line for line in record["restore_output"]), record["restore_output"]


def test_each_run_is_on_record_and_the_second_adds_almost_nothing(
    questdb: Any, record: dict[str, Any]
) -> None:
    # The restored database holds the runs up to the snapshot it came from: the first backup's row.
    runs = questdb.rows(
        "SELECT component, success, snapshot_id, bytes_added, bytes_processed, duration_seconds, error "
        "FROM backup_runs ORDER BY timestamp"
    )
    assert runs and all(run[0] == "questdb" and run[1] is True and run[6] is None for run in runs), runs
    first, second = record["backup_reports"][-2:]
    assert runs[-1][2] in first, (runs, first)
    size = record["repository_bytes"]
    growth = (size[1] - size[0], size[2] - size[1])
    Report.add(f"backup: first run: {first}; repository on the backup server +{growth[0] / 2**20:.2f} MiB")
    Report.add(f"backup: second run (unchanged database): {second}; repository +{growth[1] / 2**10:.1f} KiB")
    assert runs[-1][3] > 0 and runs[-1][4] > runs[-1][3]
    assert growth[0] > 0 and growth[1] < growth[0] / 4, growth


def test_the_repository_is_the_hosts_own_and_sftp_only(db_host: Any, backup_host: Any, account: str) -> None:
    folder = backup_host.file(f"/srv/tradewatch-backups/{account}")
    assert (folder.user, folder.group, folder.mode) == ("root", "root", 0o755)  # sshd's chroot
    repository = backup_host.file(f"/srv/tradewatch-backups/{account}/repository")
    assert (repository.user, repository.mode) == (account, 0o700)
    assert backup_host.file(f"/srv/tradewatch-backups/{account}/repository/config").exists
    user = backup_host.user(account)
    assert user.shell == "/usr/sbin/nologin" and user.group == "tradewatch-backup"
    # A shell command over the same login is refused: sshd forces internal-sftp.
    ssh = (
        f"ssh -i /etc/tradewatch-backup/ssh/id -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile=/etc/tradewatch-backup/ssh/known_hosts {account}@{BACKUP_HOST}"
    )
    shell = db_host.run(f"{ssh} id")
    assert "uid=" not in shell.stdout, shell.stdout
    assert "only" in (shell.stdout + shell.stderr).lower() or shell.rc != 0, shell
    # The private key never left the QuestDB instance: the server holds the public half only.
    key = db_host.file("/etc/tradewatch-backup/ssh/id")
    assert (key.user, key.mode) == ("root", 0o600)
    assert "PRIVATE KEY" not in backup_host.check_output("cat /etc/ssh/tradewatch-backup-keys/" + account)


def test_a_wrong_repository_password_is_refused_and_changes_nothing(
    db_host: Any, backup_host: Any, account: str
) -> None:
    before = repository_listing(backup_host, account)
    db_host.run_expect([0], "umask 077; echo not-the-password > /root/wrong-password")
    swap = "s#^password_file = .*#password_file = /root/wrong-password#"
    db_host.run_expect([0], f"umask 077; sed '{swap}' {CONFIG} > /root/wrong.conf")
    result = db_host.run(f"{PROGRAM} --config /root/wrong.conf questdb backup")
    db_host.run("rm -f /root/wrong.conf /root/wrong-password")
    assert result.rc == 1, result
    assert "the repository password is wrong" in result.stderr, result.stderr
    assert "CHECKPOINT CREATE" not in result.stdout
    assert repository_listing(backup_host, account) == before
