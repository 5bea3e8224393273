"""Status sources: where the daemon's status document comes from (HTTP, file, in-process, simulator).

Every source returns a :class:`PollResult` per poll: a :class:`Snapshot` of the status document
(schema in collector/README.md and :mod:`collector.sources.status`) or :class:`Unreachable` when
the daemon could not be asked (it is down, its endpoint refuses, its file is stale).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from collector.sources.status import StatusDocument


@dataclass(frozen=True)
class Snapshot:
    source: str
    status: StatusDocument
    received_at: datetime
    pid: int | None = None


@dataclass(frozen=True)
class Unreachable:
    source: str
    error: str
    at: datetime
    pid: int | None = None


PollResult = Snapshot | Unreachable


@runtime_checkable
class StatusSource(Protocol):
    """A source of status documents; ``poll()`` never raises for an unavailable daemon."""

    name: str

    def poll(self) -> PollResult | None:
        """The current status, or None when there is nothing new (e.g. a finished simulation)."""
        ...

    def commit(self) -> None:
        """The rows of the last poll are spooled (a checkpointing source may persist progress)."""
        ...

    @property
    def exhausted(self) -> bool:
        """True when the source will never produce anything again."""
        ...

    def close(self) -> None: ...


class BaseSource:
    """Defaults for sources without checkpoints or an end."""

    name = "source"

    def commit(self) -> None:
        return None

    @property
    def exhausted(self) -> bool:
        return False

    def close(self) -> None:
        return None


def read_pid_file(path: Path) -> int | None:
    """The pid in a pid file, or None when it is missing or unreadable."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
