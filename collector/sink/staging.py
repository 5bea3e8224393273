"""ILP buffers built by the producers, so the sender thread only has to flush them.

``Stager.add()`` runs in ``MetricsClient._append()`` right after the rows were written to the spool,
under the client's producer lock: it serialises the rows into one ``Buffer`` per table of the open
``StagedBatch``, which covers consecutive spool records (ids ``start`` up to ``end``, excluded). The
sender thread takes the batch that starts exactly at the oldest record of the spool (``take()``),
flushes its buffers and commits the records; anything else (a gap, a stale or dropped batch,
another protocol version after a reconnect) makes it read the records from the spool instead, as
after a restart. The spool stays the truth:
staging only moves the serialisation off the sender thread, so flushing (GIL released) overlaps
with the producers' work, and batches grow up to ``max_rows`` while the sender is busy.

Buffers are built with the protocol version and name limit of the connected sender
(``configure()``, called by the sender thread); until then nothing is staged.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from questdb import QuestDBError, TimestampNanos

from collector.sink.deadletter import Rejected
from collector.sink.rows import Row, client_columns

log = logging.getLogger("collector.client")
BufferFactory = Callable[[], Any]
MAX_STAGED_BYTES = 64 << 20


@dataclass
class StagedBatch:
    start: int
    end: int
    version: int
    lines: list[bytes] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    buffers: dict[str, Any] = field(default_factory=dict)
    per_table: Counter[str] = field(default_factory=Counter)
    refused: list[Rejected] = field(default_factory=list)  # rows the client would not serialise
    rows: int = 0

    def size(self) -> int:
        return sum(len(buffer) for buffer in self.buffers.values())


class Stager:
    def __init__(self, max_rows: int, max_bytes: int = MAX_STAGED_BYTES) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._factory: BufferFactory | None = None
        self._version = 0
        self._queue: deque[StagedBatch] = deque()
        self._open: StagedBatch | None = None
        self._sealed_bytes = 0

    @property
    def active(self) -> bool:
        return self._factory is not None

    def configure(self, factory: BufferFactory | None, version: int) -> None:
        """Build buffers with ``factory`` (of protocol ``version``) from now on; None stops staging."""
        with self._lock:
            if factory is None or version != self._version:
                self._queue.clear()
                self._open = None
                self._sealed_bytes = 0
            self._factory, self._version = factory, version

    def add(
        self,
        start: int,
        lines: Sequence[bytes],
        counts: Sequence[int],
        rows: Sequence[Row],
        tables: Sequence[Counter[str]],
    ) -> None:
        """Stage rows just appended as the spool records ``lines`` from id ``start`` on (records of
        ``counts`` rows, of the ``tables`` counted per record).

        Never raises: the rows are already in the spool, so if staging fails the open batch (whose
        buffers may now hold part of a record) is dropped and the sender reads those records back.
        """
        with self._lock:
            try:
                self._add(start, lines, counts, rows, tables)
            except Exception:
                log.exception("staging rows failed; the sender reads them from the spool")
                self._open = None

    def _add(
        self,
        start: int,
        lines: Sequence[bytes],
        counts: Sequence[int],
        rows: Sequence[Row],
        tables: Sequence[Counter[str]],
    ) -> None:
        factory = self._factory
        if factory is None:
            return
        offset, first = start, 0
        for line, count, per_table in zip(lines, counts, tables, strict=True):
            batch = self._open
            if batch is None or batch.end != offset or batch.rows + count > self.max_rows:
                self._seal()
                if self._sealed_bytes > self.max_bytes:
                    return  # the sender is far behind (QuestDB down): it reads these from the spool
                batch = self._open = StagedBatch(offset, offset, self._version)
            self._build(batch, factory, rows[first : first + count])
            batch.per_table.update(per_table)
            batch.lines.append(line)
            batch.counts.append(count)
            batch.rows += count
            first += count
            offset += 1
            batch.end = offset

    def _seal(self) -> None:
        if self._open is not None and self._open.rows:
            self._queue.append(self._open)
            self._sealed_bytes += self._open.size()
        self._open = None

    @staticmethod
    def _build(batch: StagedBatch, factory: BufferFactory, rows: Sequence[Row]) -> None:
        """Serialise rows into the batch's buffers: the producers' hot loop, kept to a few operations
        per row (rows of one poll share their table and timestamp objects)."""
        buffers = batch.buffers
        last_table: str | None = None
        last_at: int | None = None
        buffer: Any = None
        stamp: Any = None
        for row in rows:
            table, at, symbols, columns, timestamps = row
            if table is not last_table:
                buffer = buffers.get(table)
                if buffer is None:
                    buffer = buffers[table] = factory()
                last_table = table
            if at != last_at:
                stamp, last_at = TimestampNanos(at), at
            try:
                if timestamps:
                    columns = client_columns(row)
                buffer.row(table, symbols=symbols, columns=columns, at=stamp)
            except (QuestDBError, OverflowError, ValueError, TypeError) as err:
                code = str(err.code) if isinstance(err, QuestDBError) else type(err).__name__
                batch.refused.append(Rejected(f"client refused the row: {err}", code, row=row))
                batch.per_table[table] -= 1  # a refused row leaves the buffer as it was

    def take(self, position: int) -> StagedBatch | None:
        """The staged batch starting exactly at the spool's oldest record ``position``, else None."""
        with self._lock:
            while self._queue and self._queue[0].start < position:
                self._sealed_bytes -= self._queue.popleft().size()  # read from the spool meanwhile
            if self._queue:
                head = self._queue[0]
                if head.start != position:
                    return None
                self._queue.popleft()
                self._sealed_bytes -= head.size()
                return head
            batch = self._open
            if batch is None or batch.start != position or not batch.rows:
                if batch is not None and batch.start < position:
                    self._open = None
                return None
            self._open = None
            return batch

    def next_start(self) -> int | None:
        """Where the oldest staged batch starts (a reader of the spool should stop there)."""
        with self._lock:
            if self._queue:
                return self._queue[0].start
            if self._open is not None and self._open.rows:
                return self._open.start
            return None

    def clear(self) -> None:
        self.configure(None, 0)
