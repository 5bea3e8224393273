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

from questdb import QuestDBError, QuestDBErrorCode, Sender, TimestampNanos

from collector.sink.deadletter import Rejected
from collector.sink.rows import Row, client_columns
from collector.sink.selfmetrics import CollectorMetrics
from collector.sink.staging import StagedBatch

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


def connect_failure(err: QuestDBError) -> str:
    """Why a connection failed: ``auth``, ``tls`` (the server's certificate is not trusted or not
    valid, also when the client only asked for the protocol version) or ``connect``."""
    if err.code == QuestDBErrorCode.AuthError:
        return "auth"
    if err.code == QuestDBErrorCode.TlsError or "certificate" in str(err).lower():
        return "tls"
    return "connect"


def error_line(err: QuestDBError) -> int | None:
    match = _LINE_HINT.search(str(err))
    return int(match.group(1)) if match else None


@dataclass
class SendResult:
    sent: Counter[str] = field(default_factory=Counter)
    rejected: list[Rejected] = field(default_factory=list)


def _buffer_factory(sender: Sender) -> Callable[[], Any]:
    """New buffers like ``sender.new_buffer()`` that other threads may build (no call on the sender)."""
    buffer_type = type(sender.new_buffer())
    version, size, name_len = sender.protocol_version, sender.init_buf_size, sender.max_name_len
    return lambda: buffer_type(version, size, name_len)


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
        self.on_connect: Callable[[Callable[[], Any] | None, int], None] | None = None
        sender_factory(conf).close()  # parse the configuration now: a typo fails at start, not later

    def _get_sender(self) -> Sender:
        if self._sender is None:
            sender = self._factory(self._conf)
            try:
                sender.establish()
            except QuestDBError as err:
                sender.close(flush=False)
                raise TransientError(connect_failure(err), str(err)) from err
            self._sender = sender
            if self.on_connect is not None:
                self.on_connect(_buffer_factory(sender), sender.protocol_version)
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

    def send_staged(self, staged: StagedBatch, rows_of: Callable[[str], list[Row]]) -> SendResult | None:
        """Flush buffers built by the producers (one transaction per table); TransientError if QuestDB
        is unavailable, None if they were built for another protocol version than the connection's.

        A table whose request is rejected is sent again row by row from ``rows_of(table)``, to isolate
        the bad rows as ``send()`` does.
        """
        try:
            sender = self._get_sender()
            if sender.protocol_version != staged.version:
                return None
            result = SendResult(rejected=list(staged.refused))
            for table, buffer in staged.buffers.items():
                if not len(buffer):
                    continue
                try:
                    self._flush(sender, buffer)
                except QuestDBError as err:
                    kind = classify(err)
                    if kind != "reject":
                        raise TransientError(kind, str(err)) from err
                    # the rows refused while staging are refused again below
                    result.rejected = [r for r in result.rejected if r.table != table]
                    self._send_table(rows_of(table), result)
                    continue
                result.sent[table] += staged.per_table[table]
        except TransientError:
            self.close()
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
        """One table's rows in a new Buffer (the hot loop of the sender thread); refused rows out."""
        buffer = sender.new_buffer()
        add = buffer.row
        refused: set[int] = set()
        for index, (table, at, symbols, columns, timestamps) in enumerate(rows):
            try:
                if timestamps:
                    columns = client_columns(rows[index])
                # the client takes any mapping; its annotations say dict (no copy in this loop)
                add(table, symbols=symbols, columns=columns, at=TimestampNanos(at))  # type: ignore[arg-type]
            except (QuestDBError, OverflowError, ValueError, TypeError) as err:
                code = str(err.code) if isinstance(err, QuestDBError) else type(err).__name__
                reason = f"client refused the row: {err}"
                result.rejected.append(Rejected(reason, code, row=rows[index]))
                refused.add(index)
        if not refused:
            return buffer, rows
        return buffer, [row for index, row in enumerate(rows) if index not in refused]

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
