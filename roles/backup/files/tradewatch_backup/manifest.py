"""manifest.json: what a backup holds, and the check of its archive against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import BackupError
from .files import sha256_file, write_json

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def load_manifest(backup: Path) -> dict[str, Any]:
    with (backup / MANIFEST).open(encoding="utf-8") as fh:
        return dict(json.load(fh))


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    write_json(folder / MANIFEST, manifest)


def verify_archive(backup: Path, manifest: dict[str, Any]) -> Path:
    """The backup's archive, after checking that its sha256 is the manifest's."""
    archive: Path = backup / manifest["archive"]["file"]
    if not archive.is_file():
        raise BackupError(f"{archive} is missing")
    actual = sha256_file(archive)
    if actual != manifest["archive"]["sha256"]:
        raise BackupError(
            f"{archive} is damaged: sha256 {actual} differs from the manifest's "
            f"{manifest['archive']['sha256']}"
        )
    return archive
