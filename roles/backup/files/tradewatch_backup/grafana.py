"""Grafana: backup (SQLite online backup, gzip, manifest) and restore of grafana.db."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import time

from .archive import archive_writer
from .clock import iso, stamp, utcnow
from .config import GrafanaSettings
from .console import human, log
from .errors import BackupError
from .files import CHUNK, fsync_dir, parse_owner, sha256_file
from .lock import exclusive_lock
from .manifest import FORMAT_VERSION, load_manifest, verify_archive
from .rotation import prune, resolve_backup, staged_backup
from .sqlite_copy import sqlite_online_backup, sqlite_summary
from .systemd import systemctl

GRAFANA_ARCHIVE = "grafana.db.gz"
GZIP_LEVEL = 6


def backup(s: GrafanaSettings) -> int:
    source, backup_dir = s.db, s.backup_dir
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    started = time.monotonic()
    created_at = utcnow()
    with exclusive_lock(backup_dir):
        with staged_backup(backup_dir, "grafana") as staged:
            name, partial = staged.name, staged.folder
            copy = partial / "grafana.db"
            sqlite_online_backup(source, copy, s.timeout)
            tables = sqlite_summary(copy)
            raw_sha = sha256_file(copy)
            raw_size = copy.stat().st_size
            archive = partial / GRAFANA_ARCHIVE
            with copy.open("rb") as fin, archive_writer(archive, "gzip", GZIP_LEVEL) as (gz, hasher):
                shutil.copyfileobj(fin, gz, CHUNK)
            copy.unlink()
            manifest = {
                "format": FORMAT_VERSION,
                "component": "grafana",
                "name": name,
                "host": socket.gethostname(),
                "created_at": iso(created_at),
                "finished_at": iso(utcnow()),
                "source": str(source),
                "method": "SQLite online backup API, gzip",
                "duration_seconds": round(time.monotonic() - started, 3),
                "database": {"bytes": raw_size, "sha256": raw_sha},
                "archive": {
                    "file": archive.name,
                    "compression": "gzip",
                    "bytes": hasher.size,
                    "sha256": hasher.digest.hexdigest(),
                },
                "tables": {t: {"rows_min": n, "rows_max": n} for t, n in tables.items()},
            }
            final = staged.publish(manifest)
        removed = prune(backup_dir, "grafana", s.keep)
    log(
        f"backup {final} done: {human(hasher.size)} archive of a {human(raw_size)} database, "
        f"{len(tables)} tables, {manifest['duration_seconds']:.2f}s"
    )
    if removed:
        log(f"pruned {', '.join(removed)} (keep {s.keep})")
    return 0


def restore(s: GrafanaSettings, name: str) -> int:
    target, service = s.db, s.service
    started = time.monotonic()
    with exclusive_lock(s.backup_dir):
        backup = resolve_backup(s.backup_dir, "grafana", name)
        manifest = load_manifest(backup)
        log(f"restoring {backup.name} (taken {manifest['created_at']}) into {target}")
        archive = verify_archive(backup, manifest)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.restore")
        with gzip.open(archive, "rb") as fin, staged.open("wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
            fout.flush()
            os.fsync(fout.fileno())
        try:
            if sha256_file(staged) != manifest["database"]["sha256"]:
                raise BackupError(f"{archive} does not unpack to the database the manifest describes")
            expected = {t: v["rows_min"] for t, v in manifest["tables"].items()}
            if sqlite_summary(staged) != expected:
                raise BackupError(f"{archive}: row counts differ from the manifest")
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
    log(f"restore of {backup.name} into {target} done in {time.monotonic() - started:.2f}s")
    return 0
