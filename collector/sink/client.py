"""MetricsClient: thread-safe, durable, batched delivery of metric rows to QuestDB.

``add()``/``add_many()`` validate nothing further (the models did), encode each row and append it to
the disk spool; when they return, the rows are in the OS and survive the collector being killed.
A sender thread with its own timer ships the spool: when ``batch_size`` rows are pending, every
``flush_interval_seconds`` otherwise, and on ``flush()``/``close()``. It reads up to
``max_request_rows`` rows, sends them per table, and moves the spool cursor only after QuestDB
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
from types import TracebackType

from prometheus_client import CollectorRegistry

from collector.config import MonitoringConfig
from collector.models import MetricModel
from collector.schema import to_row
from collector.sink.deadletter import DeadLetterFile, Rejected
from collector.sink.delivery import QuestDBWriter, SendResult, TransientError
from collector.sink.rows import Row, RowEncodingError, decode_row, encode_row
from collector.sink.segment import Batch
from collector.sink.selfmetrics import CollectorMetrics
from collector.sink.spool import Spool

log = logging.getLogger("collector.client")
OUTAGE_LOG_EVERY = 30.0


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
            segment_bytes=spool.segment_bytes,
            when_full=spool.when_full,
            fsync=spool.fsync,
            fsync_interval_seconds=spool.fsync_interval_seconds,
            on_drop=self._on_drop,
            clock=clock,
        )
        self.dead_letter = DeadLetterFile(
            spool.dead_letter_path(), fsync=spool.fsync == "always", clock=clock
        )
        self._writer = writer or QuestDBWriter(
            config.questdb.conf_string(), metrics=self.metrics, clock=clock
        )
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

    # --- producer API ----------------------------------------------------------------------------

    def add(self, sample: MetricModel) -> int:
        return self.add_rows([to_row(sample)])

    def add_many(self, samples: Iterable[MetricModel]) -> int:
        return self.add_rows([to_row(sample) for sample in samples])

    def add_rows(self, rows: Iterable[Row]) -> int:
        """Spool rows durably; return how many were accepted (the rest are counted as dropped)."""
        lines: list[bytes] = []
        tables: Counter[str] = Counter()
        unencodable: list[Rejected] = []
        rows = list(rows)
        for row in rows:
            try:
                lines.append(encode_row(row))
            except RowEncodingError as err:
                unencodable.append(Rejected(str(err), "RowEncodingError", row=row))
                continue
            tables[row.table] += 1
        self._reject(unencodable)
        with self._state:
            if self._closed:
                raise ClientClosedError("MetricsClient is closed")
            accepted = self.spool.append(lines, rows if not unencodable else None)
        if accepted:
            for table, count in tables.items():
                self.metrics.rows_added.labels(table).inc(count)
            if self.spool.pending_rows() >= self.config.batch_size:
                self._wake.set()
        return accepted

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
                self.spool.maybe_sync()
            except Exception:  # keep shipping whatever happens; the spool still has the rows
                log.exception("sender loop failed; retrying")
                if self._abort.wait(self.config.retry.max_backoff_seconds):
                    return
            if self._stopping.is_set() and (self.spool.pending_rows() == 0 or self._abort.is_set()):
                return

    def _drain(self) -> None:
        while not self._abort.is_set():
            batch = self.spool.read(self.config.max_request_rows)
            if batch is None:
                return
            try:
                delivered = self._deliver(batch)
            except BaseException:
                self.spool.release(batch)  # e.g. the dead-letter file could not be written: retry later
                raise
            if not delivered:
                return

    def _deliver(self, batch: Batch) -> bool:
        rows: list[Row] = batch.items if batch.items is not None else []
        rejected: list[Rejected] = []
        for line in batch.lines if batch.items is None else ():
            try:
                rows.append(decode_row(line))
            except RowEncodingError as err:
                rejected.append(Rejected(str(err), "RowEncodingError", raw=line))
        delay = self.config.retry.initial_backoff_seconds
        while True:
            if batch.evicted:
                self.spool.abandon(batch)
                return True
            try:
                result = self._writer.send(rows) if rows else SendResult()
            except TransientError as err:
                self._note_failure(err)
                self.spool.maybe_sync()  # the spool keeps growing during an outage: keep it synced
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

    def _reject(self, rejected: list[Rejected]) -> None:
        if not rejected:
            return
        self.dead_letter.write(rejected)
        for item in rejected:
            self.metrics.rows_rejected.labels(item.table).inc()
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
            log.warning(
                "QuestDB unavailable; rows stay spooled and will be retried",
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
        return stats.rows, stats.bytes, stats.segments, stats.oldest_age_seconds
