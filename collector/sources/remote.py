"""Out-of-process status sources: the daemon's HTTP JSON endpoint, or a JSON file it writes."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from collector.models import utc_now
from collector.sources.base import BaseSource, PollResult, Snapshot, Unreachable, read_pid_file
from collector.sources.status import StatusError, parse_status

MAX_DOCUMENT_BYTES = 64 << 20


class HttpStatusSource(BaseSource):
    """GET ``url`` and parse the JSON body; connection errors and non-200 answers are Unreachable.

    A body that is not a status document raises StatusError (the daemon answered, but wrongly).
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "daemon",
        timeout: float = 2.0,
        pid_file: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.name = name
        self.url = url
        self.timeout = timeout
        self.pid_file = pid_file
        self._clock = clock

    def poll(self) -> PollResult:
        pid = read_pid_file(self.pid_file) if self.pid_file else None
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read(MAX_DOCUMENT_BYTES + 1)
        except urllib.error.HTTPError as err:
            return Unreachable(self.name, f"status endpoint answered HTTP {err.code}", self._clock(), pid)
        except (OSError, urllib.error.URLError) as err:
            reason = getattr(err, "reason", err)
            return Unreachable(self.name, f"status endpoint unreachable: {reason}", self._clock(), pid)
        received = self._clock()
        if len(body) > MAX_DOCUMENT_BYTES:
            return Unreachable(self.name, "status document larger than 64 MiB", received, pid)
        return Snapshot(self.name, parse_status(_json(body), received_at=received), received, pid)


class FileStatusSource(BaseSource):
    """Read the JSON file the daemon (re)writes; a missing file or one older than
    ``stale_after`` seconds (by its ``timestamp``, else its mtime) means the daemon is not running.
    The daemon should write a temporary file and rename it, so readers never see half a document.
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str = "daemon",
        stale_after: float = 15.0,
        pid_file: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.name = name
        self.path = Path(path)
        self.stale_after = stale_after
        self.pid_file = pid_file
        self._clock = clock

    def poll(self) -> PollResult:
        pid = read_pid_file(self.pid_file) if self.pid_file else None
        now = self._clock()
        try:
            with self.path.open("rb") as handle:
                mtime = datetime.fromtimestamp(os.fstat(handle.fileno()).st_mtime, UTC)
                body = handle.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as err:
            return Unreachable(self.name, f"status file unreadable: {err.strerror or err}", now, pid)
        status = parse_status(_json(body), received_at=mtime)
        age = (now - status.timestamp).total_seconds()
        if age > self.stale_after:
            return Unreachable(self.name, f"status file stale: last written {age:.1f}s ago", now, pid)
        return Snapshot(self.name, status, now, pid)


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise StatusError(f"status document is not valid JSON: {err}") from None
