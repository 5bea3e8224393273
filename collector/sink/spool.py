"""A bounded, append-only disk spool of encoded rows (the collector's store-and-forward).

Layout of the spool directory:

- ``<seq>-<created_ms>.seg``: append-only segment files of newline-terminated records: a plain line
  is one row, a packed record (``packed.py``) many. Only the newest ("active") segment is written;
  a new one starts at ``segment_bytes`` and at every start.
- ``cursor.json``: ``{"seq", "offset", "row"}``, the first row not yet acknowledged by QuestDB
  (rewritten in place, see ``segment.CursorFile``).
  It only moves after a successful flush, so after a crash the spool replays from the cursor;
  QuestDB's DEDUP UPSERT KEYS absorb rows that were delivered but not yet acknowledged here.
- ``spool.lock``: an flock so two collectors never share one spool.

Durability: ``append()`` hands the bytes to the OS (``write(2)``) before it returns, so rows survive
the collector being killed (kill -9). ``fsync`` adds power-loss safety: ``always`` (every append),
``interval`` (every ``fsync_interval_seconds``, by the client's fsync thread; the default) or ``never``.

Bound: the sum of the segment files' sizes stays within ``max_bytes``. When full, ``drop_oldest``
deletes the oldest segment(s) (their unsent rows are dropped) and ``reject_new`` drops the incoming
rows. Every dropped row is reported through ``on_drop(count, reason)``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from collector.sink.segment import (
    Batch,
    CursorFile,
    Segment,
    SegmentReader,
    SpoolLockedError,
    SpoolStats,
    scan_segment,
    take_lock,
    write_all,
)
from collector.sink.tailcache import TailCache

__all__ = ["CURSOR_FILE", "Spool", "SpoolLockedError"]

FsyncPolicy = Literal["never", "interval", "always"]
FullPolicy = Literal["drop_oldest", "reject_new"]
DropCallback = Callable[[int, str], None]

CURSOR_FILE = "cursor.json"
LOCK_FILE = "spool.lock"
SEGMENT_SUFFIX = ".seg"


class Spool:
    """Durable FIFO of encoded rows: many writers (``append``), one reader (``read``/``commit``)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1 << 30,
        segment_bytes: int = 4 << 20,
        when_full: FullPolicy = "drop_oldest",
        fsync: FsyncPolicy = "interval",
        fsync_interval_seconds: float = 1.0,
        on_drop: DropCallback | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.when_full = when_full
        self.fsync_policy = fsync
        self.fsync_interval = fsync_interval_seconds
        self._on_drop = on_drop or (lambda count, reason: None)
        self._clock = clock
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        self._segments: list[Segment] = []
        self._cursor_offset = 0
        self._cursor_row = 0
        self._inflight: Batch | None = None
        self._appended = 0  # rows ever appended (plus those recovered at start)
        self._settled = 0  # rows acknowledged, dead-lettered or dropped since start
        self._bytes = 0  # sum of the segments' sizes
        self._reader = SegmentReader()
        self._dirty = False
        self._last_sync = time.monotonic()
        self._cache = TailCache()
        self._unsynced: list[int] = []  # rotated segments' descriptors awaiting fsync (interval policy)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = take_lock(self.directory / LOCK_FILE)
        self._cursor_file = CursorFile(self.directory / CURSOR_FILE)
        self._recover()
        self._active_fd = self._open_new_segment()

    # --- startup ---------------------------------------------------------------------------------

    def _recover(self) -> None:
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        found = []
        for path in self.directory.glob(f"*{SEGMENT_SUFFIX}"):
            seq_text, _, created_text = path.stem.partition("-")
            if seq_text.isdigit() and created_text.isdigit():
                found.append(Segment(int(seq_text), path, int(created_text) / 1000))
        found.sort(key=lambda s: s.seq)
        seq, offset = self._load_cursor()
        for segment in found:
            if segment.seq < seq:
                segment.path.unlink(missing_ok=True)  # delivered before the last stop
                continue
            cursor = scan_segment(segment, offset if segment.seq == seq and not self._segments else None)
            if segment.rows == 0:
                segment.path.unlink(missing_ok=True)
                continue
            if cursor is not None:
                self._cursor_offset, self._cursor_row = cursor
            self._segments.append(segment)
            self._bytes += segment.size
        self._appended = self._pending_rows()
        self._persist_cursor()

    def _load_cursor(self) -> tuple[int, int]:
        return self._cursor_file.load()

    def _open_new_segment(self) -> int:
        seq = self._segments[-1].seq + 1 if self._segments else self._load_cursor()[0] + 1
        created = self._clock()
        path = self.directory / f"{seq:016d}-{int(created * 1000)}{SEGMENT_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._segments.append(Segment(seq, path, created))
        if self.fsync_policy == "always":
            self._sync_dir()
        return fd

    # --- writer side -----------------------------------------------------------------------------

    def append(
        self, lines: Sequence[bytes], items: Sequence[Any] | None = None, counts: Sequence[int] | None = None
    ) -> int:
        """Append encoded records (each ending in a newline) in one write; return the rows accepted.

        ``counts`` are the rows of each record (default: one each; a packed record holds many).
        ``items`` (the decoded rows, in order) may be kept in memory for the reader.
        """
        return self.append_located(lines, items, counts)[0]

    def append_located(
        self, lines: Sequence[bytes], items: Sequence[Any] | None = None, counts: Sequence[int] | None = None
    ) -> tuple[int, int, int]:
        """append(), returning (rows accepted, segment seq, byte offset where the records start)."""
        if not lines:
            return 0, 0, 0
        rows = len(lines) if counts is None else sum(counts)
        data = b"".join(lines)
        with self._lock:
            if not self._make_room(len(data)):
                self._on_drop(rows, "spool_full")
                return 0, 0, 0
            active = self._segments[-1]
            if active.size and active.size + len(data) > self.segment_bytes:
                self._rotate()
                active = self._segments[-1]
            if not active.rows:
                active.created = self._clock()  # the spool's age counts from the first row written
            write_all(self._active_fd, data)
            if items is not None:
                per_line = None if counts is None else list(counts)
                self._cache.add(active.seq, active.size, list(lines), list(items), per_line)
            start = active.size
            active.size += len(data)
            self._bytes += len(data)
            active.rows += rows
            self._appended += rows
            if self.fsync_policy == "always":
                os.fsync(self._active_fd)
            else:
                self._dirty = True
            self.changed.notify_all()
        return rows, active.seq, start

    def _total_bytes(self) -> int:
        return self._bytes

    def _make_room(self, incoming: int) -> bool:
        if self._total_bytes() + incoming <= self.max_bytes:
            return True
        if self.when_full == "reject_new":
            return False
        while self._total_bytes() + incoming > self.max_bytes:
            if len(self._segments) > 1:
                self._evict_oldest()
            elif self._segments[-1].size:
                self._rotate()
            else:
                return False
        return True

    def _rotate(self) -> None:
        if self.fsync_policy == "interval":
            self._unsynced.append(self._active_fd)  # fsynced by the next sync(), outside the lock
        else:
            os.close(self._active_fd)  # "always" synced every append already
        self._active_fd = self._open_new_segment()

    def _evict_oldest(self) -> None:
        oldest = self._segments.pop(0)
        self._bytes -= oldest.size
        unsent = oldest.rows - self._cursor_row
        inflight = self._inflight
        if inflight is not None and inflight.seq == oldest.seq:
            inflight.evicted = True
            unsent -= inflight.rows  # counted when the flight fails (sent when it succeeds)
        self._reader.forget(oldest.seq)
        oldest.path.unlink(missing_ok=True)
        self._cursor_offset, self._cursor_row = 0, 0
        self._persist_cursor()
        if unsent > 0:
            self._settled += unsent
            self._on_drop(unsent, "spool_full")

    # --- reader side -----------------------------------------------------------------------------

    def read(self, max_rows: int, stop: tuple[int, int] | None = None) -> Batch | None:
        """The next unacknowledged records of one segment, or None when empty.

        At most ``max_rows`` rows, unless the first record alone holds more (records are not split),
        and not past the position ``stop`` (seq, offset) if that is ahead of the cursor.
        """
        with self._lock:
            if self._inflight is not None:
                raise RuntimeError("the previous batch is neither committed nor abandoned")
            while True:
                head = self._segments[0]
                if self._cursor_offset < head.size:
                    break
                if len(self._segments) == 1:
                    return None
                self._drop_consumed_head()
            batch = Batch(head.seq, self._cursor_offset, self._cursor_offset, self._cursor_row)
            self._inflight = batch
            cached = self._cache.take(head.seq, self._cursor_offset, max_rows)
            if cached is not None:
                batch.lines, batch.items = cached
                batch.end += sum(len(line) for line in batch.lines)
                batch.rows = len(batch.items)
                return batch
            limit = head.size
            if stop is not None and stop[0] == head.seq and self._cursor_offset < stop[1] < head.size:
                limit = stop[1]
            try:
                self._reader.read(head, self._cursor_offset, batch, max_rows, limit)
            except BaseException:
                self._inflight = None  # nothing was taken: the next read() tries again
                raise
            return batch

    def position(self) -> tuple[int, int]:
        """The cursor: (segment seq, byte offset) of the first record not yet acknowledged."""
        with self._lock:
            while self._cursor_offset >= self._segments[0].size and len(self._segments) > 1:
                self._drop_consumed_head()
            return self._segments[0].seq, self._cursor_offset

    def claim(self, seq: int, start: int, end: int, rows: int, lines: list[bytes]) -> Batch | None:
        """Take the records at [start, end) of segment ``seq`` in flight if the cursor is at ``start``.

        For a reader that already holds the records (the staged batches); None if they are not next.
        """
        with self._lock:
            if self._inflight is not None:
                raise RuntimeError("the previous batch is neither committed nor abandoned")
            while self._cursor_offset >= self._segments[0].size and len(self._segments) > 1:
                self._drop_consumed_head()
            head = self._segments[0]
            if head.seq != seq or self._cursor_offset != start or end > head.size:
                return None
            batch = Batch(seq, start, end, self._cursor_row, lines, rows=rows)
            self._inflight = batch
            return batch

    def _drop_consumed_head(self) -> None:
        head = self._segments.pop(0)
        self._bytes -= head.size
        self._reader.forget(head.seq)
        head.path.unlink(missing_ok=True)
        self._cursor_offset, self._cursor_row = 0, 0
        self._persist_cursor()

    def commit(self, batch: Batch) -> None:
        """The batch reached QuestDB (or the dead-letter file): move the cursor past it."""
        with self._lock:
            self._inflight = None
            self._settled += batch.rows
            self.changed.notify_all()
            if batch.evicted:
                return
            self._cursor_offset = batch.end
            self._cursor_row = batch.start_row + batch.rows
            head = self._segments[0]
            if self._cursor_offset >= head.size and len(self._segments) > 1:
                self._drop_consumed_head()
            else:
                self._persist_cursor()

    def abandon(self, batch: Batch) -> None:
        """Give up an evicted batch whose delivery failed: its rows are dropped (spool full)."""
        with self._lock:
            self._inflight = None
            if batch.evicted:
                self._settled += batch.rows
                self.changed.notify_all()
        if batch.evicted and batch.rows:
            self._on_drop(batch.rows, "spool_full")

    def release(self, batch: Batch) -> None:
        """Put an undelivered batch back: the next read() starts at the same rows again."""
        with self._lock:
            if self._inflight is batch:
                self._inflight = None
            if batch.evicted and batch.rows:
                self._settled += batch.rows
                self._on_drop(batch.rows, "spool_full")
            self.changed.notify_all()

    def appended_total(self) -> int:
        with self._lock:
            return self._appended

    def wait_settled(self, target: int, timeout: float | None) -> bool:
        """Wait until ``target`` rows (see appended_total) are acknowledged, dead-lettered or dropped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._settled < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.changed.wait(remaining)
            return True

    def _persist_cursor(self) -> None:
        seq = self._segments[0].seq if self._segments else self._load_cursor()[0]
        self._cursor_file.store(seq, self._cursor_offset, self._cursor_row)

    # --- housekeeping ----------------------------------------------------------------------------

    def pending_rows(self) -> int:
        with self._lock:
            return self._pending_rows()

    def _pending_rows(self) -> int:
        return sum(segment.rows for segment in self._segments) - self._cursor_row

    def stats(self) -> SpoolStats:
        with self._lock:
            rows = self._pending_rows()
            age = max(0.0, self._clock() - self._segments[0].created) if rows else 0.0
            return SpoolStats(rows, self._total_bytes(), len(self._segments), age)

    def maybe_sync(self) -> None:
        """fsync the active segment if the ``interval`` policy is due (the client's fsync thread)."""
        if self.fsync_policy != "interval" or not self._dirty:
            return
        if time.monotonic() - self._last_sync < self.fsync_interval:
            return
        self.sync()

    def sync(self) -> None:
        """fsync what was written so far; the lock is not held while the disk works."""
        with self._lock:
            if self._active_fd < 0 or self.fsync_policy == "never":
                return
            fds, self._unsynced = [*self._unsynced, os.dup(self._active_fd)], []
            self._dirty = False
            self._last_sync = time.monotonic()
        for fd in fds:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sync()
        with self._lock:
            if self._active_fd < 0:
                return
            os.close(self._active_fd)
            self._active_fd = -1
            self._reader.close()
            self._cursor_file.close()
            os.close(self._lock_fd)
