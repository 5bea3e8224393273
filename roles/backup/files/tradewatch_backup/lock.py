"""One run per backup folder at a time."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from .console import PROG
from .errors import BackupError


@contextlib.contextmanager
def exclusive_lock(directory: Path) -> Iterator[None]:
    """Hold `<directory>/.lock` (created with the folder when missing); fail at once when taken."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise BackupError(f"another {PROG} run holds {directory / '.lock'}") from err
        yield
    finally:
        os.close(fd)
