"""Delivery of rows to QuestDB over ILP/HTTP with the official client, one transaction per table.

- Each table's rows go into their own ``Buffer`` (``sender.new_buffer()``), flushed with
  ``sender.flush(buf, clear=False, transactional=True)``: a failed flush never loses rows (the
  buffer is ours, and the spool still holds them), and a request is all-or-nothing per table.
- Errors are classified. Transport errors, 5xx, auth and protocol problems are *transient*: the
  caller retries the whole batch later (rows already committed come back as DEDUP upserts).
  A 4xx rejection (``"code":"invalid"`` such as a cast or schema error, or "request too large")
  is *row level*: the offending rows are isolated, using the server's "error in line N" hint
  when present and bisection otherwise, and returned as rejected; the good rows are delivered.
- Rows the client itself refuses to serialise (bad names, overflow, invalid UTF-8) are rejected.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from questdb import QuestDBError, QuestDBErrorCode, Sender, TimestampMicros, TimestampNanos

from collector.sink.deadletter import Rejected
from collector.sink.rows import Row
from collector.sink.selfmetrics import CollectorMetrics

_REJECT_MARKERS = (
    '"code":"invalid"',
    "code: invalid",
    '"code":"request too large"',
    "code: request too large",
)
_LINE_HINT = re.compile(r'(?:"line":|line: )(\d+)')
_TRANSPORT = {
    QuestDBErrorCode.SocketError,
    QuestDBErrorCode.CouldNotResolveAddr,
    QuestDBErrorCode.ConnectTimeout,
    QuestDBErrorCode.TlsError,
    QuestDBErrorCode.FailoverRetry,
}


class TransientError(Exception):
    """QuestDB could not take the rows now; retry the batch later."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def classify(err: QuestDBError) -> str:
    """``reject`` for a row-level rejection, else the kind of transient failure."""
    if err.code == QuestDBErrorCode.ServerFlushError:
        text = str(err)
        return "reject" if any(marker in text for marker in _REJECT_MARKERS) else "server"
    if err.code in _TRANSPORT:
        return "transport"
    if err.code == QuestDBErrorCode.AuthError:
        return "auth"
    if err.code in (QuestDBErrorCode.HttpNotSupported, QuestDBErrorCode.ProtocolVersionError):
        return "protocol"
    return "other"


def error_line(err: QuestDBError) -> int | None:
    match = _LINE_HINT.search(str(err))
    return int(match.group(1)) if match else None


@dataclass
class SendResult:
    sent: Counter[str] = field(default_factory=Counter)
    rejected: list[Rejected] = field(default_factory=list)


def _row_args(row: Row) -> dict[str, Any]:
    columns: Any = row.columns
    if row.timestamps:
        columns = {**columns, **{name: TimestampMicros(ns // 1_000) for name, ns in row.timestamps.items()}}
    return {"symbols": row.symbols, "columns": columns, "at": TimestampNanos(row.timestamp_ns)}


class QuestDBWriter:
    """Owns one ``Sender``; use from a single thread (the client's sender thread)."""

    def __init__(
        self,
        conf: str,
        *,
        metrics: CollectorMetrics,
        sender_factory: Callable[[str], Sender] = Sender.from_conf,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._conf = conf
        self._metrics = metrics
        self._factory = sender_factory
        self._clock = clock
        self._sender: Sender | None = None
        sender_factory(conf).close()  # parse the configuration now: a typo fails at start, not later

    def _get_sender(self) -> Sender:
        if self._sender is None:
            sender = self._factory(self._conf)
            try:
                sender.establish()
            except QuestDBError as err:
                sender.close(flush=False)
                kind = "auth" if err.code == QuestDBErrorCode.AuthError else "connect"
                raise TransientError(kind, str(err)) from err
            self._sender = sender
        return self._sender

    def send(self, rows: Sequence[Row]) -> SendResult:
        """Deliver ``rows`` (any tables); raise TransientError if QuestDB is unavailable."""
        by_table: dict[str, list[Row]] = {}
        for row in rows:
            by_table.setdefault(row.table, []).append(row)
        result = SendResult()
        try:
            for table_rows in by_table.values():
                self._send_table(table_rows, result)
        except TransientError:
            self.close()  # reconnect (and renegotiate the protocol) on the next attempt
            raise
        return result

    def _send_table(self, rows: list[Row], result: SendResult) -> None:
        sender = self._get_sender()
        stack = [rows]
        while stack:
            part = stack.pop()
            buffer, kept = self._build(sender, part, result)
            if not kept:
                continue
            try:
                self._flush(sender, buffer)
            except QuestDBError as err:
                kind = classify(err)
                if kind != "reject":
                    raise TransientError(kind, str(err)) from err
                if len(kept) == 1:
                    result.rejected.append(Rejected(str(err), str(err.code), row=kept[0]))
                    continue
                line = error_line(err)
                if line is not None and 1 <= line <= len(kept):
                    # The server names the first bad line; everything else goes again.
                    stack.extend(p for p in (kept[line:], kept[line - 1 : line], kept[: line - 1]) if p)
                else:
                    middle = len(kept) // 2
                    stack.extend((kept[middle:], kept[:middle]))
                continue
            result.sent[kept[0].table] += len(kept)

    def _build(self, sender: Sender, rows: list[Row], result: SendResult) -> tuple[Any, list[Row]]:
        buffer = sender.new_buffer()
        kept = []
        for row in rows:
            try:
                buffer.row(row.table, **_row_args(row))
            except (QuestDBError, OverflowError, ValueError, TypeError) as err:
                code = str(err.code) if isinstance(err, QuestDBError) else type(err).__name__
                result.rejected.append(Rejected(f"client refused the row: {err}", code, row=row))
                continue
            kept.append(row)
        return buffer, kept

    def _flush(self, sender: Sender, buffer: Any) -> None:
        started = time.perf_counter()
        try:
            sender.flush(buffer, clear=False, transactional=True)
        except QuestDBError:
            self._metrics.flush_seconds.observe(time.perf_counter() - started)
            raise
        self._metrics.flush_seconds.observe(time.perf_counter() - started)
        self._metrics.questdb_up.set(1)
        self._metrics.last_success.set(self._clock())

    def close(self) -> None:
        if self._sender is not None:
            try:
                self._sender.close(flush=False)
            finally:
                self._sender = None
