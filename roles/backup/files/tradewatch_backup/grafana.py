"""Grafana: backup (SQLite online backup into a restic snapshot with its manifest) and restore."""

from __future__ import annotations

import os
import time

from .clock import stamp
from .config import GrafanaSettings, RepositorySettings
from .console import human, log
from .errors import BackupError
from .files import fsync_dir, parse_owner, sha256_file
from .lock import exclusive_lock
from .manifest import load_manifest, manifest_dir, write_manifest
from .report import Outcome
from .sqlite_copy import sqlite_online_backup, sqlite_summary
from .systemd import systemctl

TAG = "grafana"
COPY = "grafana.db"


def backup(s: GrafanaSettings, r: RepositorySettings, outcome: Outcome) -> int:
    source = s.db
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    r.repository.require()
    started = time.monotonic()
    folder = manifest_dir(r.state_dir, TAG)
    with exclusive_lock(folder):
        copy = folder / COPY
        try:
            sqlite_online_backup(source, copy, s.timeout)
            tables = sqlite_summary(copy)
            size = copy.stat().st_size
            write_manifest(
                folder,
                TAG,
                {
                    "source": str(source),
                    "method": "SQLite online backup API; restic backup of the copy",
                    "database": {"file": COPY, "bytes": size, "sha256": sha256_file(copy)},
                    "tables": {t: {"rows_min": n, "rows_max": n} for t, n in tables.items()},
                },
            )
            summary = r.repository.backup([str(folder)], TAG, [f"{folder}/.lock"])
        finally:
            copy.unlink(missing_ok=True)
    outcome.record(summary)
    log(
        f"snapshot {outcome.snapshot_id}: {human(outcome.bytes_added)} added for a {human(size)} "
        f"database, {len(tables)} tables, {time.monotonic() - started:.2f}s"
    )
    return 0


def restore(s: GrafanaSettings, r: RepositorySettings, wanted: str) -> int:
    target, service = s.db, s.service
    started = time.monotonic()
    with exclusive_lock(manifest_dir(r.state_dir, TAG)):
        snapshot = r.repository.resolve(TAG, wanted)
        manifest = load_manifest(r.repository, snapshot)
        name = snapshot["short_id"]
        taken = manifest["created_at"]
        log(f"restoring snapshot {name} of {snapshot['hostname']} (taken {taken}) into {target}")
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.restore")
        folder = snapshot["paths"][0]
        with staged.open("wb") as fout:
            fout.write(r.repository.dump(str(snapshot["id"]), f"{folder}/{manifest['database']['file']}"))
            fout.flush()
            os.fsync(fout.fileno())
        try:
            if sha256_file(staged) != manifest["database"]["sha256"]:
                raise BackupError(f"snapshot {name} does not hold the database its manifest describes")
            expected = {t: v["rows_min"] for t, v in manifest["tables"].items()}
            if sqlite_summary(staged) != expected:
                raise BackupError(f"snapshot {name}: row counts differ from the manifest")
            owner = parse_owner(s.owner)
            mode = 0o640
            if target.exists():
                st = target.stat()
                owner = owner or (st.st_uid, st.st_gid)
                mode = st.st_mode & 0o777
            if service:
                log(f"stopping {service}")
                systemctl("stop", service)
            # The database and its companions (a stale -wal would be replayed onto the restored file).
            when = stamp()
            moved = []
            for suffix in ("", "-wal", "-shm", "-journal"):
                current = target.with_name(target.name + suffix)
                if current.exists():
                    aside = current.with_name(f"{current.name}.pre-restore-{when}")
                    os.rename(current, aside)
                    moved.append(str(aside))
            os.chmod(staged, mode)
            if owner and os.geteuid() == 0:
                os.chown(staged, *owner)
            os.rename(staged, target)
            fsync_dir(target.parent)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        if moved:
            log(f"previous files kept as {', '.join(moved)}")
        if service:
            log(f"starting {service}")
            systemctl("start", service)
    log(f"restore of snapshot {name} into {target} done in {time.monotonic() - started:.2f}s")
    return 0
