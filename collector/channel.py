"""The status channel between the daemon's process and the collector service: a directory of files.

The hook in the daemon's process (collector.ccxt.hook) writes one JSON status document per poll as a
file of its own: first as a hidden temporary file, then renamed, so a reader never sees half of one.
Names sort by time, so the oldest is read first. The collector service (collector.sources.queue)
reads them in order and deletes each once its rows are in the collector's spool, so nothing is lost
while the service restarts: the documents wait, up to ``max_documents`` of them. When the directory
is full the writer drops the new document and counts it; the count travels in the next document
that gets through (``meta.dropped_before``: the documents dropped since the previous one), so the
collector, which reads each document once, counts every drop once.

The directory belongs to the collector role (group-writable for the daemon's user, setgid, so the
files get the group the collector reads with); the daemon's process holds no QuestDB credentials.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SUFFIX = ".json"
RECOUNT_EVERY = 32  # puts between two listings of the directory (a listing costs ~1 µs per file)


def document_names(path: Path) -> list[str]:
    """The complete documents in ``path``, oldest first."""
    return sorted(n for n in os.listdir(path) if n.endswith(SUFFIX) and not n.startswith("."))


class QueueWriter:
    """Writes status documents into the channel directory (in the daemon's process)."""

    def __init__(self, path: Path | str, *, max_documents: int = 3600, mode: int = 0o640) -> None:
        self.path = Path(path)
        self.max_documents = max_documents
        self.mode = mode
        self.dropped = 0  # cumulative, for the hook's own statistics
        self.written = 0
        self._unreported = 0
        self._seq = itertools.count()
        self._estimate: int | None = None
        self._since_count = 0

    def _queued(self) -> int:
        """How many documents wait (recounted now and then; in between, each put adds one)."""
        if (
            self._estimate is None
            or self._since_count >= RECOUNT_EVERY
            or self._estimate >= self.max_documents
        ):
            self._estimate = len(document_names(self.path))
            self._since_count = 0
        return self._estimate

    def put(self, document: Mapping[str, Any]) -> bool:
        """Write one document; False (and counted) when the directory holds ``max_documents`` already."""
        if self._queued() >= self.max_documents:
            self.dropped += 1
            self._unreported += 1
            return False
        meta = {**(document.get("meta") or {}), "dropped_before": self._unreported}
        data = json.dumps({**document, "meta": meta}, separators=(",", ":"), default=str).encode()
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):08d}{SUFFIX}"
        temporary = self.path / f".{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.mode)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(temporary, self.path / name)
        self._unreported = 0
        self.written += 1
        self._since_count += 1
        self._estimate = (self._estimate or 0) + 1
        return True
