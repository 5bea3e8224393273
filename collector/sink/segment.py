"""Records of the spool: segment files, batches read from them, statistics."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Segment:
    seq: int
    path: Path
    created: float
    size: int = 0
    rows: int = 0


@dataclass
class Batch:
    """Rows read from one segment, from ``start`` to ``end`` (byte offsets), not yet acknowledged."""

    seq: int
    start: int
    end: int
    start_row: int
    lines: list[bytes] = field(default_factory=list)
    items: list[Any] | None = None  # the decoded rows, when the tail cache still had them
    evicted: bool = False


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
