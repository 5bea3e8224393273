"""The newest appended rows kept decoded in memory, so the sender need not parse its own writes.

Purely an optimisation: the spool files stay the source of truth. The cache holds the objects of
recent appends with their segment and byte range; ``take()`` returns them only when they are
exactly the bytes at the spool cursor, otherwise the reader decodes from disk as after a restart.
A record (line) holds one row, or ``counts[i]`` rows for a packed record; ``take()`` never splits
a record.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass
class _Chunk:
    seq: int
    start: int
    end: int
    lines: list[bytes]
    items: list[Any]
    counts: list[int] | None  # rows per line; None: one row per line


class TailCache:
    def __init__(self, max_items: int = 50_000) -> None:
        self.max_items = max_items
        self._chunks: deque[_Chunk] = deque()
        self._size = 0

    def add(
        self, seq: int, start: int, lines: list[bytes], items: list[Any], counts: list[int] | None = None
    ) -> None:
        rows = len(lines) if counts is None else sum(counts)
        if not lines or rows != len(items) or (counts is not None and len(counts) != len(lines)):
            return
        end = start + sum(len(line) for line in lines)
        self._chunks.append(_Chunk(seq, start, end, lines, items, counts))
        self._size += len(items)
        while self._size > self.max_items and self._chunks:
            self._size -= len(self._chunks.popleft().items)

    def clear(self) -> None:
        self._chunks.clear()
        self._size = 0

    def take(self, seq: int, offset: int, max_rows: int) -> tuple[list[bytes], list[Any]] | None:
        """Whole records and their objects starting exactly at (seq, offset), at most ``max_rows`` rows
        (a first record larger than that comes alone); else None."""
        while self._chunks and (self._chunks[0].seq, self._chunks[0].end) <= (seq, offset):
            self._size -= len(self._chunks.popleft().items)
        if not self._chunks or self._chunks[0].seq != seq:
            return None
        first = self._chunks[0]
        position, index, item = first.start, 0, 0
        while position < offset and index < len(first.lines):
            position += len(first.lines[index])
            item += 1 if first.counts is None else first.counts[index]
            index += 1
        if position != offset:
            return None
        lines: list[bytes] = []
        items: list[Any] = []
        expected_start = first.start
        for chunk in self._chunks:
            if chunk.seq != seq or chunk.start != expected_start:
                break
            room = max_rows - len(items)
            if chunk.counts is None:
                lines += chunk.lines[index : index + room]
                items += chunk.items[item : item + room]
            else:
                for count, line in zip(chunk.counts[index:], chunk.lines[index:], strict=True):
                    if items and count > max_rows - len(items):
                        return lines, items
                    lines.append(line)
                    items += chunk.items[item : item + count]
                    item += count
            if len(items) >= max_rows:
                break
            expected_start, index, item = chunk.end, 0, 0
        return (lines, items) if lines else None
