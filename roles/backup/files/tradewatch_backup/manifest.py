"""manifest.json: what a snapshot holds, written beside the data into the snapshot itself.

Each snapshot holds two paths: the data (QuestDB's root, or the folder of Grafana's copy) and the
folder of its manifest (`<state_dir>/<component>`), so a restore on a fresh host reads the manifest
from the repository alone (`restic dump`).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from .clock import iso, utcnow
from .errors import BackupError
from .files import write_json
from .restic import Repository

MANIFEST = "manifest.json"
FORMAT_VERSION = 2


def manifest_dir(state_dir: Path, component: str) -> Path:
    folder = state_dir / component
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def write_manifest(folder: Path, component: str, fields: dict[str, Any]) -> None:
    """`<folder>/manifest.json`: the format, the component, this host and the time, then `fields`."""
    header = {"format": FORMAT_VERSION, "component": component, "host": socket.gethostname()}
    write_json(folder / MANIFEST, {**header, "created_at": iso(utcnow()), **fields})


def load_manifest(repo: Repository, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The manifest of `snapshot` (a `restic snapshots` entry), read from the repository."""
    for path in snapshot.get("paths", []):
        try:
            data = repo.dump(str(snapshot["id"]), f"{path}/{MANIFEST}")
        except BackupError:
            continue
        manifest = dict(json.loads(data))
        if manifest.get("format") != FORMAT_VERSION:
            raise BackupError(f"snapshot {snapshot['short_id']}: manifest format {manifest.get('format')}")
        return manifest
    raise BackupError(f"snapshot {snapshot['short_id']} holds no {MANIFEST} (not taken by this program)")
