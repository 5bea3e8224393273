"""The backups of one folder: naming, listing, choosing one, pruning old and unfinished ones."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .clock import stamp
from .console import human
from .errors import BackupError
from .files import fsync_dir
from .manifest import MANIFEST, load_manifest, write_manifest

NAME_RE = re.compile(r"^(questdb|grafana)-\d{8}T\d{6}Z$")


def new_backup_name(component: str, backup_dir: Path) -> str:
    while True:
        name = f"{component}-{stamp()}"
        if not (backup_dir / name).exists():
            return name
        time.sleep(0.2)


def partial_folder(backup_dir: Path, name: str) -> Path:
    """Where a backup is written before it is renamed to `name` (complete)."""
    return backup_dir / f".{name}.partial"


@dataclass(frozen=True)
class StagedBackup:
    """A backup being written: `folder` (hidden, `.<name>.partial`) becomes `<name>` on publish()."""

    name: str
    folder: Path

    def publish(self, manifest: dict[str, Any]) -> Path:
        """Write the manifest, make it durable and rename the folder to its final name."""
        write_manifest(self.folder, manifest)
        fsync_dir(self.folder)
        final = self.folder.parent / self.name
        self.folder.rename(final)
        fsync_dir(final.parent)
        return final


@contextmanager
def staged_backup(backup_dir: Path, component: str) -> Iterator[StagedBackup]:
    """A new backup folder of `component` (call under the lock); removed if the block raises, so that
    a backup either is complete under its final name or does not exist."""
    clear_partials(backup_dir, component)
    name = new_backup_name(component, backup_dir)
    staged = StagedBackup(name, partial_folder(backup_dir, name))
    staged.folder.mkdir(mode=0o700)
    try:
        yield staged
    except BaseException:
        shutil.rmtree(staged.folder, ignore_errors=True)
        raise


def list_backups(backup_dir: Path, component: str) -> list[Path]:
    """Complete backups (name matches, manifest present), oldest first."""
    if not backup_dir.is_dir():
        return []
    found = [
        p
        for p in backup_dir.iterdir()
        if p.is_dir()
        and NAME_RE.match(p.name)
        and p.name.startswith(component + "-")
        and (p / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def resolve_backup(backup_dir: Path, component: str, name: str) -> Path:
    """The backup named `name`, or the newest for '' and 'latest'."""
    backups = list_backups(backup_dir, component)
    if not backups:
        raise BackupError(f"no {component} backup in {backup_dir}")
    if name in ("", "latest"):
        return backups[-1]
    for path in backups:
        if path.name == name:
            return path
    raise BackupError(
        f"no backup named {name!r} in {backup_dir}; available: {', '.join(p.name for p in backups)}"
    )


def clear_partials(backup_dir: Path, component: str) -> None:
    """Delete what interrupted runs left (called under the lock: no other run is writing)."""
    for stale in backup_dir.glob(f".{component}-*.partial"):
        shutil.rmtree(stale, ignore_errors=True)


def prune(backup_dir: Path, component: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` backups."""
    clear_partials(backup_dir, component)
    removed = []
    backups = list_backups(backup_dir, component)
    for old in backups[: max(0, len(backups) - keep)]:
        shutil.rmtree(old)
        removed.append(old.name)
    return removed


def print_backups(component: str, backup_dir: Path) -> int:
    """The `list` command: one line per backup, oldest first."""
    for path in list_backups(backup_dir, component):
        manifest = load_manifest(path)
        print(
            f"{path.name}\t{human(manifest['archive']['bytes'])}\t{manifest['duration_seconds']}s\t"
            f"{len(manifest.get('tables', {}))} tables"
        )
    return 0
