"""MetricsClient: thread-safe, durable, batched delivery of metric rows to QuestDB.

``add()``/``add_many()`` validate nothing further (the models did): they cut the rows out of the
models, pack them (``packed.py``, a few C calls per batch, not per row) and append them to the disk
spool in one transaction; when they return, the rows are in the OS and survive the collector being
killed.
``add_rows()`` takes rows that did not come from a model and checks each one first.
A sender thread with its own timer ships the spool: when ``batch_size`` rows are pending, every
``flush_interval_seconds`` otherwise, and on ``flush()``/``close()``. It reads up to
``max_request_rows`` rows, sends them per table, and deletes them from the spool only after QuestDB
acknowledged them. While QuestDB is down it retries with capped exponential backoff and jitter,
for as long as it takes; the spool keeps the rows within its byte bound.

Delivery is at-least-once; the tables' DEDUP UPSERT KEYS and event timestamps make it exactly-once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from operator import itemgetter
from types import TracebackType

from prometheus_client import CollectorRegistry

from collector.config import MonitoringConfig
from collector.models import MetricModel
from collector.schema import to_row, to_rows
from collector.sink.deadletter import DeadLetterFile, Rejected
from collector.sink.delivery import QuestDBWriter, SendResult, TransientError
from collector.sink.packed import check_row, pack_rows, unpack_rows
from collector.sink.rows import Row, RowEncodingError
from collector.sink.selfmetrics import CollectorMetrics
from collector.sink.spool import Batch, Spool
from collector.sink.staging import MAX_STAGED_BYTES, StagedBatch, Stager

log = logging.getLogger("collector.client")
OUTAGE_LOG_EVERY = 30.0
PACK_ROWS = 1_000  # rows per packed record at most (a request never splits one)
_TABLE = itemgetter(0)


class ClientClosedError(RuntimeError):
    """add() after close()."""


class MetricsClient:
    def __init__(
        self,
        config: MonitoringConfig,
        *,
        metrics: CollectorMetrics | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        writer: QuestDBWriter | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or CollectorMetrics(registry)
        self._clock = clock
        self._rng = rng or random.Random()
        spool = config.spool
        self.spool = Spool(
            spool.dir,
            max_bytes=spool.max_bytes,
            when_full=spool.when_full,
            fsync=spool.fsync,
            fsync_interval_seconds=spool.fsync_interval_seconds,
            on_drop=self._on_drop,
            clock=clock,
        )
        self.dead_letter = DeadLetterFile(
            spool.dead_letter_path(), fsync=spool.fsync == "always", clock=clock
        )
        # Staged ILP buffers hold at most what the spool may hold (and 64 MiB): beyond it the sender
        # reads the rows back from the spool, so an outage costs disk, not memory.
        self._stager = Stager(config.max_request_rows, min(MAX_STAGED_BYTES, spool.max_bytes))
        self._pack_rows = max(1, min(PACK_ROWS, config.max_request_rows))  # a request holds whole records
        self._writer = writer or QuestDBWriter(
            config.questdb.conf_string(), metrics=self.metrics, clock=clock
        )
        self._writer.on_connect = self._stager.configure
        self.metrics.bind_spool(self._spool_stats, self.dead_letter.size)
        self._state = threading.Lock()
        self._closed = False
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._abort = threading.Event()
        self._outage_since: float | None = None
        self._last_outage_log = 0.0
        self._thread = threading.Thread(target=self._run, name="tradewatch-sender", daemon=True)
        self._thread.start()
        self._synced = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name="tradewatch-fsync", daemon=True)
        self._syncer.start()

    # --- producer API ----------------------------------------------------------------------------

    def add(self, sample: MetricModel) -> int:
        return self._append([to_row(sample)])

    def add_many(self, samples: Iterable[MetricModel]) -> int:
        """Spool validated models durably; return how many rows were accepted (see add_rows)."""
        return self._append(to_rows(samples))

    def add_rows(self, rows: Iterable[Row]) -> int:
        """Spool rows durably; return how many were accepted (the rest are counted as dropped).

        Rows that cannot be encoded (non-finite floats, text that is not UTF-8, values that are not
        bool/int/float/str) are dead-lettered at once with the reason.
        """
        good: list[Row] = []
        unencodable: list[Rejected] = []
        for row in rows:
            try:
                good.append(check_row(row))
            except RowEncodingError as err:
                unencodable.append(Rejected(str(err), "RowEncodingError", row=_as_row(row)))
        self._reject(unencodable)
        return self._append(good)

    def _append(self, rows: list[Row]) -> int:
        records, counts, rows = self._pack(rows)
        if not rows:
            return 0
        size = self._pack_rows
        tables = [Counter(map(_TABLE, rows[i : i + size])) for i in range(0, len(rows), size)]
        with self._state:
            if self._closed:
                raise ClientClosedError("MetricsClient is closed")
            accepted, start = self.spool.append(records, counts)
            if accepted:  # serialised for the sender now, once it is connected
                self._stager.add(start, records, counts, rows, tables)
        if accepted:
            added: Counter[str] = Counter()
            for per_record in tables:
                added.update(per_record)
            for table, count in added.items():
                self.metrics.rows_added.labels(table).inc(count)
            if self.spool.pending_rows() >= self.config.batch_size:
                self._wake.set()
        return accepted

    def _pack(self, rows: list[Row]) -> tuple[list[bytes], list[int], list[Row]]:
        """Packed records of at most PACK_ROWS rows, their row counts, and the rows packed."""
        size = self._pack_rows
        try:
            records = [pack_rows(rows[i : i + size]) for i in range(0, len(rows), size)]
        except RowEncodingError:  # a row not made by to_row() or check_row(): dead-letter it, keep the rest
            good: list[Row] = []
            bad: list[Rejected] = []
            for row in rows:
                try:
                    good.append(check_row(row))
                except RowEncodingError as err:
                    bad.append(Rejected(str(err), "RowEncodingError", row=_as_row(row)))
            if not bad:
                raise
            self._reject(bad)
            return self._pack(good)
        return records, [min(size, len(rows) - i) for i in range(0, len(rows), size)], rows

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row added before this call is delivered (or dropped); False on timeout."""
        if self._closed:
            return self.spool.pending_rows() == 0
        target = self.spool.appended_total()
        self._wake.set()
        return self.spool.wait_settled(target, timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop accepting rows, deliver what is spooled within ``timeout``; True if nothing is left.

        Rows still spooled at the deadline (QuestDB down) stay on disk for the next start.
        """
        with self._state:
            if self._closed:
                return self.spool.pending_rows() == 0
            self._closed = True
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abort.set()
            self._thread.join(self.config.questdb.request_timeout_ms / 1000 + 5)
        left = self.spool.pending_rows()
        self._synced.set()
        self._syncer.join(5)
        self._stager.clear()
        self._writer.close()
        self.spool.close()
        if left:
            log.warning("closing with rows still spooled", extra={"spooled_rows": left})
        return left == 0

    def __enter__(self) -> MetricsClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(self.config.service.shutdown_timeout_seconds)

    @property
    def sender_alive(self) -> bool:
        return self._thread.is_alive()

    # --- sender thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.config.flush_interval_seconds)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # keep shipping whatever happens; the spool still has the rows
                log.exception("sender loop failed; retrying")
                if self._abort.wait(self.config.retry.max_backoff_seconds):
                    return
            if self._stopping.is_set() and (self.spool.pending_rows() == 0 or self._abort.is_set()):
                return

    def _sync_loop(self) -> None:
        """fsync the spool on its ``interval`` policy, off the sender thread (a slow disk must not
        hold back delivery)."""
        interval = self.config.spool.fsync_interval_seconds / 4  # maybe_sync() keeps the interval
        while not self._synced.wait(interval):
            try:
                self.spool.maybe_sync()
            except OSError:
                log.exception("fsync of the spool failed; retrying")

    def _drain(self) -> None:
        while not self._abort.is_set():
            batch, staged = self._next_batch()
            if batch is None:
                return
            try:
                delivered = self._deliver(batch, staged)
            except BaseException:
                self.spool.release(batch)  # e.g. the dead-letter file could not be written: retry later
                raise
            if not delivered:
                return

    def _next_batch(self) -> tuple[Batch | None, StagedBatch | None]:
        """The oldest records of the spool: staged with their buffers if the producers built them."""
        staged = self._stager.take(self.spool.position())
        if staged is not None:
            batch = self.spool.claim(staged.start, staged.end - 1, staged.lines, staged.counts)
            if batch is not None:
                return batch, staged
        return self.spool.read(self.config.max_request_rows, stop=self._stager.next_start()), None

    @staticmethod
    def _decode(batch: Batch) -> tuple[list[Row], list[Rejected]]:
        rows: list[Row] = []
        rejected: list[Rejected] = []
        for record, count in zip(batch.records, batch.counts, strict=True):
            try:
                rows += unpack_rows(record, count)
            except RowEncodingError as err:
                rejected.append(Rejected(str(err), "RowEncodingError", raw=record, count=count))
        return rows, rejected

    def _deliver(self, batch: Batch, staged: StagedBatch | None = None) -> bool:
        rows, rejected = ([], []) if staged is not None else self._decode(batch)
        delay = self.config.retry.initial_backoff_seconds
        while True:
            if batch.evicted:
                self.spool.abandon(batch)
                return True
            try:
                result = None
                if staged is not None:
                    result = self._writer.send_staged(staged, lambda table: self._table_rows(batch, table))
                    if result is None:  # another protocol version since they were built: serialise again
                        staged = None
                        rows, rejected = self._decode(batch)
                if result is None:
                    result = self._writer.send(rows) if rows else SendResult()
            except TransientError as err:
                self._note_failure(err)
                if self._abort.wait(delay * self._rng.uniform(0.8, 1.2)):
                    self.spool.release(batch)
                    return False
                delay = min(delay * 2, self.config.retry.max_backoff_seconds)
                continue
            break
        self._note_recovery()
        self._reject(rejected + result.rejected)
        for table, count in result.sent.items():
            self.metrics.rows_sent.labels(table).inc(count)
        self.spool.commit(batch)
        return True

    def _table_rows(self, batch: Batch, table: str) -> list[Row]:
        """One table's rows of a staged batch, decoded from its records (to isolate a rejected row)."""
        return [row for row in self._decode(batch)[0] if row.table == table]

    def _reject(self, rejected: list[Rejected]) -> None:
        if not rejected:
            return
        self.dead_letter.write(rejected)
        for item in rejected:
            self.metrics.rows_rejected.labels(item.table).inc(item.count)
        log.error(
            "rows rejected and dead-lettered",
            extra={
                "rows": len(rejected),
                "dead_letter": str(self.dead_letter.path),
                "reason": rejected[0].reason,
            },
        )

    def _note_failure(self, err: TransientError) -> None:
        self.metrics.flush_retries.labels(err.kind).inc()
        self.metrics.questdb_up.set(0)
        now = self._clock()
        if self._outage_since is None:
            self._outage_since = now
        if now - self._last_outage_log >= OUTAGE_LOG_EVERY:
            self._last_outage_log = now
            message = (
                "QuestDB's TLS certificate is not trusted or not valid (questdb.tls_ca names the CA that "
                "signed it); nothing is sent, rows stay spooled and will be retried"
                if err.kind == "tls"
                else "QuestDB unavailable; rows stay spooled and will be retried"
            )
            log.warning(
                message,
                extra={"kind": err.kind, "error": str(err), "spooled_rows": self.spool.pending_rows()},
            )

    def _note_recovery(self) -> None:
        if self._outage_since is not None:
            log.info(
                "QuestDB reachable again",
                extra={"outage_seconds": round(self._clock() - self._outage_since, 3)},
            )
            self._outage_since = None
            self._last_outage_log = 0.0

    def _on_drop(self, count: int, reason: str) -> None:
        self.metrics.rows_dropped.labels(reason).inc(count)
        log.error(
            "spool full: rows dropped",
            extra={"rows": count, "reason": reason, "policy": self.spool.when_full},
        )

    def _spool_stats(self) -> tuple[int, int, int, float]:
        stats = self.spool.stats()
        return stats.rows, stats.bytes, stats.records, stats.oldest_age_seconds


def _as_row(row: object) -> Row | None:
    """The row to show in the dead-letter file (None if it is not even row-shaped)."""
    if isinstance(row, Row):
        return row
    if isinstance(row, tuple) and len(row) == 5:
        return Row(*row)
    return None
