"""QuestDB backup and restore with the real program (roles/backup/files/tradewatch_backup/) against
real QuestDB 9.3.4 servers and a real restic repository (Debian's restic): CHECKPOINT CREATE, a
snapshot of the server root with its manifest, CHECKPOINT RELEASE; restore by fetching the snapshot,
setting the old root aside, the `_restore` trigger and a start.

Run with `-s` to see the measured sizes and times.
"""

from __future__ import annotations

import itertools
import json
import resource
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.backup.helpers import (
    ROWS,
    TABLES,
    BusyWriter,
    Repo,
    apparent_size,
    checksum,
    destroy,
    init_repository,
    load_test_data,
    local_repo,
    ordered_export,
    output,
    prefix_sha256,
    questdb_config,
    run_program,
    start_program,
    write_rows,
)
from tests.support.questdb_server import QuestDBServer
from tests.support.schema import create_schema, parquet_job, schema

BUSY = "pipeline_metrics"
_probe_rows = itertools.count()


@pytest.fixture
def loaded(fresh_questdb: QuestDBServer) -> QuestDBServer:
    create_schema(fresh_questdb)
    load_test_data(fresh_questdb, ROWS)
    return fresh_questdb


def assert_secret_hidden(
    server: QuestDBServer, repo: Repo, *results: subprocess.CompletedProcess[str]
) -> None:
    for result in results:
        assert server.http_password not in output(result)
        assert repo.password not in output(result)


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


def manifest_of(repo: Repo, snapshot: dict[str, Any]) -> dict[str, Any]:
    state = next(p for p in snapshot["paths"] if p.endswith("/state/questdb"))
    result = repo.restic("dump", snapshot["id"], f"{state}/manifest.json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def summary(result: subprocess.CompletedProcess[str]) -> tuple[str, int]:
    """The snapshot id and the bytes added, from the program's report line."""
    line = next(line for line in result.stdout.splitlines() if " added for " in line)
    words = line.split()
    snapshot = words[words.index("snapshot") + 1].rstrip(":")
    value, unit = words[words.index("added") - 2 : words.index("added")]
    scale = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]
    return snapshot, int(float(value) * scale)


def stored_bytes(repo: Repo) -> int:
    """The repository's size on disk (restic 0.14 reports data added before compression)."""
    return sum(p.stat().st_size for p in Path(repo.location).rglob("*") if p.is_file())


def repository_files(repo: Repo) -> dict[str, int]:
    root = Path(repo.location)
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_backup_while_writing_then_restore_into_a_fresh_instance(
    loaded: QuestDBServer, tmp_path: Path
) -> None:
    server = loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo)
    init_repository(config)
    # The closed days of the quiet tables in Parquet, as the questdb role's nightly job leaves them.
    job = parquet_job()
    client = job.Client(server.http_url, server.http_user, server.http_password)
    parquet = {table: job.convert(client, table, 60)[0] for table in TABLES if table != BUSY}
    daily = {t["name"] for t in schema() if t["partition_by"] == "DAY"} & set(parquet)
    assert daily and all(len(parquet[table]) >= 5 for table in daily), parquet  # 6 days
    root_size = apparent_size(server.root)

    # One table keeps receiving commits during the whole backup. The upload is rate-limited so that
    # the snapshot takes a few seconds and batches are certainly committed while the checkpoint is held.
    writer = BusyWriter(server, BUSY, first=ROWS)
    writer.start()
    started = time.monotonic()
    result = run_program("--limit-upload-kib", "2048", "questdb", "backup", config=config)
    backup_seconds = time.monotonic() - started
    time.sleep(0.3)
    writer.stop()
    assert result.returncode == 0, output(result)
    assert writer.batches_in_checkpoint >= 1, "no batch was committed while the checkpoint was held"
    assert not in_checkpoint(server)

    (snapshot,) = repo.snapshots("questdb")
    manifest = manifest_of(repo, snapshot)
    assert snapshot["short_id"] == summary(result)[0]
    assert manifest["questdb_version"] == "9.3.4"
    assert set(manifest["tables"]) >= set(TABLES)
    for table in TABLES:
        if table != BUSY:
            assert manifest["tables"][table]["rows_min"] == manifest["tables"][table]["rows_max"] == ROWS
    busy_range = manifest["tables"][BUSY]
    assert ROWS + writer.batch <= busy_range["rows_min"] <= busy_range["rows_max"]

    for table in TABLES:
        server.wait_wal(table)
    expected = {table: checksum(server, table) for table in TABLES if table != BUSY}
    in_parquet = "SELECT name FROM table_partitions('{}') WHERE isParquet ORDER BY name"
    expected_parquet = {table: server.rows(in_parquet.format(table)) for table in parquet}
    busy_lines = ordered_export(server, BUSY)
    final_busy_rows = len(busy_lines) - 1
    assert final_busy_rows == ROWS + writer.written

    # Destroy the instance, its data and the program's local state: only the repository is left.
    server.stop()
    destroy(server.root)
    destroy(repo.folder / "state")
    destroy(repo.folder / "cache")

    # Restore into a fresh instance on a new root.
    fresh = QuestDBServer(root=tmp_path / "restored")
    started = time.monotonic()
    restore = run_program("questdb", "restore", "--root", str(fresh.root), config=config)
    fetch_seconds = time.monotonic() - started
    assert restore.returncode == 0, output(restore)
    assert (fresh.root / "_restore").exists()
    assert (fresh.root / ".checkpoint" / "db").is_dir()
    assert not (fresh.root / "log").exists() or not any((fresh.root / "log").iterdir())
    assert not list(tmp_path.glob(".restored.restore-*"))
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
            config=questdb_config(tmp_path / "fresh.conf", fresh, repo),
        )
        restore_seconds = time.monotonic() - started + fetch_seconds
        assert verify.returncode == 0, output(verify)
        # QuestDB consumed the trigger and rolled the files back to the checkpoint.
        assert not (fresh.root / "_restore").exists()
        assert not (fresh.root / ".checkpoint" / "db").exists()

        for table in TABLES:
            fresh.wait_wal(table)
        for table, before in expected.items():
            assert checksum(fresh, table) == before, table
        for table, names in expected_parquet.items():
            assert fresh.rows(in_parquet.format(table)) == names, table
        # The busy table is exactly the state at the checkpoint: a prefix of what was written, past
        # the count taken before CHECKPOINT CREATE and short of the rows committed during the copy.
        restored = checksum(fresh, BUSY)
        assert busy_range["rows_min"] <= restored["rows"] <= busy_range["rows_max"]
        assert restored["rows"] < final_busy_rows
        assert restored["export_sha256"] == prefix_sha256(busy_lines, restored["rows"])

        # The restored instance takes writes and can be backed up again.
        write_rows(fresh, BUSY, 10**6, 10, lambda i: 1_800_000_000 * 10**9 + i * 10**9)
        fresh.wait_wal(BUSY)
        assert fresh.rows(f"SELECT count() FROM {BUSY}")[0][0] == restored["rows"] + 10
    finally:
        fresh.stop()
    assert_secret_hidden(server, repo, result, restore, verify)
    print(
        f"\n[backup] QuestDB {manifest['questdb_version']}: {len(TABLES)} tables x {ROWS} rows over 6 days, "
        f"root {root_size / 2**20:.1f} MiB (apparent)"
        f"\n[backup] backup while writing (upload limit 2 MiB/s): {backup_seconds:.2f}s wall, "
        f"{summary(result)[1] / 2**20:.2f} MiB added, "
        f"{writer.batches_in_checkpoint} write batches committed during the checkpoint"
        f"\n[backup] restore from the repository: fetch {fetch_seconds:.2f}s + start with checkpoint "
        f"recovery {start_seconds:.2f}s + verify = {restore_seconds:.2f}s"
    )


def test_second_backup_adds_almost_nothing_and_in_place_restore_keeps_the_previous_data(
    loaded: QuestDBServer, tmp_path: Path
) -> None:
    server = loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo, repository={"keep_last": 5})
    init_repository(config)
    expected = {table: checksum(server, table) for table in TABLES}

    timings = []
    results = []
    sizes = [stored_bytes(repo)]
    for _ in range(2):
        started = time.monotonic()
        results.append(run_program("questdb", "backup", config=config))
        timings.append(time.monotonic() - started)
        assert results[-1].returncode == 0, output(results[-1])
        sizes.append(stored_bytes(repo))
    growth = [after - before for before, after in itertools.pairwise(sizes)]
    (first_id, first_added), (second_id, second_added) = map(summary, results)
    assert [s["short_id"] for s in repo.snapshots("questdb")] == [first_id, second_id]
    # Unchanged data: the second snapshot stores little beyond its metadata (the checkpoint's own
    # files and the manifest are new).
    assert second_added < first_added / 10, (first_added, second_added)
    assert growth[1] < growth[0] / 4, growth

    # Changes after the backup: more rows, a new table. The restore must undo both.
    write_rows(server, "trading_metrics", ROWS, 500, lambda i: 1_800_000_000 * 10**9 + i * 10**9)
    server.wait_wal("trading_metrics")
    server.exec("CREATE TABLE after_backup (ts TIMESTAMP, x LONG) TIMESTAMP(ts) PARTITION BY DAY WAL")
    server.stop()

    started = time.monotonic()
    restore = run_program("questdb", "restore", "--snapshot", first_id, config=config)
    fetch_seconds = time.monotonic() - started
    assert restore.returncode == 0, output(restore)
    (aside,) = server.root.parent.glob(f"{server.root.name}.pre-restore-*")
    assert (aside / "db").is_dir() and any(
        p.name.startswith("after_backup") for p in (aside / "db").iterdir()
    )

    server.start()
    verify = run_program("questdb", "verify", "--snapshot", first_id, config=config)
    assert verify.returncode == 0, output(verify)
    for table in TABLES:
        server.wait_wal(table)
        assert checksum(server, table) == expected[table], table
    assert "after_backup" not in {row[0] for row in server.rows("SELECT table_name FROM tables()")}
    assert_secret_hidden(server, repo, *results, restore, verify)
    print(
        f"\n[backup] first backup: {timings[0]:.2f}s, {first_added / 2**20:.2f} MiB new data, repository "
        f"+{growth[0] / 2**20:.2f} MiB; second of the unchanged database: {timings[1]:.2f}s, "
        f"{second_added / 2**10:.1f} KiB new data, repository +{growth[1] / 2**10:.1f} KiB"
        f"\n[backup] in-place restore (old data moved aside): fetch and put in place {fetch_seconds:.2f}s"
    )


def test_retention_keeps_one_snapshot_a_day(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    server = shared_loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo)  # keep_daily 7, weekly 4, monthly 6
    init_repository(config)
    ids = []
    for _ in range(3):
        result = run_program("questdb", "backup", config=config)
        assert result.returncode == 0, output(result)
        ids.append(summary(result)[0])
    assert len(set(ids)) == 3
    # Three snapshots of one day: the daily rule keeps the newest.
    assert [s["short_id"] for s in repo.snapshots("questdb")] == ids[-1:]
    listing = run_program("questdb", "list", config=config)
    assert [line.split()[0] for line in listing.stdout.splitlines()] == ids[-1:]
    assert "retention (last 0, daily 7, weekly 4, monthly 6) applied" in result.stdout
    assert_secret_hidden(server, repo, listing, result)


def test_failed_snapshot_releases_the_checkpoint(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    """The snapshot fails after CHECKPOINT CREATE (restic cannot write its pack files: file size
    limit, as on a full disk): the program exits non-zero with restic's reason, releases the
    checkpoint, and the repository holds no snapshot."""
    server = shared_loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo)
    init_repository(config)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    result = run_program("questdb", "backup", config=config, preexec_fn=small_files)
    assert result.returncode == 1, output(result)
    assert "CHECKPOINT CREATE done" in result.stdout
    assert "CHECKPOINT RELEASE done" in result.stdout
    assert "error: restic backup failed:" in result.stderr
    assert repo.snapshots("questdb") == []
    assert not list((repo.folder / "state" / "questdb").glob(".checkpoint-held"))
    assert_checkpoint_usable(server)
    assert_secret_hidden(server, repo, result)


def test_terminated_backup_releases_the_checkpoint(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    """SIGTERM (systemd stop or timeout) in the middle of the snapshot still releases the checkpoint;
    the lock restic left is no obstacle to the next run."""
    server = shared_loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo)
    init_repository(config)
    proc = start_program("--limit-upload-kib", "64", "questdb", "backup", config=config)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "CHECKPOINT CREATE done" in line, line
    assert in_checkpoint(server)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stdout + stderr
    assert "CHECKPOINT RELEASE done" in stdout
    assert repo.snapshots("questdb") == []
    assert_checkpoint_usable(server)
    result = run_program("questdb", "backup", config=config)
    assert result.returncode == 0, output(result)
    assert len(repo.snapshots("questdb")) == 1


def test_killed_backup_leaves_a_checkpoint_the_next_run_releases(
    shared_loaded: QuestDBServer, tmp_path: Path
) -> None:
    server = shared_loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo)
    init_repository(config)
    proc = start_program("--limit-upload-kib", "64", "questdb", "backup", config=config)
    assert proc.stdout is not None
    assert "CHECKPOINT CREATE done" in proc.stdout.readline()
    proc.kill()
    proc.communicate(timeout=30)
    assert in_checkpoint(server)  # SIGKILL: nothing could release it
    subprocess.run(["pkill", "-KILL", "-f", f"restic.*{repo.location}"], check=False)

    result = run_program("questdb", "backup", config=config)
    assert result.returncode == 0, output(result)
    assert "releasing the checkpoint a previous, interrupted run left behind" in result.stderr
    assert len(repo.snapshots("questdb")) == 1
    assert_checkpoint_usable(server)


def test_foreign_checkpoint_is_refused_and_left_alone(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    server = shared_loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo)
    init_repository(config)
    server.exec("CHECKPOINT CREATE")  # e.g. an operator's volume snapshot in progress
    try:
        result = run_program("questdb", "backup", config=config)
        assert result.returncode == 1
        assert "already in checkpoint mode and not by this program" in result.stderr
        assert in_checkpoint(server)
    finally:
        server.exec("CHECKPOINT RELEASE")
    assert repo.snapshots("questdb") == []


def test_wrong_repository_password_is_refused_and_touches_nothing(
    shared_loaded: QuestDBServer, tmp_path: Path
) -> None:
    server = shared_loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo, report=True)
    init_repository(config)
    assert run_program("questdb", "backup", config=config).returncode == 0
    before = repository_files(repo)
    server.wait_wal("backup_runs")
    runs = server.rows("SELECT count() FROM backup_runs")[0][0]

    wrong = Repo(location=repo.location, folder=tmp_path / "wrong", password="not-the-repository-password")
    wrong_config = questdb_config(tmp_path / "wrong.conf", server, wrong, report=True)
    for args in (
        ["questdb", "backup"],
        ["questdb", "restore", "--root", str(tmp_path / "x")],
        ["repository", "init"],
    ):
        result = run_program(*args, config=wrong_config)
        assert result.returncode == 1, output(result)
        assert "the repository password is wrong" in result.stderr, output(result)
        assert_secret_hidden(server, wrong, result)
    assert not in_checkpoint(server)
    assert repository_files(repo) == before
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
    # The failed backup is on record.
    server.wait_wal("backup_runs")
    rows = server.rows("SELECT success, error FROM backup_runs ORDER BY timestamp")
    assert (
        len(rows) == runs + 1 and rows[-1][0] is False and "the repository password is wrong" in rows[-1][1]
    )


def test_errors_are_clear_and_never_show_the_password(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    server = shared_loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo)
    result = run_program("questdb", "backup", config=config)
    assert result.returncode == 1 and f"no repository at {repo.location}" in result.stderr
    assert "repository init" in result.stderr
    init_repository(config)

    wrong = questdb_config(tmp_path / "wrong.conf", server, repo, password="not-the-password-xyz")
    result = run_program("questdb", "backup", config=wrong)
    assert result.returncode == 1
    assert "authentication failed" in result.stderr
    assert "not-the-password-xyz" not in output(result)

    down = questdb_config(tmp_path / "down.conf", server, repo, url="http://127.0.0.1:9")
    result = run_program("questdb", "backup", config=down)
    assert result.returncode == 1 and "cannot reach QuestDB at http://127.0.0.1:9" in result.stderr

    result = run_program("questdb", "restore", "--root", str(tmp_path / "x"), config=config)
    assert result.returncode == 1 and "no questdb snapshot in" in result.stderr
    none = questdb_config(
        tmp_path / "none.conf",
        server,
        repo,
        repository={"keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0},
    )
    result = run_program("questdb", "backup", config=none)
    assert result.returncode == 1 and "no retention: set at least one of keep_last" in result.stderr
    assert_secret_hidden(server, repo, result)
    assert not in_checkpoint(server)


def test_damaged_repository_is_refused_before_anything_changes(
    shared_loaded: QuestDBServer, tmp_path: Path
) -> None:
    server = shared_loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo, repository={"check_subset": "100%"})
    init_repository(config)
    assert run_program("questdb", "backup", config=config).returncode == 0
    check = run_program("repository", "check", config=config)
    assert check.returncode == 0, output(check)
    assert "no errors were found" in check.stdout
    packs = sorted(
        (Path(repo.location) / "data").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0
    )
    biggest = packs[-1]
    with biggest.open("r+b") as fh:
        fh.seek(biggest.stat().st_size // 2)
        fh.write(b"\xff\x00damage")
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep-me").write_text("untouched")
    result = run_program("questdb", "restore", "--root", str(target), config=config)
    assert result.returncode == 1, output(result)
    assert "error: restic restore failed" in result.stderr
    assert [p.name for p in target.iterdir()] == ["keep-me"]
    assert not list(tmp_path.glob(".target.restore-*"))
    check = run_program("repository", "check", config=config)
    assert check.returncode == 1 and "error: restic check failed" in check.stderr, output(check)


def test_each_backup_is_on_record_in_questdb(shared_loaded: QuestDBServer, tmp_path: Path) -> None:
    """The outcome row (backup_runs) of a good backup: the snapshot id, bytes, duration, no error."""
    server = shared_loaded
    repo = local_repo(tmp_path)
    config = questdb_config(tmp_path / "backup.conf", server, repo, report=True)
    init_repository(config)
    result = run_program("questdb", "backup", config=config)
    assert result.returncode == 0, output(result)
    snapshot, added = summary(result)
    server.wait_wal("backup_runs")
    rows = server.rows(
        "SELECT component, success, snapshot_id, bytes_added, bytes_processed, duration_seconds, error, env "
        f"FROM backup_runs WHERE snapshot_id = '{snapshot}'"
    )
    assert len(rows) == 1, rows
    component, success, snapshot_id, bytes_added, processed, duration, error, env = rows[0]
    assert (component, success, snapshot_id, error, env) == ("questdb", True, snapshot, None, "dev")
    assert abs(bytes_added - added) <= added * 0.06 + 1024 and processed > bytes_added > 0
    assert 0 < duration < 300
