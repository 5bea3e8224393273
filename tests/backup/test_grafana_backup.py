"""Grafana's database backup and restore with the real program, on a real SQLite file.

Grafana itself cannot be installed on our machines, so the tests build a SQLite database shaped like
grafana.db (a few of its tables, WAL journal mode as Grafana can use) and drive the program's
`grafana backup|restore|list` against it. The systemd stop/start around a restore is exercised by
the role on a real host (the program runs `systemctl stop/start <service>` only when a service is set).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.backup.helpers import Repo, init_repository, local_repo, output, run_program, write_config

TABLES = {
    "dashboard": "id INTEGER PRIMARY KEY, uid TEXT UNIQUE, title TEXT, data TEXT, version INTEGER",
    "alert_rule": "id INTEGER PRIMARY KEY, uid TEXT UNIQUE, title TEXT, condition TEXT, interval_seconds INT",
    "user": "id INTEGER PRIMARY KEY, login TEXT UNIQUE, email TEXT, is_admin INTEGER",
    "annotation": "id INTEGER PRIMARY KEY, dashboard_id INTEGER, epoch INTEGER, text TEXT",
}


def make_db(path: Path, rows: int = 2000) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    for name, columns in TABLES.items():
        con.execute(f'CREATE TABLE "{name}" ({columns})')
    with con:
        for i in range(rows):
            con.execute(
                "INSERT INTO dashboard (uid, title, data, version) VALUES (?, ?, ?, ?)",
                (f"d{i}", f"Dashboard {i}", json.dumps({"panels": list(range(i % 30))}), i % 7),
            )
            con.execute(
                "INSERT INTO annotation (dashboard_id, epoch, text) VALUES (?, ?, ?)",
                (i, 1_767_225_600_000 + i, f"deploy {i}"),
            )
        for i in range(50):
            con.execute(
                "INSERT INTO alert_rule (uid, title, condition, interval_seconds) VALUES (?, ?, ?, ?)",
                (f"a{i}", f"Rule {i}", "C", 60),
            )
            con.execute(
                'INSERT INTO "user" (login, email, is_admin) VALUES (?, ?, ?)',
                (f"u{i}", f"u{i}@example.invalid", int(i == 0)),
            )
    con.close()


def checksums(path: Path) -> dict[str, tuple[int, str]]:
    """Row count and a hash of the ordered rows, per table."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = {}
        for name in TABLES:
            rows = con.execute(f'SELECT * FROM "{name}" ORDER BY id').fetchall()
            result[name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        return result
    finally:
        con.close()


def config(tmp_path: Path, db: Path, **repository: Any) -> Path:
    cfg = write_config(
        tmp_path / "backup.conf",
        {"repository": local_repo(tmp_path).settings(**repository), "grafana": {"db": db, "service": ""}},
    )
    init_repository(cfg)
    return cfg


def snapshots(tmp_path: Path) -> list[str]:
    return [s["short_id"] for s in local_repo(tmp_path).snapshots("grafana")]


def manifest_of(repo: Repo, snapshot_id: str) -> dict[str, Any]:
    (snapshot,) = [s for s in repo.snapshots("grafana") if s["short_id"] == snapshot_id]
    result = repo.restic("dump", snapshot["id"], f"{snapshot['paths'][0]}/manifest.json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_online_backup_and_restore_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "grafana" / "grafana.db"
    db.parent.mkdir()
    make_db(db)
    cfg = config(tmp_path, db)
    expected = checksums(db)

    # A writer holds an open, uncommitted transaction during the backup (Grafana saving a
    # dashboard): the online backup must contain the committed state only.
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO dashboard (uid, title, data, version) VALUES ('uncommitted', 't', '{}', 1)")
    started = time.monotonic()
    result = run_program("grafana", "backup", config=cfg)
    backup_seconds = time.monotonic() - started
    writer.execute("COMMIT")
    writer.close()
    assert result.returncode == 0, output(result)
    (name,) = snapshots(tmp_path)
    repo = local_repo(tmp_path)
    manifest = manifest_of(repo, name)
    assert {t: v["rows_min"] for t, v in manifest["tables"].items()} == {
        t: n for t, (n, _) in expected.items()
    }
    (snapshot,) = repo.snapshots("grafana")
    stored = repo.dump(snapshot["id"], f"{snapshot['paths'][0]}/grafana.db")
    assert hashlib.sha256(stored).hexdigest() == manifest["database"]["sha256"]
    # The copy left the program's state folder once it was in the snapshot.
    assert not (repo.folder / "state" / "grafana" / "grafana.db").exists()
    # The source was opened read-only: nothing of root's next to Grafana's file besides its own WAL.
    assert {p.name for p in db.parent.iterdir()} <= {"grafana.db", "grafana.db-shm", "grafana.db-wal"}

    # Damage the live database: delete dashboards, drop a table; keep a stale -wal next to it.
    con = sqlite3.connect(db)
    with con:
        con.execute("DELETE FROM dashboard WHERE id % 2 = 0")
        con.execute("DROP TABLE annotation")
    assert checksums_differ(db, expected)
    con.close()
    (db.parent / "grafana.db-wal").write_bytes(b"stale wal that must not be replayed")

    started = time.monotonic()
    restore = run_program("grafana", "restore", config=cfg)
    restore_seconds = time.monotonic() - started
    assert restore.returncode == 0, output(restore)
    assert checksums(db) == expected
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    # The previous files are kept, not deleted.
    kept = sorted(p.name.split(".pre-restore-")[0] for p in db.parent.glob("*.pre-restore-*"))
    assert kept == ["grafana.db", "grafana.db-wal"]
    print(
        f"\n[grafana] {db.stat().st_size / 2**10:.0f} KiB database: backup {backup_seconds:.2f}s, "
        f"{result.stdout.split('snapshot ')[1].split(' for ')[0]}; restore {restore_seconds:.2f}s"
    )


def checksums_differ(db: Path, expected: dict[str, tuple[int, str]]) -> bool:
    try:
        return checksums(db) != expected
    except sqlite3.OperationalError:  # a table is gone
        return True


def test_restore_into_an_empty_place_and_by_name(tmp_path: Path) -> None:
    db = tmp_path / "grafana.db"
    make_db(db, rows=100)
    cfg = config(tmp_path, db, keep_last=5)
    assert run_program("grafana", "backup", config=cfg).returncode == 0
    first = snapshots(tmp_path)[0]
    expected = checksums(db)
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "INSERT INTO alert_rule (uid, title, condition, interval_seconds) VALUES ('x', 'x', 'C', 1)"
        )
    con.close()
    assert run_program("grafana", "backup", config=cfg).returncode == 0

    target = tmp_path / "new-host" / "grafana.db"
    result = run_program("grafana", "restore", "--db", str(target), "--snapshot", first, config=cfg)
    assert result.returncode == 0, output(result)
    assert checksums(target) == expected
    assert target.stat().st_mode & 0o777 == 0o640

    result = run_program("grafana", "restore", "--snapshot", "0badc0de", config=cfg)
    assert result.returncode == 1 and "no single grafana snapshot '0badc0de'" in result.stderr


def test_retention_applies_to_grafana_snapshots_only(tmp_path: Path) -> None:
    db = tmp_path / "grafana.db"
    make_db(db, rows=10)
    cfg = config(tmp_path, db, keep_last=2, keep_daily=0, keep_weekly=0, keep_monthly=0)
    repo = local_repo(tmp_path)
    other = repo.restic("backup", "--tag", "questdb", "--host", "other", str(db))
    assert other.returncode == 0, other.stderr
    ids = []
    for _ in range(3):
        result = run_program("grafana", "backup", config=cfg)
        assert result.returncode == 0, output(result)
        ids.append(snapshots(tmp_path)[-1])
    assert len(set(ids)) == 3
    assert snapshots(tmp_path) == ids[-2:]
    assert len(repo.snapshots("questdb")) == 1
    listing = run_program("grafana", "list", config=cfg)
    assert [line.split()[0] for line in listing.stdout.splitlines()] == ids[-2:]


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    cfg = config(tmp_path, tmp_path / "nope.db")
    result = run_program("grafana", "backup", config=cfg)
    assert result.returncode == 1
    assert f"{tmp_path / 'nope.db'} does not exist" in result.stderr
