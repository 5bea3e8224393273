"""QuestDB backup: CHECKPOINT CREATE, a restic snapshot of the server root, CHECKPOINT RELEASE."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from .clock import iso, utcnow
from .config import QuestDBSettings, RepositorySettings
from .console import PROG, human, log, warn
from .errors import BackupError
from .lock import exclusive_lock
from .manifest import manifest_dir, write_manifest
from .questdb_http import QuestDB, connect
from .report import Outcome

# Written into the state folder while our checkpoint is held; lets the next run release a
# checkpoint that a killed run left behind (and only that one).
CHECKPOINT_MARKER = ".checkpoint-held"
TAG = "questdb"


def count_tables(db: QuestDB) -> dict[str, dict[str, Any]]:
    return {
        t["table_name"]: {
            "rows": db.count(t["table_name"]),
            "wal": bool(t["walEnabled"]),
            "dir": t["directoryName"],
        }
        for t in db.tables()
    }


def row_ranges(db: QuestDB, before: dict[str, dict[str, Any]], seq: dict[str, int], deadline: float) -> dict:
    """Each table's row count range in the checkpoint: [count before CHECKPOINT CREATE, count once
    every transaction sequenced at the checkpoint has been applied]. A table whose WAL is suspended
    or late gets no upper bound (the backup is still good)."""
    unknown = db.wait_wal({t: s for t, s in seq.items() if t in before}, deadline, strict=False)
    for table, why in unknown.items():
        warn(f"{table}: {why}; its row count is recorded as a lower bound only")
    after = count_tables(db)
    return {
        table: {
            # min/max: a TTL may drop a partition meanwhile (the only way a count shrinks).
            "rows_min": min(info["rows"], after.get(table, info)["rows"]),
            "rows_max": None if table in unknown else max(info["rows"], after.get(table, info)["rows"]),
            "wal": info["wal"],
            "dir": info["dir"],
        }
        for table, info in before.items()
    }


def backup(s: QuestDBSettings, r: RepositorySettings, outcome: Outcome) -> int:
    root = s.root
    if not (root / "db").is_dir():
        raise BackupError(f"{root} is not a QuestDB root (no db/ folder)")
    db = connect(s)
    r.repository.require()
    started = time.monotonic()
    folder = manifest_dir(r.state_dir, TAG)
    with exclusive_lock(folder):
        version, build = db.version()
        marker = folder / CHECKPOINT_MARKER
        if db.checkpoint_in_progress():
            if not marker.exists():
                raise BackupError(
                    "QuestDB is already in checkpoint mode and not by this program (another backup or "
                    "snapshot tool?). Wait for it, or run `CHECKPOINT RELEASE` if it is stale."
                )
            warn("releasing the checkpoint a previous, interrupted run left behind")
            db.exec("CHECKPOINT RELEASE")
        marker.unlink(missing_ok=True)

        # Lower bound of each table's rows: counts only grow while the checkpoint is taken.
        before = count_tables(db)
        marker.write_text(f"{iso(utcnow())}\n")
        db.exec("CHECKPOINT CREATE")
        cp_started = time.monotonic()
        try:
            # The manifest (with the upper bounds) goes into the same snapshot, so it is written first:
            # the WAL catch-up it waits for is short, and QuestDB keeps writing meanwhile.
            seq = {t: seq for t, (_w, seq, _s) in db.wal_state().items()}
            tables = row_ranges(db, before, seq, time.monotonic() + s.timeout)
            write_manifest(
                folder,
                TAG,
                {
                    "questdb_version": version,
                    "questdb_build": build,
                    "root": str(root),
                    "excluded": s.exclude,
                    "method": "CHECKPOINT CREATE; restic backup of the server root; CHECKPOINT RELEASE",
                    "tables": tables,
                },
            )
            log(f"CHECKPOINT CREATE done; restic backup of {root} to {r.repository.location}")
            exclude = [f"{root}/{pattern}" for pattern in s.exclude] + [f"{folder}/.lock", str(marker)]
            summary = r.repository.backup([str(root), str(folder)], TAG, exclude)
        finally:
            release_error = release_checkpoint(db, marker)
        checkpoint_seconds = time.monotonic() - cp_started
    outcome.record(summary)
    log(
        f"snapshot {outcome.snapshot_id}: {human(outcome.bytes_added)} added for "
        f"{human(outcome.bytes_processed)} in {summary['total_files_processed']} files, "
        f"{time.monotonic() - started:.1f}s (checkpoint held {checkpoint_seconds:.1f}s), {len(tables)} tables"
    )
    if summary["partial"]:
        outcome.error = "some files could not be read (not checkpointed data); see the journal"
    if release_error:
        # The backup is good, but QuestDB still pauses its housekeeping: make the run fail visibly.
        raise BackupError(f"{release_error} (snapshot {outcome.snapshot_id} is complete)")
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


def release(s: QuestDBSettings, r: RepositorySettings) -> int:
    """The `release` command: CHECKPOINT RELEASE by hand (after an interrupted backup)."""
    db = connect(s)
    db.exec("CHECKPOINT RELEASE")
    (manifest_dir(r.state_dir, TAG) / CHECKPOINT_MARKER).unlink(missing_ok=True)
    log("CHECKPOINT RELEASE done")
    return 0
