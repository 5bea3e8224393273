"""The dead-letter file: rows QuestDB (or the client) rejected, one JSON object per line, with the reason.

Each line: ``{"at": ISO-8601 UTC, "table", "reason", "error_code", "row": {...}}`` where ``row`` is
the row as the collector would have written it (or ``"raw"``, the base64 of a spool record that
could not be unpacked, with the ``"rows"`` it held). Rows land here once: they are never retried.
The file is append-only and is not rotated by the collector (its size is exported as a metric; ship
or rotate it with logrotate ``copytruncate``).
"""

from __future__ import annotations

import binascii
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from collector.sink.rows import Row, row_as_json


@dataclass(frozen=True)
class Rejected:
    """A row that will not be retried, and why."""

    reason: str
    error_code: str
    row: Row | None = None
    raw: bytes | None = None
    count: int = 1  # rows behind it (a damaged packed record stands for all of its rows)

    @property
    def table(self) -> str:
        return self.row.table if self.row is not None else "unknown"


class DeadLetterFile:
    def __init__(self, path: Path, *, fsync: bool = False, clock: Callable[[], float] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._clock = clock
        self._lock = threading.Lock()

    def write(self, rejected: Sequence[Rejected]) -> None:
        if not rejected:
            return
        now = datetime.fromtimestamp(self._clock(), UTC) if self._clock else datetime.now(UTC)
        lines = []
        for item in rejected:
            entry: dict[str, object] = {
                "at": now.isoformat(),
                "table": item.table,
                "reason": item.reason,
                "error_code": item.error_code,
            }
            if item.row is not None:
                entry["row"] = row_as_json(item.row)
            if item.raw is not None:
                entry["raw"] = binascii.b2a_base64(item.raw, newline=False).decode("ascii")
                entry["rows"] = item.count
            lines.append(json.dumps(entry, ensure_ascii=True, default=str) + "\n")
        data = "".join(lines).encode("ascii")
        with self._lock, open(self.path, "ab", opener=_private) as file:
            file.write(data)
            file.flush()
            if self._fsync:
                os.fsync(file.fileno())

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read(self) -> list[dict[str, object]]:
        """All entries (for tests and tooling)."""
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o640)
