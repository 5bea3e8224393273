"""QuestDB backup and restore with the real program (roles/backup/files/tradewatch_backup/) against
real QuestDB 9.3.4 servers: CHECKPOINT CREATE, a copy of the server root, CHECKPOINT RELEASE; restore
by unpacking into a root, the `_restore` trigger and a start.

Run with `-s` to see the measured sizes and times.
"""

from __future__ import annotations

import itertools
import json
import resource
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.backup.helpers import (
    ROWS,
    TABLES,
    BusyWriter,
    apparent_size,
    checksum,
    destroy,
    load_test_data,
    ordered_export,
    output,
    prefix_sha256,
    questdb_config,
    run_program,
    start_program,
    write_rows,
)
from tests.support.questdb_server import QuestDBServer
from tests.support.schema import create_schema

BUSY = "pipeline_metrics"
_probe_rows = itertools.count()


@pytest.fixture
def loaded(fresh_questdb: QuestDBServer) -> QuestDBServer:
    create_schema(fresh_questdb)
    load_test_data(fresh_questdb, ROWS)
    return fresh_questdb


def assert_secret_hidden(server: QuestDBServer, *results: subprocess.CompletedProcess[str]) -> None:
    for result in results:
        assert server.http_password not in output(result)


def backups(backup_dir: Path) -> list[str]:
    return sorted(p.name for p in backup_dir.iterdir() if p.name.startswith("questdb-"))


def in_checkpoint(server: QuestDBServer) -> bool:
    return bool(server.rows("SELECT in_progress FROM checkpoint_status()")[0][0])


def assert_checkpoint_usable(server: QuestDBServer) -> None:
    """Not in checkpoint mode; a new checkpoint can be taken; writes are still applied."""
    assert not in_checkpoint(server)
    server.exec("CHECKPOINT CREATE")
    server.exec("CHECKPOINT RELEASE")
    before = server.rows("SELECT count() FROM daemon_metrics")[0][0]
    first = 10**6 + 10 * next(_probe_rows)  # fresh upsert keys on every call (the tables use DEDUP)
    write_rows(server, "daemon_metrics", first, 5, lambda i: 1_800_000_000 * 10**9 + i * 10**9)
    server.wait_wal("daemon_metrics")
    assert server.rows("SELECT count() FROM daemon_metrics")[0][0] == before + 5


def test_backup_while_writing_then_restore_into_a_fresh_instance(
    loaded: QuestDBServer, tmp_path: Path
) -> None:
    server = loaded
    backup_dir = tmp_path / "backups"
    config = questdb_config(tmp_path / "backup.conf", server, backup_dir)
    root_size = apparent_size(server.root)

    # One table keeps receiving commits during the whole backup. The copy is rate-limited to last
    # about two seconds, so that batches are certainly committed while the checkpoint is held.
    writer = BusyWriter(server, BUSY, first=ROWS)
    writer.start()
    bwlimit = max(1.0, root_size / 2**20 / 2)
    started = time.monotonic()
    result = run_program("questdb", "backup", "--bwlimit-mib", f"{bwlimit:.0f}", config=config)
    backup_seconds = time.monotonic() - started
    time.sleep(0.3)
    writer.stop()
    assert result.returncode == 0, output(result)
    assert writer.batches_in_checkpoint >= 1, "no batch was committed while the checkpoint was held"
    assert not in_checkpoint(server)

    (name,) = backups(backup_dir)
    manifest = json.loads((backup_dir / name / "manifest.json").read_text())
    archive = backup_dir / name / manifest["archive"]["file"]
    assert manifest["questdb_version"] == "9.3.4"
    assert manifest["archive"]["bytes"] == archive.stat().st_size
    assert set(manifest["tables"]) >= set(TABLES)
    for table in TABLES:
        if table != BUSY:
            assert manifest["tables"][table]["rows_min"] == manifest["tables"][table]["rows_max"] == ROWS
    busy_range = manifest["tables"][BUSY]
    assert ROWS + writer.batch <= busy_range["rows_min"] <= busy_range["rows_max"]

    # Plain backup of the same data without writes and without a rate limit, for the timing note.
    for table in TABLES:
        server.wait_wal(table)
    expected = {table: checksum(server, table) for table in TABLES if table != BUSY}
    busy_lines = ordered_export(server, BUSY)
    final_busy_rows = len(busy_lines) - 1
    assert final_busy_rows == ROWS + writer.written

    # Destroy the instance and its data.
    server.stop()
    destroy(server.root)

    # Restore into a fresh instance on a new root.
    fresh = QuestDBServer(root=tmp_path / "restored")
    started = time.monotonic()
    restore = run_program("questdb", "restore", "--root", str(fresh.root), config=config)
    unpack_seconds = time.monotonic() - started
    assert restore.returncode == 0, output(restore)
    assert (fresh.root / "_restore").exists()
    assert (fresh.root / ".checkpoint" / "db").is_dir()
    started = time.monotonic()
    fresh.start()
    try:
        start_seconds = time.monotonic() - started
        verify = run_program(
            "questdb",
            "verify",
            "--root",
            str(fresh.root),
            "--url",
            fresh.http_url,
            "--health-url",
            f"http://{fresh.host}:{fresh.min_port}/status",
            config=questdb_config(tmp_path / "fresh.conf", fresh, backup_dir),
        )
        restore_seconds = time.monotonic() - started + unpack_seconds
        assert verify.returncode == 0, output(verify)
        # QuestDB consumed the trigger and rolled the files back to the checkpoint.
        assert not (fresh.root / "_restore").exists()
        assert not (fresh.root / ".checkpoint" / "db").exists()

        for table in TABLES:
            fresh.wait_wal(table)
        for table, before in expected.items():
            assert checksum(fresh, table) == before, table
        # The busy table is exactly the state at the checkpoint: a prefix of what was written, past
        # the count taken before CHECKPOINT CREATE and short of the rows committed during the copy.
        restored = checksum(fresh, BUSY)
        assert busy_range["rows_min"] <= restored["rows"] <= busy_range["rows_max"]
        assert restored["rows"] < final_busy_rows
        assert restored["export_sha256"] == prefix_sha256(busy_lines, restored["rows"])
        assert fresh.rows(f"SELECT count() FROM {BUSY}")[0][0] == restored["rows"]

        # The restored instance takes writes and can be backed up again.
        write_rows(fresh, BUSY, 10**6, 10, lambda i: 1_800_000_000 * 10**9 + i * 10**9)
        fresh.wait_wal(BUSY)
        assert fresh.rows(f"SELECT count() FROM {BUSY}")[0][0] == restored["rows"] + 10
    finally:
        fresh.stop()
    assert_secret_hidden(server, result, restore, verify)

    held, mib = manifest["checkpoint_seconds"], manifest["archive"]["bytes"] / 2**20
    read = manifest["archive"]["source_bytes"] / 2**20
    verify_seconds = restore_seconds - unpack_seconds - start_seconds
    print(
        f"\n[backup] QuestDB {manifest['questdb_version']}: {len(TABLES)} tables x {ROWS} rows over 6 days, "
        f"root {root_size / 2**20:.1f} MiB (apparent)"
        f"\n[backup] backup while writing (rate limit {bwlimit:.0f} MiB/s): {backup_seconds:.2f}s wall, "
        f"checkpoint held {held:.2f}s, archive {mib:.2f} MiB (gzip -1) of {read:.1f} MiB read, "
        f"{writer.batches_in_checkpoint} write batches committed during the checkpoint"
        f"\n[backup] restore: unpack {unpack_seconds:.2f}s + start with checkpoint recovery "
        f"{start_seconds:.2f}s + verify {verify_seconds:.2f}s = {restore_seconds:.2f}s"
    )


def test_unthrottled_backup_and_in_place_restore_keeps_the_previous_data(
    loaded: QuestDBServer, tmp_path: Path
) -> None:
    server = loaded
    backup_dir = tmp_path / "backups"
    config = questdb_config(tmp_path / "backup.conf", server, backup_dir)
    expected = {table: checksum(server, table) for table in TABLES}

    started = time.monotonic()
    result = run_program("questdb", "backup", config=config)
    backup_seconds = time.monotonic() - started
    assert result.returncode == 0, output(result)
    (name,) = backups(backup_dir)
    manifest = json.loads((backup_dir / name / "manifest.json").read_text())
    # The whole root, with the checkpoint data; log/ and tmp/ kept as empty folders only.
    with tarfile.open(backup_dir / name / manifest["archive"]["file"]) as tar:
        members = tar.getnames()
    assert {"conf/server.conf", ".checkpoint/db", "db", "log", "tmp"} <= set(members)
    assert not [m for m in members if m.startswith(("log/", "tmp/"))]

    # Changes after the backup: more rows, a new table. The restore must undo both.
    write_rows(server, "trading_metrics", ROWS, 500, lambda i: 1_800_000_000 * 10**9 + i * 10**9)
    server.wait_wal("trading_metrics")
    server.exec("CREATE TABLE after_backup (ts TIMESTAMP, x LONG) TIMESTAMP(ts) PARTITION BY DAY WAL")
    server.stop()

    started = time.monotonic()
    restore = run_program("questdb", "restore", "--backup", name, config=config)
    unpack_seconds = time.monotonic() - started
    assert restore.returncode == 0, output(restore)
    (aside,) = server.root.parent.glob(f"{server.root.name}.pre-restore-*")
    assert (aside / "db").is_dir() and any(
        p.name.startswith("after_backup") for p in (aside / "db").iterdir()
    )

    started = time.monotonic()
    server.start()
    verify = run_program("questdb", "verify", config=config)
    restore_seconds = time.monotonic() - started + unpack_seconds
    assert verify.returncode == 0, output(verify)
    for table in TABLES:
        server.wait_wal(table)
        assert checksum(server, table) == expected[table], table
    assert "after_backup" not in {row[0] for row in server.rows("SELECT table_name FROM tables()")}
    assert_secret_hidden(server, result, restore, verify)
    held, mib = manifest["checkpoint_seconds"], manifest["archive"]["bytes"] / 2**20
    read = manifest["archive"]["source_bytes"] / 2**20
    print(
        f"\n[backup] quiet backup: {backup_seconds:.2f}s wall, checkpoint held {held:.2f}s, "
        f"archive {mib:.2f} MiB of {read:.1f} MiB read"
        f"\n[backup] in-place restore (old data moved aside): {restore_seconds:.2f}s "
        f"(unpack {unpack_seconds:.2f}s)"
    )


def test_rotation_keeps_exactly_n(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    server = shared_loaded
    backup_dir = tmp_path / "backups"
    config = questdb_config(tmp_path / "backup.conf", server, backup_dir, keep=2)
    names = []
    for _ in range(4):
        result = run_program("questdb", "backup", config=config)
        assert result.returncode == 0, output(result)
        names.append(backups(backup_dir)[-1])
    assert len(set(names)) == 4
    assert backups(backup_dir) == names[-2:]
    listing = run_program("questdb", "list", config=config)
    assert [line.split("\t")[0] for line in listing.stdout.splitlines()] == names[-2:]

    # Leftovers of a crashed run are cleared by the next run; --keep on the command line wins.
    (backup_dir / ".questdb-20200101T000000Z.partial").mkdir()
    result = run_program("questdb", "backup", "--keep", "1", config=config)
    assert result.returncode == 0, output(result)
    assert sorted(p.name for p in backup_dir.iterdir() if p.name != ".lock") == backups(backup_dir)
    assert len(backups(backup_dir)) == 1
    assert_secret_hidden(server, listing, result)


def test_failed_copy_releases_the_checkpoint(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    """The copy fails after CHECKPOINT CREATE (the archive cannot grow: file size limit, as on a full
    disk): the program exits non-zero with the reason, releases the checkpoint, leaves no partial backup."""
    server = shared_loaded
    backup_dir = tmp_path / "backups"
    config = questdb_config(tmp_path / "backup.conf", server, backup_dir, compress="none")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    result = run_program("questdb", "backup", config=config, preexec_fn=small_files)
    assert result.returncode == 1, output(result)
    assert "CHECKPOINT CREATE done" in result.stdout
    assert "CHECKPOINT RELEASE done" in result.stdout
    assert "error: File too large" in result.stderr
    assert backups(backup_dir) == []
    assert not list(backup_dir.glob(".questdb-*"))
    assert not (backup_dir / ".checkpoint-held").exists()
    assert_checkpoint_usable(server)
    assert_secret_hidden(server, result)


def test_terminated_backup_releases_the_checkpoint(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    """SIGTERM (systemd stop or timeout) in the middle of the copy still releases the checkpoint."""
    server = shared_loaded
    backup_dir = tmp_path / "backups"
    config = questdb_config(tmp_path / "backup.conf", server, backup_dir)
    proc = start_program("questdb", "backup", "--bwlimit-mib", "5", config=config)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "CHECKPOINT CREATE done" in line, line
    assert in_checkpoint(server)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stdout + stderr
    assert "CHECKPOINT RELEASE done" in stdout
    assert backups(backup_dir) == [] and not list(backup_dir.glob(".questdb-*"))
    assert_checkpoint_usable(server)


def test_killed_backup_leaves_a_checkpoint_the_next_run_releases(
    shared_loaded: QuestDBServer, tmp_path: Path
) -> None:
    server = shared_loaded
    backup_dir = tmp_path / "backups"
    config = questdb_config(tmp_path / "backup.conf", server, backup_dir)
    proc = start_program("questdb", "backup", "--bwlimit-mib", "5", config=config)
    assert proc.stdout is not None
    assert "CHECKPOINT CREATE done" in proc.stdout.readline()
    proc.kill()
    proc.communicate(timeout=30)
    assert in_checkpoint(server)  # SIGKILL: nothing could release it

    result = run_program("questdb", "backup", config=config)
    assert result.returncode == 0, output(result)
    assert "releasing the checkpoint a previous, interrupted run left behind" in result.stderr
    assert len(backups(backup_dir)) == 1 and not list(backup_dir.glob(".questdb-*"))
    assert_checkpoint_usable(server)


def test_foreign_checkpoint_is_refused_and_left_alone(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    server = shared_loaded
    backup_dir = tmp_path / "backups"
    config = questdb_config(tmp_path / "backup.conf", server, backup_dir)
    server.exec("CHECKPOINT CREATE")  # e.g. an operator's volume snapshot in progress
    try:
        result = run_program("questdb", "backup", config=config)
        assert result.returncode == 1
        assert "already in checkpoint mode and not by this program" in result.stderr
        assert in_checkpoint(server)
    finally:
        server.exec("CHECKPOINT RELEASE")
    assert backups(backup_dir) == []


def test_errors_are_clear_and_never_show_the_password(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    server = shared_loaded
    backup_dir = tmp_path / "backups"
    wrong = questdb_config(tmp_path / "wrong.conf", server, backup_dir, password="not-the-password-xyz")
    result = run_program("questdb", "backup", config=wrong)
    assert result.returncode == 1
    assert "authentication failed" in result.stderr
    assert "not-the-password-xyz" not in output(result)

    down = questdb_config(tmp_path / "down.conf", server, backup_dir, url="http://127.0.0.1:9")
    result = run_program("questdb", "backup", config=down)
    assert result.returncode == 1 and "cannot reach QuestDB at http://127.0.0.1:9" in result.stderr

    config = questdb_config(tmp_path / "backup.conf", server, backup_dir)
    result = run_program("questdb", "restore", "--root", str(tmp_path / "x"), config=config)
    assert result.returncode == 1 and "no questdb backup in" in result.stderr
    result = run_program("questdb", "backup", "--keep", "0", config=config)
    assert result.returncode == 1 and "keep must be >= 1" in result.stderr
    assert_secret_hidden(server, result)
    assert not in_checkpoint(server)


def test_damaged_archive_is_refused_before_anything_changes(
    shared_loaded: QuestDBServer, tmp_path: Path
) -> None:
    server = shared_loaded
    backup_dir = tmp_path / "backups"
    config = questdb_config(tmp_path / "backup.conf", server, backup_dir)
    assert run_program("questdb", "backup", config=config).returncode == 0
    (name,) = backups(backup_dir)
    archive = next((backup_dir / name).glob("questdb-root.tar*"))
    with archive.open("r+b") as fh:
        fh.seek(archive.stat().st_size // 2)
        fh.write(b"\xff\x00damage")
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep-me").write_text("untouched")
    result = run_program("questdb", "restore", "--root", str(target), config=config)
    assert result.returncode == 1 and "is damaged: sha256" in result.stderr
    assert [p.name for p in target.iterdir()] == ["keep-me"]
