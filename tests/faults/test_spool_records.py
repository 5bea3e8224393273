"""The client's packed spool records and staged buffers under faults: a damaged record on disk, a
restart with packed records, rows QuestDB or the client refuse in a staged (pre-serialised) batch.

Not marked ``fault``: they are quick and guard the hot path of collector/sink (packed.py,
staging.py) that tests/collector exercises only end to end.
"""

from __future__ import annotations

import base64
import math
import sqlite3
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from questdb import Sender

from collector.models import PipelineMetrics
from collector.sink.client import MetricsClient
from collector.sink.deadletter import DeadLetterFile
from collector.sink.delivery import _buffer_factory
from collector.sink.packed import pack_rows, unpack_rows
from collector.sink.rows import Row, RowEncodingError
from collector.sink.spool import DATABASE, Spool
from collector.sink.staging import Stager
from tests.collector.conftest import make_config, pg_query, wait_all_wal
from tests.support.questdb_server import QuestDBServer

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def rows(host: str, count: int, start: int = 0) -> list[PipelineMetrics]:
    return [
        PipelineMetrics(
            timestamp=T0 + timedelta(seconds=start + i),
            host=host,
            env="dev",
            exchange="okx",
            symbol="BTC/USDT:USDT",
            data_type="oi",
            records_count=i,
            bytes_written=2 * i,
            latency_ms=0.5 * i,
        )
        for i in range(count)
    ]


def test_packed_records_round_trip_exact_types_and_are_counted() -> None:
    row = Row(
        "t", 10**18, {"s": "ä ß\n,="}, {"i": 2**62, "f": 1.0, "b": False, "x": "a\nb", "n": None}, {"ts": 5}
    )
    record = pack_rows([row, row._replace(timestamp_ns=1)])
    back = unpack_rows(record, 2)
    assert back == [row, row._replace(timestamp_ns=1)]
    assert type(back[0].columns["f"]) is float and type(back[0].columns["i"]) is int
    assert type(back[0].columns["b"]) is bool
    with pytest.raises(RowEncodingError, match="unexpected shape"):
        unpack_rows(record, 3)  # the spool's row count disagrees with the record


def test_damaged_packed_records_are_refused() -> None:
    record = bytearray(pack_rows([Row("t", 1, {"exchange": "okx"}, {"v": 1}, {})]))
    record[record.index(b"okx")] ^= 0x01  # one bit of a value: 'okx' would still unmarshal, as 'nkx'
    with pytest.raises(RowEncodingError, match="checksum mismatch"):
        unpack_rows(bytes(record), 1)
    with pytest.raises(RowEncodingError, match="corrupt packed spool record"):
        unpack_rows(b"xy", 1)


@pytest.mark.parametrize("value", [math.nan, math.inf, "bad \udcff", b"bytes", object(), [1]])
def test_rows_the_json_encoding_refused_are_still_refused_at_add_time(tmp_path: Path, value: object) -> None:
    client = MetricsClient(make_config(tmp_path, None))
    try:
        good = Row("daemon_metrics", 1, {"host": "h", "env": "dev"}, {"running": True}, {})
        assert client.add_rows([good, good._replace(columns={"running": True, "x": value})]) == 1
        (entry,) = DeadLetterFile(client.config.spool.dead_letter_path()).read()
        assert str(entry["reason"]).startswith("cannot encode row for table 'daemon_metrics': column 'x'")
    finally:
        client.close(0.2)


def test_packed_records_survive_a_restart_and_a_damaged_one_is_dead_lettered(
    tmp_path: Path, qdb: QuestDBServer, host: str
) -> None:
    down = MetricsClient(make_config(tmp_path, None))
    for window in range(3):
        assert down.add_many(rows(host, 100, start=100 * window)) == 100  # 3 packed records
    assert down.close(0.2) is False
    spool = Spool(tmp_path / "spool")
    assert spool.pending_rows() == 300  # counted from the spool's records after the restart
    spool.close()
    # damage the second record's payload
    with closing(sqlite3.connect(tmp_path / "spool" / DATABASE)) as db, db:
        record_id, data = db.execute("SELECT id, data FROM records ORDER BY id LIMIT 1 OFFSET 1").fetchone()
        damaged = bytearray(data)
        damaged[40] ^= 0x01
        db.execute("UPDATE records SET data = ? WHERE id = ?", (bytes(damaged), record_id))
    config = make_config(tmp_path, qdb)
    with MetricsClient(config) as up:
        assert up.flush(30)
        value = up.metrics.registry.get_sample_value
        assert value("tradewatch_collector_rows_rejected_total", {"table": "unknown"}) == 100
    wait_all_wal(qdb)
    got = pg_query(qdb, "SELECT records_count, count() FROM pipeline_metrics WHERE host = %s", (host,))
    assert sum(n for _, n in got) == 200
    (entry,) = DeadLetterFile(config.spool.dead_letter_path()).read()
    assert "checksum mismatch" in str(entry["reason"]) and entry["rows"] == 100
    assert base64.b64decode(str(entry["raw"])) == bytes(damaged)


def test_a_staged_batch_isolates_rows_questdb_and_the_client_refuse(
    tmp_path: Path, qdb: QuestDBServer, host: str
) -> None:
    config = make_config(tmp_path, qdb, batch_size=10_000, flush_interval_seconds=60)
    with MetricsClient(config) as client:
        client.add_many(rows(host, 5))
        assert client.flush(30)  # the sender is connected: from now on the producers stage buffers
        assert client._stager.active
        ts = int((T0 + timedelta(days=1)).timestamp() * 1e9)
        good = [
            Row("daemon_metrics", ts + i * 1000, {"host": host, "env": "dev"}, {"fetch_count": i}, {})
            for i in range(10)
        ]
        cast_error = good[0]._replace(timestamp_ns=ts + 100_000, columns={"fetch_count": "not a number"})
        bad_name = good[0]._replace(timestamp_ns=ts + 200_000, columns={"bad name\n": 1})
        assert client.add_rows([*good[:5], cast_error, *good[5:], bad_name]) == 12
        assert client.flush(60)
        value = client.metrics.registry.get_sample_value
        assert value("tradewatch_collector_rows_rejected_total", {"table": "daemon_metrics"}) == 2
        assert value("tradewatch_collector_rows_sent_total", {"table": "daemon_metrics"}) == 10
    wait_all_wal(qdb)
    assert pg_query(qdb, "SELECT count() FROM daemon_metrics WHERE host = %s", (host,)) == [(10,)]
    reasons = [str(e["reason"]) for e in DeadLetterFile(config.spool.dead_letter_path()).read()]
    assert len(reasons) == 2
    assert any("cast error" in r for r in reasons)  # refused by QuestDB, isolated from its batch
    assert any(r.startswith("client refused the row: Bad string") for r in reasons)  # refused while staging


def test_packed_records_never_hold_more_rows_than_a_request(tmp_path: Path) -> None:
    client = MetricsClient(make_config(tmp_path, None, max_request_rows=3))
    try:
        assert client.add_many(rows("h", 10)) == 10
    finally:
        client.close(0.2)
    with closing(sqlite3.connect(tmp_path / "spool" / DATABASE)) as db, db:
        assert db.execute("SELECT rows FROM records ORDER BY id").fetchall() == [(3,), (3,), (3,), (1,)]


class _BrokenBuffer:
    def row(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("broken buffer")

    def __len__(self) -> int:
        return 0


def test_a_staging_failure_neither_fails_add_nor_loses_rows(
    tmp_path: Path, qdb: QuestDBServer, host: str
) -> None:
    config = make_config(tmp_path, qdb, batch_size=10_000, flush_interval_seconds=60)
    with MetricsClient(config) as client:
        client.add_many(rows(host, 5))
        assert client.flush(30) and client._stager.active
        client._stager._factory = _BrokenBuffer  # the rows are spooled before staging breaks
        assert client.add_many(rows(host, 7, start=5)) == 7
        assert client.flush(30)
    wait_all_wal(qdb)
    assert pg_query(qdb, "SELECT count() FROM pipeline_metrics WHERE host = %s", (host,)) == [(12,)]
    assert DeadLetterFile(config.spool.dead_letter_path()).read() == []


def test_staged_buffers_hold_no_more_than_the_spool_may(tmp_path: Path) -> None:
    """While the sender takes nothing (QuestDB down), the producers stop staging once the sealed
    buffers pass the spool's max_bytes: the rows stay in the spool only."""
    limit = 64 << 10
    config = make_config(tmp_path, spool={"max_bytes": limit})
    with MetricsClient(config) as client:
        assert client._stager.max_bytes == limit
    stager = Stager(50, limit)
    sender = Sender.from_conf("http::addr=127.0.0.1:9;protocol_version=2;")  # never connects
    sender.establish()
    stager.configure(_buffer_factory(sender), 2)
    row = Row("daemon_metrics", 0, {"host": "h", "env": "dev"}, {"fetch_count": 1}, {})
    record = pack_rows([row])
    for call in range(400):  # 20,000 rows, about 1.5 MB of ILP, in batches of 50 one-row records
        stager.add(call * 50, [record] * 50, [1] * 50, [row] * 50, [Counter(daemon_metrics=1)] * 50)
    sender.close()
    first = stager.take(0)
    assert first is not None and first.rows == 50
    assert limit < stager._sealed_bytes + first.size() <= limit + 2 * first.size()
