"""QuestDB restore from the repository (root set aside, snapshot restored, `_restore` trigger) and its
verification."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from .clock import stamp
from .config import QuestDBSettings, RepositorySettings
from .console import PROG, log, warn
from .errors import BackupError
from .files import chown_tree, fsync_dir, move_aside, parse_owner
from .lock import exclusive_lock
from .manifest import load_manifest, manifest_dir
from .questdb_backup import TAG
from .questdb_http import QuestDB, connect, http_ok
from .systemd import systemctl

RESTORE_TRIGGER = "_restore"


def restore(s: QuestDBSettings, r: RepositorySettings, wanted: str, force: bool) -> int:
    root, service = s.root, s.service
    started = time.monotonic()
    with exclusive_lock(manifest_dir(r.state_dir, TAG)):
        snapshot = r.repository.resolve(TAG, wanted)
        manifest = load_manifest(r.repository, snapshot)
        name = snapshot["short_id"]
        log(
            f"restoring snapshot {name} of {snapshot['hostname']} (QuestDB {manifest['questdb_version']}, "
            f"taken {manifest['created_at']}) into {root}"
        )
        db = connect(s)
        owner = parse_owner(s.owner)
        root.mkdir(parents=True, exist_ok=True)
        # Fetched before anything changes (the server keeps running meanwhile): a damaged or
        # unreachable repository leaves the root as it was.
        staging = staging_folder(root)
        try:
            restored = fetch(r, snapshot, manifest["root"], staging)
            log(f"fetched snapshot {name} in {time.monotonic() - started:.1f}s")
            if service:
                check_major_version(db, manifest, force)
                log(f"stopping {service}")
                systemctl("stop", service)
            if http_ok(s.health_url):
                raise BackupError(f"QuestDB still answers {s.health_url}; stop it before restoring")
            if owner is None:
                st = os.stat(root)
                owner = (st.st_uid, st.st_gid)
            aside = put_in_place(restored, root, owner)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log(f"restored into {root} in {time.monotonic() - started:.1f}s; {RESTORE_TRIGGER} placed")
        if not service:
            log(f"start QuestDB on {root} now, then run `{PROG} questdb verify --snapshot {name}`")
            return 0
        log(f"starting {service}")
        systemctl("start", service)
        try:
            check(db, s, manifest, root, time.monotonic() + s.timeout)
        except BackupError as err:
            hint = f" The data before the restore is in {aside}." if aside else ""
            raise BackupError(f"restore of snapshot {name} not verified: {err}.{hint}") from err
    log(f"restore of snapshot {name} verified in {time.monotonic() - started:.1f}s")
    return 0


def check_major_version(db: QuestDB, manifest: dict[str, Any], force: bool) -> None:
    """The running server tells its version; QuestDB restores only within one major version."""
    try:
        version, _ = db.version()
    except BackupError:
        return  # not running: nothing to compare with
    if version.split(".")[0] != str(manifest["questdb_version"]).split(".")[0] and not force:
        raise BackupError(
            f"the backup is of QuestDB {manifest['questdb_version']}, the server runs {version}; "
            "QuestDB restores only within one major version (use --force to try anyway)"
        )


def put_in_place(restored: Path, root: Path, owner: tuple[int, int]) -> Path | None:
    """The root's current entries set aside, the restored ones moved in, the `_restore` trigger
    placed; returns the folder set aside (None when the root was empty)."""
    aside = move_aside(root, stamp())
    if aside:
        log(f"moved the current contents of {root} to {aside} (delete it once the restore is verified)")
    try:
        for entry in restored.iterdir():
            os.rename(entry, root / entry.name)
        # The documented trigger: on start QuestDB rolls the files back to the checkpoint.
        (root / RESTORE_TRIGGER).touch()
        if os.geteuid() == 0:
            chown_tree(root, *owner)
        fsync_dir(root)
    except BaseException:
        warn(f"restoring failed; the previous contents are in {aside}" if aside else "restoring failed")
        raise
    return aside


def staging_folder(root: Path) -> Path:
    """Where a snapshot is fetched: beside the root on its filesystem (its entries then move in by
    rename), or inside it when the root is a mount point (under a name restores set aside and
    backups leave out)."""
    if os.stat(root).st_dev == os.stat(root.parent).st_dev:
        return root.parent / f".{root.name}.restore-{stamp()}"
    return root / f".pre-restore-fetch-{stamp()}"


def fetch(r: RepositorySettings, snapshot: dict[str, Any], source: str, staging: Path) -> Path:
    """The snapshot's `source` folder restored under `staging` (a sibling of the root, so that its
    entries move into the root by rename); returns the restored folder."""
    r.repository.restore(str(snapshot["id"]), staging, source)
    restored = staging / source.lstrip("/")
    if not restored.is_dir():
        raise BackupError(f"snapshot {snapshot['short_id']} holds no {source}")
    return restored


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


def verify(s: QuestDBSettings, r: RepositorySettings, wanted: str) -> int:
    """The `verify` command: the running QuestDB against a snapshot's manifest."""
    snapshot = r.repository.resolve(TAG, wanted)
    check(connect(s), s, load_manifest(r.repository, snapshot), s.root, time.monotonic() + s.timeout)
    log(f"QuestDB at {s.url} matches snapshot {snapshot['short_id']}")
    return 0
