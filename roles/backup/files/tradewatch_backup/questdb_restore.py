"""QuestDB restore (root set aside, archive unpacked, `_restore` trigger) and its verification."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from .archive import extract, open_archive_for_reading
from .clock import stamp
from .config import QuestDBSettings
from .console import PROG, human, log, warn
from .errors import BackupError
from .files import chown_tree, fsync_dir, move_aside, parse_owner
from .lock import exclusive_lock
from .manifest import load_manifest, verify_archive
from .questdb_http import QuestDB, connect, http_ok
from .rotation import resolve_backup
from .systemd import systemctl

RESTORE_TRIGGER = "_restore"


def restore(s: QuestDBSettings, name: str, force: bool) -> int:
    root, service = s.root, s.service
    started = time.monotonic()
    with exclusive_lock(s.backup_dir):
        backup = resolve_backup(s.backup_dir, "questdb", name)
        manifest = load_manifest(backup)
        log(
            f"restoring {backup.name} (QuestDB {manifest['questdb_version']}, "
            f"taken {manifest['created_at']}) into {root}"
        )
        archive = verify_archive(backup, manifest)
        db = connect(s)
        owner = parse_owner(s.owner)

        if service:
            # The running server tells us its version; restores work only within one major version.
            with contextlib.suppress(BackupError):
                version, _ = db.version()
                if version.split(".")[0] != str(manifest["questdb_version"]).split(".")[0] and not force:
                    raise BackupError(
                        f"the backup is of QuestDB {manifest['questdb_version']}, the server runs {version}; "
                        "QuestDB restores only within one major version (use --force to try anyway)"
                    )
            log(f"stopping {service}")
            systemctl("stop", service)
        if http_ok(s.health_url):
            raise BackupError(f"QuestDB still answers {s.health_url}; stop it before restoring")

        root.mkdir(parents=True, exist_ok=True)
        if owner is None:
            st = os.stat(root)
            owner = (st.st_uid, st.st_gid)
        aside = move_aside(root, stamp())
        if aside:
            log(f"moved the current contents of {root} to {aside} (delete it once the restore is verified)")
        try:
            with open_archive_for_reading(archive, manifest["archive"]["compression"]) as tar:
                extract(tar, root)
            # The documented trigger: on start QuestDB rolls the files back to the checkpoint.
            (root / RESTORE_TRIGGER).touch()
            if os.geteuid() == 0:
                chown_tree(root, *owner)
            fsync_dir(root)
        except BaseException:
            warn(f"unpacking failed; the previous contents are in {aside}" if aside else "unpacking failed")
            raise
        unpack_seconds = time.monotonic() - started
        log(
            f"unpacked {human(manifest['archive']['bytes'])} into {root} in {unpack_seconds:.1f}s; "
            f"{RESTORE_TRIGGER} placed"
        )
        if not service:
            log(f"start QuestDB on {root} now, then run `{PROG} questdb verify --backup {backup.name}`")
            return 0
        log(f"starting {service}")
        systemctl("start", service)
        try:
            check(db, s, manifest, root, time.monotonic() + s.timeout)
        except BackupError as err:
            hint = f" The data before the restore is in {aside}." if aside else ""
            raise BackupError(f"restore of {backup.name} not verified: {err}.{hint}") from err
    log(f"restore of {backup.name} verified in {time.monotonic() - started:.1f}s")
    return 0


def check(db: QuestDB, s: QuestDBSettings, manifest: dict[str, Any], root: Path, deadline: float) -> None:
    """Health, trigger consumed, every table present with a row count inside the manifest's range."""
    if s.health_url:
        db.wait_healthy(s.health_url, deadline)
    else:
        db.rows("SELECT 1")
    if (root / RESTORE_TRIGGER).exists():
        raise BackupError(
            f"{root / RESTORE_TRIGGER} is still there: QuestDB did not run its checkpoint recovery"
        )
    expected: dict[str, dict[str, Any]] = manifest["tables"]
    wal = db.wal_state()
    db.wait_wal({t: wal[t][1] for t in expected if t in wal}, deadline)
    live = {t["table_name"] for t in db.tables()}
    problems = []
    for table, info in sorted(expected.items()):
        if table not in live:
            problems.append(f"{table}: missing")
            continue
        rows = db.count(table)
        low, high = info["rows_min"], info["rows_max"]
        ok = low <= rows and (high is None or rows <= high)
        span = str(low) if low == high else f"{low}..{'' if high is None else high}"
        log(f"  {table}: {rows} rows (backup: {span}) {'ok' if ok else 'MISMATCH'}")
        if not ok:
            problems.append(f"{table}: {rows} rows, expected {span}")
    if problems:
        raise BackupError("; ".join(problems))


def verify(s: QuestDBSettings, name: str) -> int:
    """The `verify` command: the running QuestDB against a backup's manifest."""
    backup = resolve_backup(s.backup_dir, "questdb", name)
    manifest = load_manifest(backup)
    check(connect(s), s, manifest, s.root, time.monotonic() + s.timeout)
    log(f"QuestDB at {s.url} matches {backup.name}")
    return 0
