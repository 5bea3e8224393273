"""Stopping and starting the database services around a restore."""

from __future__ import annotations

import subprocess

from .errors import BackupError


def systemctl(action: str, service: str) -> None:
    result = subprocess.run(
        ["systemctl", action, service], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise BackupError(
            f"`systemctl {action} {service}` failed ({result.returncode}): {result.stderr.strip()}"
        )
