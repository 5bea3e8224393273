"""Filesystem primitives: durable writes, checksums, ownership, setting data aside."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
from pathlib import Path
from typing import Any

from .errors import BackupError

CHUNK = 1 << 20


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` to a temporary sibling, fsync it and rename it over `path`."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def parse_owner(spec: str) -> tuple[int, int] | None:
    """'user[:group]' or 'uid[:gid]' -> (uid, gid); '' -> None."""
    if not spec:
        return None
    user, _, group = spec.partition(":")
    try:
        pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError as err:
        raise BackupError(f"owner: no such user {user!r}") from err
    gid = pw.pw_gid
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError as err:
            raise BackupError(f"owner: no such group {group!r}") from err
    return pw.pw_uid, gid


def chown_tree(root: Path, uid: int, gid: int) -> None:
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def move_aside(target: Path, stamp: str) -> Path | None:
    """Move the entries of `target` (a directory, possibly a mount point) out of the way.

    Into a sibling `<name>.pre-restore-<stamp>` when that is on the same filesystem, else into
    `<target>/.pre-restore-<stamp>`; earlier `.pre-restore-*` folders inside stay where they are.
    Nothing is deleted. Returns the folder or None when there was nothing to move.
    """
    entries = [e for e in target.iterdir() if not e.name.startswith(".pre-restore-")]
    if not entries:
        return None
    sibling = target.parent / f"{target.name}.pre-restore-{stamp}"
    aside = (
        sibling
        if os.stat(target).st_dev == os.stat(target.parent).st_dev
        else target / f".pre-restore-{stamp}"
    )
    aside.mkdir(mode=0o700)
    for entry in entries:
        os.rename(entry, aside / entry.name)
    fsync_dir(aside)
    fsync_dir(target)
    return aside
