"""QuestDB backup: CHECKPOINT CREATE, a tar of the server root, CHECKPOINT RELEASE, a manifest."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from .archive import archive_writer, write_root_archive
from .clock import iso, utcnow
from .config import QuestDBSettings
from .console import PROG, human, log, warn
from .errors import BackupError
from .lock import exclusive_lock
from .manifest import FORMAT_VERSION
from .questdb_http import QuestDB, connect
from .rotation import prune, staged_backup

QUESTDB_ARCHIVE = "questdb-root.tar"
# Written into the backup directory while our checkpoint is held; lets the next run release a
# checkpoint that a killed run left behind (and only that one).
CHECKPOINT_MARKER = ".checkpoint-held"


def count_tables(db: QuestDB) -> dict[str, dict[str, Any]]:
    return {
        t["table_name"]: {
            "rows": db.count(t["table_name"]),
            "wal": bool(t["walEnabled"]),
            "dir": t["directoryName"],
        }
        for t in db.tables()
    }


def backup(s: QuestDBSettings) -> int:
    root, backup_dir = s.root, s.backup_dir
    if not (root / "db").is_dir():
        raise BackupError(f"{root} is not a QuestDB root (no db/ folder)")
    db = connect(s)
    started = time.monotonic()
    created_at = utcnow()
    with exclusive_lock(backup_dir):
        version, build = db.version()
        marker = backup_dir / CHECKPOINT_MARKER
        if db.checkpoint_in_progress():
            if not marker.exists():
                raise BackupError(
                    "QuestDB is already in checkpoint mode and not by this program (another backup or "
                    "snapshot tool?). Wait for it, or run `CHECKPOINT RELEASE` if it is stale."
                )
            warn("releasing the checkpoint a previous, interrupted run left behind")
            db.exec("CHECKPOINT RELEASE")
        marker.unlink(missing_ok=True)

        # Lower bound of each table's rows in the checkpoint: row counts only grow while the
        # checkpoint is taken, so a count taken before CHECKPOINT CREATE cannot be above it.
        before = count_tables(db)
        suffix = ".gz" if s.compress == "gzip" else ""
        stats: dict[str, int] = {}
        release_error = ""
        with staged_backup(backup_dir, "questdb") as staged:
            name = staged.name
            archive = staged.folder / (QUESTDB_ARCHIVE + suffix)
            marker.write_text(f"{os.getpid()} {iso(utcnow())}\n")
            db.exec("CHECKPOINT CREATE")
            cp_started = time.monotonic()
            log(f"CHECKPOINT CREATE done; copying {root}")
            try:
                # Upper bound target: the sequencer txn of each WAL table right after the checkpoint.
                seq_after = {t: seq for t, (_w, seq, _s) in db.wal_state().items()}
                with archive_writer(archive, s.compress, s.compress_level) as (out, hasher):
                    stats = write_root_archive(root, out, s.exclude, s.bwlimit_mib)
            finally:
                release_error = release_checkpoint(db, marker)
            checkpoint_seconds = time.monotonic() - cp_started

            # Upper bound: counts once every transaction the checkpoint can hold has been applied.
            # A table whose WAL is suspended or late gets no upper bound (the backup is still good).
            unknown = db.wait_wal(
                {t: seq for t, seq in seq_after.items() if t in before},
                time.monotonic() + s.timeout,
                strict=False,
            )
            for table, why in unknown.items():
                warn(f"{table}: {why}; its row count is recorded as a lower bound only")
            after = count_tables(db)
            tables = {
                table: {
                    # min/max: a TTL may drop a partition meanwhile (the only way a count shrinks).
                    "rows_min": min(info["rows"], after.get(table, info)["rows"]),
                    "rows_max": None
                    if table in unknown
                    else max(info["rows"], after.get(table, info)["rows"]),
                    "wal": info["wal"],
                    "dir": info["dir"],
                }
                for table, info in before.items()
            }
            manifest = {
                "format": FORMAT_VERSION,
                "component": "questdb",
                "name": name,
                "host": socket.gethostname(),
                "created_at": iso(created_at),
                "finished_at": iso(utcnow()),
                "questdb_version": version,
                "questdb_build": build,
                "root": str(root),
                "excluded": s.exclude,
                "method": "CHECKPOINT CREATE; tar of the server root; CHECKPOINT RELEASE",
                "checkpoint_seconds": round(checkpoint_seconds, 3),
                "duration_seconds": round(time.monotonic() - started, 3),
                "archive": {
                    "file": archive.name,
                    "compression": s.compress,
                    "bytes": hasher.size,
                    "sha256": hasher.digest.hexdigest(),
                    **stats,
                },
                "tables": tables,
            }
            final = staged.publish(manifest)
        removed = prune(backup_dir, "questdb", s.keep)
    log(
        f"backup {final} done: {human(hasher.size)} archive of {human(stats['source_bytes'])} in "
        f"{stats['files']} files, {manifest['duration_seconds']:.1f}s (checkpoint held "
        f"{checkpoint_seconds:.1f}s), {len(tables)} tables"
    )
    if stats["vanished"] or stats["padded_files"]:
        log(
            f"{stats['vanished']} files vanished and {stats['padded_files']} shrank during the copy "
            "(not checkpointed data)"
        )
    if removed:
        log(f"pruned {', '.join(removed)} (keep {s.keep})")
    if release_error:
        # The backup is good, but QuestDB still pauses its housekeeping: make the run fail visibly.
        raise BackupError(f"{release_error} (backup {final.name} is complete)")
    return 0


def release_checkpoint(db: QuestDB, marker: Path) -> str:
    """CHECKPOINT RELEASE after the copy, whatever happened to it; '' or the failure's message.

    A second SIGTERM must not interrupt the release itself: SIGTERM and SIGHUP wait meanwhile.
    """
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGHUP})
    try:
        db.exec("CHECKPOINT RELEASE")
        marker.unlink(missing_ok=True)
        log("CHECKPOINT RELEASE done")
    except BackupError as err:
        release_error = f"CHECKPOINT RELEASE failed: {err}"
        warn(f"{release_error}; the next run releases it, or run `{PROG} questdb release`")
        return release_error
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return ""


def release(s: QuestDBSettings) -> int:
    """The `release` command: CHECKPOINT RELEASE by hand (after an interrupted backup)."""
    db = connect(s)
    db.exec("CHECKPOINT RELEASE")
    (s.backup_dir / CHECKPOINT_MARKER).unlink(missing_ok=True)
    log("CHECKPOINT RELEASE done")
    return 0
