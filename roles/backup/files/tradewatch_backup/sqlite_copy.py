"""SQLite: a consistent copy of a live database file and a checked summary of a copy."""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path

from .errors import BackupError


def sqlite_summary(path: Path) -> dict[str, int]:
    """Row count per table of a SQLite file (opened read-only), after an integrity check."""
    con = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True)
    try:
        check = con.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"{path} fails SQLite's integrity check: {check}")
        names = [
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return {n: int(con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}
    finally:
        con.close()


def sqlite_online_backup(source: Path, copy: Path, timeout: float) -> None:
    """SQLite's online backup API: a consistent copy while Grafana keeps using the file.

    The source is opened read-only, so that nothing (journal, -wal, -shm owned by root) is ever
    created next to Grafana's file. A WAL-mode database whose -shm is absent (Grafana stopped) cannot
    be opened read-only where its folder is not writable (the service's ProtectSystem=strict); with
    no -wal file either, the file is complete in itself and is read as immutable.
    """
    uri = f"file:{urllib.parse.quote(str(source))}?mode=ro"
    companions_absent = not any(source.with_name(source.name + x).exists() for x in ("-wal", "-shm"))
    for attempt in (uri, uri + "&immutable=1"):
        dst = sqlite3.connect(copy)
        try:
            src = sqlite3.connect(attempt, uri=True, timeout=timeout)
            try:
                src.backup(dst)
                return
            finally:
                src.close()
        except sqlite3.OperationalError:
            if attempt != uri or not companions_absent:
                raise
        finally:
            dst.close()
