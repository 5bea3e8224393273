"""Records of the spool: segment files, batches read from them, statistics."""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.sink.packed import count_rows, record_rows

READ_CHUNK = 1 << 20


@dataclass
class Segment:
    seq: int
    path: Path
    created: float
    size: int = 0
    rows: int = 0


@dataclass
class Batch:
    """Records read from one segment, from ``start`` to ``end`` (byte offsets), not yet acknowledged.

    ``lines`` are the records (a plain line is one row, a packed record many: ``rows`` counts rows).
    """

    seq: int
    start: int
    end: int
    start_row: int
    lines: list[bytes] = field(default_factory=list)
    items: list[Any] | None = None  # the decoded rows, when the tail cache still had them
    evicted: bool = False
    rows: int = 0


@dataclass(frozen=True)
class SpoolStats:
    rows: int
    bytes: int
    segments: int
    oldest_age_seconds: float


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def scan_segment(segment: Segment, cursor_offset: int | None) -> tuple[int, int] | None:
    """Size and rows of a segment file found at start (a torn tail is cut off), and the cursor.

    With ``cursor_offset`` (the persisted cursor is in this segment) return the cursor moved back
    to a record boundary and the rows before it.
    """
    data = segment.path.read_bytes()
    complete = data.rfind(b"\n") + 1
    if complete < len(data):  # torn tail of a write that never returned to its caller
        os.truncate(segment.path, complete)
    segment.size, segment.rows = complete, count_rows(data, 0, complete)
    if cursor_offset is None:
        return None
    offset = data.rfind(b"\n", 0, min(cursor_offset, complete)) + 1
    return offset, count_rows(data, 0, offset)


class SpoolLockedError(RuntimeError):
    """Another process holds the spool directory."""


def take_lock(path: Path) -> int:
    """An exclusive flock on ``path`` (kept for the process's life), or SpoolLockedError."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpoolLockedError(f"spool directory {path.parent} is in use by another process") from None
    return fd


class CursorFile:
    """``cursor.json`` (``{"seq", "offset", "row"}``), rewritten in place by one ``pwrite``.

    One small write at offset 0 is all-or-nothing for a killed process and needs no directory
    update; a damaged file reads as (0, 0): the spool then replays everything (DEDUP absorbs it).
    """

    WIDTH = 128

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        self._size = os.fstat(self._fd).st_size

    def load(self) -> tuple[int, int]:
        try:
            cursor = json.loads(os.pread(self._fd, 1 << 12, 0))
            return int(cursor["seq"]), int(cursor["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0, 0

    def store(self, seq: int, offset: int, row: int) -> None:
        data = json.dumps({"seq": seq, "offset": offset, "row": row}).encode().ljust(self.WIDTH)
        os.pwrite(self._fd, data, 0)
        if self._size > len(data):
            os.ftruncate(self._fd, len(data))
        self._size = len(data)

    def close(self) -> None:
        os.close(self._fd)


class SegmentReader:
    """The spool reader's descriptor of one segment at a time, and whole records read from it."""

    def __init__(self) -> None:
        self._fd: tuple[int, int] | None = None  # (segment seq, descriptor)

    def _open(self, segment: Segment) -> int:
        if self._fd is not None and self._fd[0] == segment.seq:
            return self._fd[1]
        self.close()
        fd = os.open(segment.path, os.O_RDONLY)
        self._fd = (segment.seq, fd)
        return fd

    def forget(self, seq: int) -> None:
        """Close the descriptor if it is that of segment ``seq`` (about to be deleted)."""
        if self._fd is not None and self._fd[0] == seq:
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd[1])
            self._fd = None

    def read(self, segment: Segment, offset: int, batch: Batch, max_rows: int, limit: int) -> None:
        """Append to ``batch`` the records from ``offset`` on, up to ``limit`` bytes and ``max_rows``
        rows (the first record is taken whatever its rows)."""
        fd = self._open(segment)
        pending = b""
        position = offset
        while batch.rows < max_rows and position < limit:
            chunk = os.pread(fd, min(READ_CHUNK, limit - position), position)
            if not chunk:
                return
            position += len(chunk)
            pending += chunk
            parts = pending.split(b"\n")
            pending = parts.pop()
            for part in parts:
                line = part + b"\n"
                rows = record_rows(line)
                if batch.rows and batch.rows + rows > max_rows:
                    return
                batch.lines.append(line)
                batch.end += len(line)
                batch.rows += rows
                if batch.rows >= max_rows:
                    return
