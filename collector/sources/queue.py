"""The status channel's reading end (collector.channel): the documents the daemon's hook queued.

Each poll returns the oldest waiting document; ``commit()`` (called once its rows are in the spool)
deletes it, so a document is shipped once and none is lost while the service is down. ``backlog``
tells the poller how many more wait (it drains them in one tick). With nothing waiting for longer
than ``stale_after`` seconds after the last document's timestamp, the daemon is taken as not running
(Unreachable: a ``running=false`` row). A document that is not a status document is removed and
reported (StatusError), so it cannot block the ones behind it.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from collector.channel import document_names
from collector.models import utc_now
from collector.sources.base import BaseSource, PollResult, Snapshot, Unreachable
from collector.sources.remote import MAX_DOCUMENT_BYTES
from collector.sources.status import StatusError, parse_status


class QueueSource(BaseSource):
    def __init__(
        self,
        path: Path | str,
        *,
        name: str = "daemon",
        stale_after: float = 5.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.name = name
        self.path = Path(path)
        self.stale_after = stale_after
        self._clock = clock
        self._names: deque[str] = deque()
        self._current: Path | None = None
        self._last: datetime = clock()  # the newest document's time (start: the service's start)

    @property
    def backlog(self) -> int:
        """Documents listed and not yet read (the poller drains them within one tick)."""
        return len(self._names)

    def poll(self) -> PollResult | None:
        if self._current is not None:  # the previous one was not committed: read it again
            self._names.appendleft(self._current.name)
            self._current = None
        if not self._names:
            try:
                self._names.extend(document_names(self.path))
            except OSError as err:
                return Unreachable(
                    self.name, f"status channel unreadable: {err.strerror or err}", self._clock()
                )
        while self._names:
            path = self.path / self._names.popleft()
            try:
                with path.open("rb") as handle:
                    body = handle.read(MAX_DOCUMENT_BYTES + 1)
            except FileNotFoundError:
                continue
            except OSError as err:
                return Unreachable(
                    self.name, f"status document unreadable: {err.strerror or err}", self._clock()
                )
            try:
                status = parse_status(_json(body), received_at=self._clock())
            except StatusError:
                path.unlink(missing_ok=True)
                raise
            self._current = path
            self._last = max(self._last, status.timestamp)
            return Snapshot(self.name, status, self._clock(), _pid(status.daemon))
        now = self._clock()
        silence = (now - self._last).total_seconds()
        if silence > self.stale_after:
            return Unreachable(self.name, f"no status from the daemon for {silence:.0f}s", now)
        return None

    def commit(self) -> None:
        if self._current is not None:
            self._current.unlink(missing_ok=True)
            self._current = None


def _json(body: bytes) -> object:
    if len(body) > MAX_DOCUMENT_BYTES:
        raise StatusError("status document larger than 64 MiB")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise StatusError(f"status document is not valid JSON: {err}") from None


def _pid(section: dict[str, object] | None) -> int | None:
    pid = (section or {}).get("pid")
    return pid if type(pid) is int and pid > 0 else None
