"""The disk spool: FIFO across segments, cursor persistence, recovery, bounds and drop accounting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.sink.spool import CURSOR_FILE, Spool, SpoolLockedError


def lines(start: int, count: int, width: int = 0) -> list[bytes]:
    return [json.dumps([i, "x" * width]).encode() + b"\n" for i in range(start, start + count)]


def ids(batch_lines: list[bytes]) -> list[int]:
    return [json.loads(line)[0] for line in batch_lines]


def drain(spool: Spool, max_rows: int = 1000) -> list[int]:
    seen = []
    while (batch := spool.read(max_rows)) is not None:
        seen += ids(batch.lines)
        spool.commit(batch)
    return seen


class Drops:
    def __init__(self) -> None:
        self.count = 0
        self.reasons: set[str] = set()

    def __call__(self, count: int, reason: str) -> None:
        self.count += count
        self.reasons.add(reason)


def test_fifo_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    for i in range(0, 100, 10):
        assert spool.append(lines(i, 10)) == 10
    assert spool.stats().segments > 3
    assert spool.pending_rows() == 100
    assert drain(spool, max_rows=7) == list(range(100))
    assert spool.pending_rows() == 0
    assert spool.stats().segments == 1  # consumed segments are deleted
    spool.close()


def test_uncommitted_batch_is_read_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(lines(0, 5))
    batch = spool.read(3)
    assert batch is not None and ids(batch.lines) == [0, 1, 2]
    spool.release(batch)  # delivery failed: put back
    again = spool.read(10)
    assert again is not None and ids(again.lines) == [0, 1, 2, 3, 4]
    spool.close()


def test_restart_replays_from_the_cursor(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=150)
    spool.append(lines(0, 30))
    batch = spool.read(12)
    assert batch is not None
    spool.commit(batch)
    spool.read(5)  # in flight when the process dies: not acknowledged
    spool.close()

    reopened = Spool(tmp_path, segment_bytes=150)
    assert reopened.pending_rows() == 18
    reopened.append(lines(30, 2))
    assert drain(reopened) == list(range(12, 32))
    reopened.close()


def test_torn_tail_is_truncated(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(lines(0, 3))
    spool.close()
    segment = sorted(tmp_path.glob("*.seg"))[-1]
    with segment.open("ab") as handle:
        handle.write(b'[3,"half a ro')  # a write cut by a crash
    reopened = Spool(tmp_path)
    assert drain(reopened) == [0, 1, 2]
    reopened.close()


def test_corrupt_cursor_replays_everything(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(lines(0, 4))
    batch = spool.read(2)
    assert batch is not None
    spool.commit(batch)
    spool.close()
    (tmp_path / CURSOR_FILE).write_text("{not json")
    reopened = Spool(tmp_path)
    assert drain(reopened) == [0, 1, 2, 3]  # at-least-once: DEDUP absorbs the replay
    reopened.close()


def test_one_process_per_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with pytest.raises(SpoolLockedError, match="in use by another process"):
        Spool(tmp_path)
    spool.close()
    Spool(tmp_path).close()


def test_drop_oldest_counts_every_dropped_row(tmp_path: Path) -> None:
    drops = Drops()
    spool = Spool(tmp_path, max_bytes=4_000, segment_bytes=1_000, on_drop=drops)
    row_size = len(lines(0, 1, width=40)[0])
    total = 0
    for i in range(0, 400, 10):
        total += spool.append(lines(i, 10, width=40))
    assert total == 400  # drop_oldest always takes the new rows
    stats = spool.stats()
    assert stats.bytes <= 4_000
    delivered = drain(spool)
    assert drops.count + len(delivered) == 400
    assert delivered == list(range(400 - len(delivered), 400))  # the newest survive, in order
    assert drops.reasons == {"spool_full"}
    assert row_size * len(delivered) <= 4_000
    spool.close()


def test_reject_new_counts_every_dropped_row(tmp_path: Path) -> None:
    drops = Drops()
    spool = Spool(tmp_path, max_bytes=2_000, segment_bytes=500, when_full="reject_new", on_drop=drops)
    accepted = sum(spool.append(lines(i, 5, width=40)) for i in range(0, 200, 5))
    assert accepted + drops.count == 200
    assert drain(spool) == list(range(accepted))  # the oldest survive
    spool.close()


def test_evicting_the_batch_in_flight(tmp_path: Path) -> None:
    drops = Drops()
    spool = Spool(tmp_path, max_bytes=3_000, segment_bytes=1_000, on_drop=drops)
    spool.append(lines(0, 10, width=40))
    batch = spool.read(4)  # in flight, QuestDB down
    assert batch is not None
    for i in range(10, 100, 10):
        spool.append(lines(i, 10, width=40))
    assert batch.evicted
    spool.abandon(batch)  # the flight failed: its 4 rows count as dropped too
    rest = drain(spool)
    assert drops.count + len(rest) == 100


def test_evicted_batch_delivered_is_not_counted_as_dropped(tmp_path: Path) -> None:
    drops = Drops()
    spool = Spool(tmp_path, max_bytes=3_000, segment_bytes=1_000, on_drop=drops)
    spool.append(lines(0, 10, width=40))
    batch = spool.read(4)
    assert batch is not None
    for i in range(10, 100, 10):
        spool.append(lines(i, 10, width=40))
    spool.commit(batch)  # the flight succeeded after all
    rest = drain(spool)
    assert drops.count + len(rest) + 4 == 100


def test_flush_accounting(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(lines(0, 3))
    target = spool.appended_total()
    assert not spool.wait_settled(target, 0.05)
    drain(spool)
    assert spool.wait_settled(target, 0.05)
    spool.close()


@pytest.mark.parametrize("policy", ["never", "interval", "always"])
def test_fsync_policies(tmp_path: Path, policy: str) -> None:
    spool = Spool(tmp_path, fsync=policy, fsync_interval_seconds=0.01)  # type: ignore[arg-type]
    spool.append(lines(0, 3))
    spool.maybe_sync()
    spool.close()
    assert drain(Spool(tmp_path)) == [0, 1, 2]


def test_tail_cache_serves_fresh_rows_and_disk_serves_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=400)
    for start in range(0, 40, 8):
        chunk = lines(start, 8)
        spool.append(chunk, items=list(range(start, start + 8)))
    seen_items: list[int] = []
    seen_lines: list[int] = []
    while (batch := spool.read(5)) is not None:
        if batch.items is not None:
            assert ids(batch.lines) == batch.items  # the cached objects are exactly the bytes at the cursor
            seen_items += batch.items
        seen_lines += ids(batch.lines)
        spool.commit(batch)
    assert seen_lines == list(range(40))
    assert seen_items == seen_lines
    spool.append(lines(40, 3), items=[40, 41, 42])
    spool.close()
    reopened = Spool(tmp_path, segment_bytes=400)
    batch = reopened.read(10)
    assert batch is not None and batch.items is None and ids(batch.lines) == [40, 41, 42]
    reopened.close()


def test_tail_cache_is_bounded(tmp_path: Path) -> None:
    from collector.sink.tailcache import TailCache

    cache = TailCache(max_items=10)
    cache.add(1, 0, [b"a\n"] * 6, list(range(6)))
    cache.add(1, 12, [b"b\n"] * 6, list(range(6, 12)))
    assert cache.take(1, 0, 100) is None  # the oldest chunk was evicted: read from disk
    hit = cache.take(1, 12, 100)
    assert hit is not None and hit[1] == list(range(6, 12))
    assert cache.take(1, 14, 2) == ([b"b\n"] * 2, [7, 8])
    assert cache.take(2, 0, 5) is None
