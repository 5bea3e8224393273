"""The upgrade in side_effect.yml: QuestDB converged again with a rebuilt artifact of its release.

side_effect.yml recorded QuestDB's state (rows, max timestamps, tables(), table_columns(), service
PID, current link) into <ephemeral>/upgrade/before-<host>.json; these tests compare it with now.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from stackinfra import TABLES, Report

EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
ARCHIVE = os.environ.get("TRADEWATCH_QUESTDB_ARCHIVE", "")
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
    path = EPHEMERAL / "upgrade" / f"{Path(ARCHIVE).name}.sha256"
    return path.read_text().split()[0]


def test_service_restarted(before: dict[str, Any], after: dict[str, Any]) -> None:
    old, new = before["service"], after["service"]
    assert new["ActiveState"] == "active"
    assert new["MainPID"] != old["MainPID"]
    assert int(new["ActiveEnterTimestampMonotonic"]) > int(old["ActiveEnterTimestampMonotonic"])


def test_current_points_at_the_new_release(host: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
    sha = new_sha256()
    assert after["link"] != before["link"]
    assert after["link"].endswith(f"-{sha[:12]}"), (after["link"], sha)
    assert host.file(f"{after['link']}/BUILD-INFO").exists
    marker = host.file(f"{after['link']}/.questdb-archive.sha256").content_string
    assert marker.split()[0] == sha
    java = host.file(f"/proc/{after['service']['MainPID']}/cmdline").content.split(b"\0")[0].decode()
    assert java == f"{after['link']}/bin/java"


def test_rows_written_before_are_intact(before: dict[str, Any], after: dict[str, Any]) -> None:
    kept = {
        name: (table["count"], after["tables"][name]["count_at_cutoff"], table["max_ts"])
        for name, table in before["tables"].items()
    }
    Report.add(
        "upgrade: rows up to the pre-upgrade max timestamp (before, after): "
        + ", ".join(f"{name} {b}/{a} <= {ts}" for name, (b, a, ts) in kept.items())
    )
    assert set(kept) == set(TABLES)
    for name, (count_before, count_after, _) in kept.items():
        assert count_before > 0 and count_after == count_before, name
        assert after["tables"][name]["count"] > count_before, f"{name}: no new rows after the upgrade"


def test_tables_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    for name in TABLES:
        old, new = before["tables"][name], after["tables"][name]
        assert new["columns"] == old["columns"], name
        definition = [key for key in DEFINITION if key in old["tables_row"]]
        assert len(definition) >= 10, f"tables() lacks the expected columns: {sorted(old['tables_row'])}"
        assert {k: new["tables_row"].get(k) for k in definition} == {
            k: old["tables_row"][k] for k in definition
        }
