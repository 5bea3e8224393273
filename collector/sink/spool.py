"""A bounded disk spool of packed records (the collector's store-and-forward), in SQLite.

The spool is one SQLite database, ``spool.db`` in the spool directory, in WAL mode: a table of
records (``id``, the rows it holds, when it was written, the packed rows: ``packed.py``). Writers
append records in one transaction; the one reader takes the oldest ones in flight and deletes them
once QuestDB acknowledged them, so what the table holds is exactly what is not yet delivered.
QuestDB's DEDUP UPSERT KEYS absorb rows that were delivered but whose deletion a crash prevented.
An flock on ``spool.lock`` keeps two collectors from sharing one spool.

Durability: an append returns after SQLite wrote its transaction to the WAL file (``write(2)``), so
rows survive the collector being killed (kill -9); SQLite recovers a torn WAL by itself. Writers
never checkpoint: ``checkpoint()``, called by the client's fsync thread every
``fsync_interval_seconds`` on a connection of its own, copies the WAL into the database while the
writers go on. ``fsync`` adds power-loss safety: ``always`` (SQLite syncs every commit),
``interval`` (each checkpoint syncs the WAL, then the database; the default) or ``never``.

Bound: the records' packed bytes stay within ``max_bytes``. When full, ``drop_oldest`` deletes the
oldest records (their rows are dropped) and ``reject_new`` drops the incoming rows. Every dropped
row is reported through ``on_drop(count, reason)``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["DATABASE", "Batch", "Spool", "SpoolLockedError", "SpoolStats"]

FsyncPolicy = Literal["never", "interval", "always"]
FullPolicy = Literal["drop_oldest", "reject_new"]
DropCallback = Callable[[int, str], None]

DATABASE = "spool.db"
LOCK_FILE = "spool.lock"
log = logging.getLogger("collector.spool")
_SYNCHRONOUS = {"always": "FULL", "interval": "NORMAL", "never": "OFF"}


class SpoolLockedError(RuntimeError):
    """Another process holds the spool."""


@dataclass
class Batch:
    """Records ``first`` to ``last`` (ids) taken in flight, holding ``rows`` rows."""

    first: int
    last: int
    rows: int = 0
    records: list[bytes] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # rows per record
    evicted: bool = False  # dropped from a full spool while in flight


@dataclass(frozen=True)
class SpoolStats:
    rows: int
    bytes: int
    records: int
    oldest_age_seconds: float


class Spool:
    """Durable FIFO of packed records: many writers (``append``), one reader (``read``/``commit``)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1 << 30,
        when_full: FullPolicy = "drop_oldest",
        fsync: FsyncPolicy = "interval",
        fsync_interval_seconds: float = 1.0,
        on_drop: DropCallback | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.when_full = when_full
        self.fsync_policy = fsync
        self.fsync_interval = fsync_interval_seconds
        self._on_drop = on_drop or (lambda count, reason: None)
        self._clock = clock
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        self._inflight: Batch | None = None
        self._dirty = False
        self._last_sync = time.monotonic()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _take_lock(self.directory / LOCK_FILE)
        path = self.directory / DATABASE
        try:
            try:
                self._db, (count, rows, size) = _open(path, fsync)
            except sqlite3.DatabaseError as err:
                if isinstance(err, sqlite3.OperationalError):  # cannot open it (permissions, disk)
                    raise
                _move_aside(path, f"damaged-{int(self._clock())}", err)
                self._db, (count, rows, size) = _open(path, fsync)
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._checkpointer: sqlite3.Connection | None = _connect(path, fsync)
        self._checkpoint_lock = threading.Lock()
        os.chmod(path, 0o640)
        self._records, self._rows, self._bytes = int(count), int(rows), int(size)
        self._appended = self._rows  # rows ever appended (plus those found at start)
        self._settled = 0  # rows acknowledged, dead-lettered or dropped since start

    # --- writer side -----------------------------------------------------------------------------

    def append(self, records: Sequence[bytes], counts: Sequence[int]) -> tuple[int, int]:
        """Append packed records (of ``counts`` rows) in one transaction; return the rows accepted
        and the id of the first record (0 when nothing was accepted)."""
        if not records:
            return 0, 0
        rows, size = sum(counts), sum(map(len, records))
        with self._lock:
            if not self._make_room(size):
                self._on_drop(rows, "spool_full")
                return 0, 0
            created = self._clock()
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO records (rows, created, data) VALUES (?, ?, ?)",
                    [(count, created, record) for count, record in zip(counts, records, strict=True)],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            last = int(db.execute("SELECT last_insert_rowid()").fetchone()[0])
            self._records += len(records)
            self._rows += rows
            self._bytes += size
            self._appended += rows
            self._dirty = True
            self.changed.notify_all()
        return rows, last - len(records) + 1

    def _make_room(self, incoming: int) -> bool:
        if self._bytes + incoming <= self.max_bytes:
            return True
        if self.when_full == "reject_new" or incoming > self.max_bytes:
            return False
        dropped = 0
        inflight = self._inflight
        if inflight is not None and not inflight.evicted:
            # the batch in flight is the oldest: its rows count as dropped if its delivery fails
            self._delete(inflight.first, inflight.last)
            inflight.evicted = True
        while self._bytes + incoming > self.max_bytes and self._records:
            excess, last = self._bytes + incoming - self.max_bytes, 0
            oldest = self._db.execute("SELECT id, length(data) FROM records ORDER BY id LIMIT 256")
            for record_id, size in oldest:
                excess, last = excess - size, record_id
                if excess <= 0:
                    break
            dropped += self._delete(0, last)
        if dropped:
            self._settled += dropped
            self._on_drop(dropped, "spool_full")
        return True

    def _delete(self, first: int, last: int) -> int:
        """Delete records first..last; return their rows."""
        db = self._db
        count, rows, size = db.execute(
            "SELECT count(*), coalesce(sum(rows), 0), coalesce(sum(length(data)), 0) "
            "FROM records WHERE id BETWEEN ? AND ?",
            (first, last),
        ).fetchone()
        db.execute("DELETE FROM records WHERE id BETWEEN ? AND ?", (first, last))
        self._records -= count
        self._rows -= rows
        self._bytes -= size
        return int(rows)

    # --- reader side -----------------------------------------------------------------------------

    def position(self) -> int:
        """The id of the oldest record not yet acknowledged (or of the next one to be written)."""
        with self._lock:
            first = self._oldest()
            if first is None:  # ids are never reused (AUTOINCREMENT): the next one follows the last
                last = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
                first = (last[0] if last else 0) + 1
            return int(first)

    def read(self, max_rows: int, stop: int | None = None) -> Batch | None:
        """The oldest records in flight, or None when empty: at most ``max_rows`` rows (the first
        record is taken whatever its rows), and none from record ``stop`` on."""
        with self._lock:
            self._idle()
            batch: Batch | None = None
            oldest = self._oldest()
            after, bound = 0, stop if stop is not None and oldest is not None and stop > oldest else 1 << 62
            while batch is None or batch.rows < max_rows:
                chunk = self._db.execute(
                    "SELECT id, rows, data FROM records WHERE id > ? AND id < ? ORDER BY id LIMIT 256",
                    (after, bound),
                ).fetchall()
                if not chunk:
                    break
                for record_id, rows, data in chunk:
                    if batch is not None and batch.rows + rows > max_rows:
                        self._inflight = batch
                        return batch
                    if batch is None:
                        batch = Batch(record_id, record_id)
                    batch.last = after = record_id
                    batch.rows += rows
                    batch.records.append(data)
                    batch.counts.append(rows)
            self._inflight = batch
            return batch

    def claim(self, first: int, last: int, records: list[bytes], counts: list[int]) -> Batch | None:
        """Take records first..last in flight if they are the oldest, for a reader that already holds
        them (the staged batches); None if they are not next."""
        with self._lock:
            self._idle()
            if self._oldest() != first:
                return None
            self._inflight = Batch(first, last, sum(counts), records, counts)
            return self._inflight

    def _oldest(self) -> int | None:
        """The id of the oldest record, None when the spool is empty (the lock is held)."""
        oldest = self._db.execute("SELECT min(id) FROM records").fetchone()[0]
        return None if oldest is None else int(oldest)

    def _idle(self) -> None:
        if self._inflight is not None:
            raise RuntimeError("the previous batch is neither committed nor abandoned")

    def commit(self, batch: Batch) -> None:
        """The batch reached QuestDB (or the dead-letter file): delete its records."""
        with self._lock:
            self._inflight = None
            self._settled += batch.rows
            if not batch.evicted:
                self._delete(batch.first, batch.last)
            self.changed.notify_all()

    def abandon(self, batch: Batch) -> None:
        """Give up an evicted batch whose delivery failed: its rows are dropped (spool full)."""
        self.release(batch)

    def release(self, batch: Batch) -> None:
        """Put an undelivered batch back: the next read() starts at the same rows again (an evicted
        one's rows are dropped)."""
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

    # --- housekeeping ----------------------------------------------------------------------------

    def pending_rows(self) -> int:
        with self._lock:
            return self._rows

    def stats(self) -> SpoolStats:
        with self._lock:
            age = 0.0
            if self._rows:
                created = self._db.execute("SELECT created FROM records ORDER BY id LIMIT 1").fetchone()
                age = max(0.0, self._clock() - created[0]) if created else 0.0
            return SpoolStats(self._rows, self._bytes, self._records, age)

    def maybe_sync(self) -> None:
        """Checkpoint if ``fsync_interval_seconds`` passed since the last one (the client's fsync
        thread; with ``never`` too, so that the WAL does not grow without end)."""
        if not self._dirty or time.monotonic() - self._last_sync < self.fsync_interval:
            return
        self.sync()

    def sync(self) -> None:
        """Copy the WAL into the database, syncing both unless ``fsync`` is ``never``; the writers'
        lock is not held while the disk works."""
        with self._checkpoint_lock:
            if self._checkpointer is None:
                return
            self._dirty = False
            self._last_sync = time.monotonic()
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def close(self) -> None:
        self.sync()
        with self._checkpoint_lock, self._lock:
            if self._checkpointer is None:
                return
            self._checkpointer.close()
            self._checkpointer = None
            self._db.close()
            os.close(self._lock_fd)


def _take_lock(path: Path) -> int:
    """An exclusive flock on ``path`` (kept for the spool's life), or SpoolLockedError."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpoolLockedError(f"spool directory {path.parent} is in use by another process") from None
    return fd


def _connect(path: Path, fsync: FsyncPolicy) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[fsync]}")
    db.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints are the fsync thread's (sync())
    return db


def _open(path: Path, fsync: FsyncPolicy) -> tuple[sqlite3.Connection, tuple[int, int, int]]:
    """The writers' connection, and the spool's records, rows and bytes."""
    db = _connect(path, fsync)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " rows INTEGER NOT NULL, created REAL NOT NULL, data BLOB NOT NULL)"
        )
        count, rows, size = db.execute(
            "SELECT count(*), coalesce(sum(rows), 0), coalesce(sum(length(data)), 0) FROM records"
        ).fetchone()
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db, (int(count), int(rows), int(size))


def _move_aside(path: Path, suffix: str, err: Exception) -> None:
    """Keep a spool SQLite cannot read (for whoever wants to look) and make room for a new one."""
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if part.exists():
            part.replace(part.with_name(f"{part.name}.{suffix}"))
    log.error(
        "the spool is damaged: moved aside, starting an empty one",
        extra={"path": f"{path}.{suffix}", "error": str(err)},
    )
