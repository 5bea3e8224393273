"""The disk spool: FIFO of records, what a restart or a crash leaves, bounds and drop accounting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from collector.sink.spool import DATABASE, Spool, SpoolLockedError


def records(start: int, count: int, per_record: int = 1, width: int = 0) -> tuple[list[bytes], list[int]]:
    """Records holding the row ids start.. (``per_record`` each), and their row counts."""
    ids = list(range(start, start + count))
    chunks = [ids[i : i + per_record] for i in range(0, count, per_record)]
    return [json.dumps([chunk, "x" * width]).encode() for chunk in chunks], [len(c) for c in chunks]


def add(spool: Spool, start: int, count: int, per_record: int = 1, width: int = 0) -> int:
    return spool.append(*records(start, count, per_record, width))[0]


def ids(batch_records: list[bytes]) -> list[int]:
    return [i for record in batch_records for i in json.loads(record)[0]]


def drain(spool: Spool, max_rows: int = 1000) -> list[int]:
    seen = []
    while (batch := spool.read(max_rows)) is not None:
        assert batch.rows == len(ids(batch.records)) == sum(batch.counts)
        seen += ids(batch.records)
        spool.commit(batch)
    return seen


class Drops:
    def __init__(self) -> None:
        self.count = 0
        self.reasons: set[str] = set()

    def __call__(self, count: int, reason: str) -> None:
        self.count += count
        self.reasons.add(reason)


def test_fifo_in_whole_records(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(0, 100, 10):
        assert add(spool, i, 10, per_record=5) == 10
    assert spool.stats().records == 20 and spool.pending_rows() == 100
    batch = spool.read(7)  # records are never split: 5 rows, not 7
    assert batch is not None and ids(batch.records) == [0, 1, 2, 3, 4]
    spool.commit(batch)
    assert drain(spool, max_rows=3) == list(range(5, 100))  # a record bigger than max_rows comes whole
    assert spool.pending_rows() == 0 and spool.stats().records == 0
    spool.close()


def test_uncommitted_batch_is_read_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    add(spool, 0, 5)
    batch = spool.read(3)
    assert batch is not None and ids(batch.records) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="neither committed nor abandoned"):
        spool.read(3)
    spool.release(batch)  # delivery failed: put back
    again = spool.read(10)
    assert again is not None and ids(again.records) == [0, 1, 2, 3, 4]
    spool.close()


def test_read_stops_before_a_given_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    first = spool.append(*records(0, 3))[1]
    later = spool.append(*records(3, 3))[1]
    assert spool.position() == first and later == first + 3
    batch = spool.read(100, stop=later)
    assert batch is not None and ids(batch.records) == [0, 1, 2]
    spool.commit(batch)
    assert spool.position() == later
    batch = spool.read(100, stop=later)  # a stop at (or before) the oldest record is no stop
    assert batch is not None and ids(batch.records) == [3, 4, 5]
    spool.commit(batch)
    assert spool.position() == later + 3  # empty: the id the next record gets (ids are never reused)
    assert spool.append(*records(6, 1))[1] == later + 3
    spool.close()


def test_restart_replays_what_was_not_acknowledged(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    add(spool, 0, 30)
    batch = spool.read(12)
    assert batch is not None
    spool.commit(batch)
    spool.read(5)  # in flight when the process stops: not acknowledged
    spool.close()

    reopened = Spool(tmp_path)
    assert reopened.pending_rows() == 18
    add(reopened, 30, 2)
    assert drain(reopened) == list(range(12, 32))
    reopened.close()


def test_a_crash_keeps_every_committed_record_and_a_torn_write_is_discarded(tmp_path: Path) -> None:
    live = tmp_path / "live"
    spool = Spool(live)
    add(spool, 0, 6, per_record=2)
    batch = spool.read(2)
    assert batch is not None
    spool.commit(batch)
    # the process dies here: copy what is on disk (in the OS, nothing fsynced), then tear the WAL
    crashed = tmp_path / "crashed"
    shutil.copytree(live, crashed)
    with (crashed / f"{DATABASE}-wal").open("ab") as wal:
        wal.write(b"\x37\x7f\x06\x82half a frame")
    reopened = Spool(crashed)
    assert drain(reopened) == [2, 3, 4, 5]
    reopened.close()
    spool.close()


def test_a_damaged_spool_is_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    (tmp_path / DATABASE).write_bytes(b"not a database at all" * 100)
    spool = Spool(tmp_path)
    assert spool.pending_rows() == 0
    add(spool, 0, 2)
    assert drain(spool) == [0, 1]
    spool.close()
    aside = list(tmp_path.glob(f"{DATABASE}.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"not a database")


def test_one_process_per_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with pytest.raises(SpoolLockedError, match="in use by another process"):
        Spool(tmp_path)
    spool.close()
    Spool(tmp_path).close()


def test_drop_oldest_counts_every_dropped_row(tmp_path: Path) -> None:
    drops = Drops()
    spool = Spool(tmp_path, max_bytes=4_000, on_drop=drops)
    total = sum(add(spool, i, 10, per_record=2, width=40) for i in range(0, 400, 10))
    assert total == 400  # drop_oldest always takes the new rows
    assert spool.stats().bytes <= 4_000
    delivered = drain(spool)
    assert drops.count + len(delivered) == 400
    assert delivered == list(range(400 - len(delivered), 400))  # the newest survive, in order
    assert drops.reasons == {"spool_full"}
    assert 0 < len(delivered) < 400
    spool.close()


def test_reject_new_counts_every_dropped_row(tmp_path: Path) -> None:
    drops = Drops()
    spool = Spool(tmp_path, max_bytes=2_000, when_full="reject_new", on_drop=drops)
    accepted = sum(add(spool, i, 5, width=40) for i in range(0, 200, 5))
    assert 0 < accepted < 200 and accepted + drops.count == 200
    assert drain(spool) == list(range(accepted))  # the oldest survive
    spool.close()


def test_evicting_the_batch_in_flight(tmp_path: Path) -> None:
    drops = Drops()
    spool = Spool(tmp_path, max_bytes=3_000, on_drop=drops)
    add(spool, 0, 10, width=40)
    batch = spool.read(4)  # in flight, QuestDB down
    assert batch is not None
    for i in range(10, 100, 10):
        add(spool, i, 10, width=40)
    assert batch.evicted
    spool.abandon(batch)  # the flight failed: its 4 rows count as dropped too
    rest = drain(spool)
    assert drops.count + len(rest) == 100
    spool.close()


def test_evicted_batch_delivered_is_not_counted_as_dropped(tmp_path: Path) -> None:
    drops = Drops()
    spool = Spool(tmp_path, max_bytes=3_000, on_drop=drops)
    add(spool, 0, 10, width=40)
    batch = spool.read(4)
    assert batch is not None
    for i in range(10, 100, 10):
        add(spool, i, 10, width=40)
    spool.commit(batch)  # the flight succeeded after all
    rest = drain(spool)
    assert drops.count + len(rest) + 4 == 100
    spool.close()


def test_flush_accounting(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    add(spool, 0, 3)
    target = spool.appended_total()
    assert not spool.wait_settled(target, 0.05)
    drain(spool)
    assert spool.wait_settled(target, 0.05)
    spool.close()


@pytest.mark.parametrize("policy", ["never", "interval", "always"])
def test_fsync_policies(tmp_path: Path, policy: str) -> None:
    spool = Spool(tmp_path, fsync=policy, fsync_interval_seconds=0.01)  # type: ignore[arg-type]
    add(spool, 0, 3)
    spool.maybe_sync()
    spool.close()
    assert drain(Spool(tmp_path)) == [0, 1, 2]
