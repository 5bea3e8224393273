"""The upgrade in side_effect.yml: QuestDB from the plan's minimum release (QUESTDB_PREVIOUS_VERSION, a
no-jre tarball on Debian's Java 17) to the pinned one (QUESTDB_VERSION, the rt artifact, Java 25).

side_effect.yml recorded QuestDB's state (rows and max timestamps of every table and materialized
view, tables(), table_columns(), build(), service PID, current link) into
<ephemeral>/upgrade/before-<host>.json; these tests compare it with now.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from stackinfra import (
    PREFIX_COLLECTOR,
    TABLES,
    Report,
    collector_metrics,
    metric_sum,
    start_time_us,
    wait_until,
)

EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
ARCHIVE = os.environ.get("TRADEWATCH_QUESTDB_ARCHIVE", "")
PREVIOUS, PINNED = os.environ.get("QUESTDB_PREVIOUS_VERSION", "?"), os.environ.get("QUESTDB_VERSION", "?")
# The tables() columns that define a table (the others are live statistics: rows, txns, WAL rates).
DEFINITION = (
    "id",
    "table_name",
    "designatedTimestamp",
    "partitionBy",
    "maxUncommittedRows",
    "o3MaxLag",
    "walEnabled",
    "directoryName",
    "dedup",
    "ttlValue",
    "ttlUnit",
    "matView",
    "table_type",
)


@pytest.fixture(scope="module")
def before(host: Any) -> dict[str, Any]:
    record = EPHEMERAL / "upgrade" / f"before-{host.check_output('hostname')}.json"
    if not record.is_file():
        pytest.skip(f"no upgrade record ({record}): run side_effect before verify")
    return dict(json.loads(record.read_text()))


@pytest.fixture(scope="module")
def after(questdb: Any, before: dict[str, Any]) -> dict[str, Any]:
    cutoffs = {name: table["max_ts"] for name, table in before["tables"].items()}
    return questdb.stack("snapshot", service="questdb", link="/opt/questdb/current", cutoffs=cutoffs)


def new_sha256() -> str:
    return Path(f"{ARCHIVE}.sha256").read_text().split()[0]


def java_of(host: Any, pid: str) -> str:
    return str(host.file(f"/proc/{pid}/cmdline").content.split(b"\0")[0].decode())


def test_service_restarted(before: dict[str, Any], after: dict[str, Any]) -> None:
    old, new = before["service"], after["service"]
    assert new["ActiveState"] == "active"
    assert new["MainPID"] != old["MainPID"]
    assert int(new["ActiveEnterTimestampMonotonic"]) > int(old["ActiveEnterTimestampMonotonic"])


def test_the_release_moved_from_the_minimum_to_the_pinned_one(
    host: Any, before: dict[str, Any], after: dict[str, Any]
) -> None:
    sha = new_sha256()
    Report.add(f"upgrade: {before['build']} -> {after['build']}")
    assert PREVIOUS in before["build"] and PINNED in after["build"], (before["build"], after["build"])
    assert before["link"].startswith(f"/opt/questdb/{PREVIOUS}-")
    assert after["link"] == f"/opt/questdb/{PINNED}-{sha[:12]}", (after["link"], sha)
    marker = host.file(f"{after['link']}/.questdb-archive.sha256").content_string
    assert marker.split()[0] == sha
    # before: the no-jre tarball on Debian's Java 17; after: the rt artifact's own runtime
    assert java_of(host, after["service"]["MainPID"]) == f"{after['link']}/bin/java"
    assert host.file(f"{before['link']}/questdb.jar").is_file
    assert not host.file(f"{before['link']}/bin/java").exists


def test_rows_written_before_are_intact(before: dict[str, Any], after: dict[str, Any]) -> None:
    # settled rows: a table's rows up to its max timestamp; a view's rows before its last bucket, still
    # open then (rows of that minute written after the record add keys to it)
    kept = {
        name: (table["settled"], after["tables"][name]["count_at_cutoff"], table["max_ts"])
        for name, table in before["tables"].items()
    }
    Report.add(
        "upgrade: settled rows up to the pre-upgrade max timestamp (before, after): "
        + ", ".join(f"{name} {b}/{a} <= {ts}" for name, (b, a, ts) in kept.items())
    )
    assert set(kept) == set(TABLES) | set(before["views"])
    assert before["views"] and after["views"] == before["views"]
    for name, (count_before, count_after, _) in kept.items():
        assert before["tables"][name]["count"] > 0 and count_after == count_before, name
        if name in TABLES:
            assert count_before > 0 and after["tables"][name]["count"] > count_before, f"{name}: no new rows"


def test_tables_and_views_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    for name in [*TABLES, *before["views"]]:
        old, new = before["tables"][name], after["tables"][name]
        # the columns' definitions (what table_columns() reported before; a newer release may add keys)
        assert [{k: c[k] for k in o} for o, c in zip(old["columns"], new["columns"], strict=True)] == old[
            "columns"
        ], name
        definition = [key for key in DEFINITION if key in old["tables_row"]]
        assert len(definition) >= 10, f"tables() lacks the expected columns: {sorted(old['tables_row'])}"
        assert {k: new["tables_row"].get(k) for k in definition} == {
            k: old["tables_row"][k] for k in definition
        }


def test_the_collector_spooled_through_the_restart_and_delivered_it(
    host: Any, questdb: Any, settings: dict[str, Any], after: dict[str, Any]
) -> None:
    """The collector ran through QuestDB's restart: its own rows in collector_metrics (cumulative since
    it started; later tests restart it, so its /metrics counters are not the record) show a failed flush
    retried and nothing dropped or rejected, its spool is empty again, and the simulated daemon's
    one-second reports have no hole around the moment the new QuestDB started."""

    def drained() -> Any:
        samples = collector_metrics(host, settings)
        return samples if metric_sum(samples, f"{PREFIX_COLLECTOR}_spool_rows") == 0 else None

    samples = wait_until(drained, timeout=60) or collector_metrics(host, settings)
    started = start_time_us(host, "questdb")
    window = (
        f"timestamp BETWEEN cast({started - 30_000_000} AS timestamp) "
        f"AND cast({started + 30_000_000} AS timestamp)"
    )
    retries, drops, rejects, reports = questdb.poll_rows(
        f"SELECT max(retries), max(drops), max(rejects), count() FROM collector_metrics WHERE {window}"
    )[0]
    gap = questdb.poll_rows(
        "SELECT max(cast(timestamp AS long) - prev) FROM ("
        "SELECT timestamp, lag(cast(timestamp AS long)) OVER (ORDER BY timestamp) AS prev "
        f"FROM daemon_metrics WHERE host = 'simulated-daemon' AND {window})"
    )[0][0]
    spool_rows = metric_sum(samples, f"{PREFIX_COLLECTOR}_spool_rows")
    Report.add(
        f"upgrade under a live collector: {reports} self-reports within 30 s of the new QuestDB's start, "
        f"flush retries {retries}, dropped {drops}, rejected {rejects}, spool rows {spool_rows:g} after; "
        f"longest gap between daemon reports around the restart {gap / 1e6:.1f} s"
    )
    assert reports > 0, "the collector wrote no self-report around the restart"
    assert retries > 0, "the collector never saw QuestDB go away"
    assert (drops, rejects, spool_rows) == (0, 0, 0)
    # The simulated daemon reports once a second, timestamped when polled: a hole means the collector's
    # poll loop stalled. Measured 1.0 s on an idle machine and 4.4 s once under the full suite's load
    # (cause not identified yet: the new JVM's start and the upgrade's disk work compete with it on two
    # cores); a poller blocked on QuestDB would stall for the whole outage and its retries.
    assert gap <= 5_000_000, f"a hole of {gap / 1e6:.1f} s in the reports around the restart"
