"""Each run's outcome as a row of QuestDB's backup_runs table, where the stack already looks.

The row goes over QuestDB's REST API (an INSERT over /exec, on the QuestDB host's loopback) with the
[questdb] credentials; the table and its columns are the questdb role's (collector/models.py,
BackupRun). A report that cannot be written is a warning: it never turns a good backup into a
failed one, and the stale-backup alert tells when rows stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import ReportSettings
from .console import warn
from .errors import BackupError
from .questdb_http import QuestDB


@dataclass
class Outcome:
    component: str
    success: bool = False
    duration_seconds: float = 0.0
    bytes_added: int | None = None
    bytes_processed: int | None = None
    snapshot_id: str = ""
    error: str = ""

    def record(self, summary: dict[str, Any]) -> None:
        """What restic's backup summary says of the snapshot."""
        self.snapshot_id = str(summary["snapshot_id"])
        self.bytes_added = int(summary["data_added"])
        self.bytes_processed = int(summary["total_bytes_processed"])


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def insert_statement(table: str, host: str, env: str, outcome: Outcome) -> str:
    values = {
        "timestamp": "systimestamp()",
        "host": sql_text(host),
        "env": sql_text(env),
        "component": sql_text(outcome.component),
        "success": "true" if outcome.success else "false",
        "duration_seconds": repr(round(outcome.duration_seconds, 3)),
        "bytes_added": "NULL" if outcome.bytes_added is None else str(int(outcome.bytes_added)),
        "bytes_processed": "NULL" if outcome.bytes_processed is None else str(int(outcome.bytes_processed)),
        "snapshot_id": sql_text(outcome.snapshot_id) if outcome.snapshot_id else "NULL",
        "error": sql_text(outcome.error[:1000]) if outcome.error else "NULL",
    }
    return f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(values.values())})"


def report(settings: ReportSettings, outcome: Outcome) -> None:
    if not settings.url:
        return
    db = QuestDB(settings.url, settings.user, settings.password, 30)
    try:
        db.exec(insert_statement(settings.table, settings.host, settings.env, outcome))
    except BackupError as err:
        warn(f"the outcome was not recorded in {settings.table}: {err}")
