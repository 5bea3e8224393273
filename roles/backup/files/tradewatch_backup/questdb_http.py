"""Client of QuestDB's REST API (/exec with HTTP basic auth) and of its health endpoint."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from .errors import BackupError

if TYPE_CHECKING:
    from .config import QuestDBSettings


class QuestDB:
    """Minimal client for QuestDB's /exec endpoint with HTTP basic auth (the password stays inside)."""

    def __init__(self, url: str, user: str, password: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._auth = (
            "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user or password else ""
        )

    def exec(self, sql: str) -> dict[str, Any]:
        url = f"{self.url}/exec?" + urllib.parse.urlencode({"query": sql})
        request = urllib.request.Request(url)
        if self._auth:
            request.add_header("Authorization", self._auth)
        request.add_header("Statement-Timeout", str(int(self.timeout * 1000)))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return dict(json.load(resp))
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            try:
                detail = json.loads(body).get("error", body)
            except ValueError:
                detail = body.strip()[:300]
            if err.code in (401, 403):
                detail = "authentication failed (check user and password in the configuration)"
            raise BackupError(f"QuestDB at {self.url} refused {sql!r}: HTTP {err.code}: {detail}") from err
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise BackupError(f"cannot reach QuestDB at {self.url}: {reason}") from err

    def rows(self, sql: str) -> list[list[Any]]:
        return list(self.exec(sql).get("dataset", []))

    def version(self) -> tuple[str, str]:
        build = str(self.rows("SELECT build()")[0][0])
        match = re.search(r"QuestDB (\d+\.\d+\.\d+)", build)
        return (match.group(1) if match else "unknown"), build

    def checkpoint_in_progress(self) -> bool:
        return bool(self.rows("SELECT in_progress FROM checkpoint_status()")[0][0])

    def tables(self) -> list[dict[str, Any]]:
        # Every column: table_type is there from QuestDB 9.3 on (9.2, the plan's minimum, has none).
        result = self.exec("SELECT * FROM tables()")
        names = [c["name"] for c in result["columns"]]
        tables = []
        for row in result.get("dataset", []):
            if len(row) != len(names):
                raise ValueError(f"tables(): a row of {len(row)} values for {len(names)} columns")
            tables.append(dict(zip(names, row)))
        # Views hold no data of their own (materialized views do: they are tables too).
        return [t for t in tables if t.get("table_type") not in ("V", "v")]

    def count(self, table: str) -> int:
        return int(self.rows(f'SELECT count() FROM "{table}"')[0][0])

    def wal_state(self) -> dict[str, tuple[int, int, bool]]:
        """name -> (writerTxn, sequencerTxn, suspended) of every WAL table."""
        return {
            str(name): (int(writer), int(seq), bool(suspended))
            for name, suspended, writer, seq in self.rows(
                "SELECT name, suspended, writerTxn, sequencerTxn FROM wal_tables()"
            )
        }

    def wait_wal(self, targets: dict[str, int], deadline: float, strict: bool = True) -> dict[str, str]:
        """Wait until each WAL table's writerTxn reached its target sequencer txn.

        Suspended or late tables raise BackupError, or with strict=False are returned with the reason.
        """
        while True:
            state = self.wal_state()
            problems = {}
            for table, target in targets.items():
                writer, _seq, suspended = state.get(table, (target, target, False))
                if suspended:
                    problems[table] = "WAL suspended (see wal_tables() and the QuestDB log)"
                elif writer < target:
                    problems[table] = f"WAL not applied in time (writerTxn {writer} < {target})"
            pending = [t for t, why in problems.items() if why.startswith("WAL not applied")]
            if not pending or time.monotonic() > deadline:
                if problems and strict:
                    raise BackupError("; ".join(f"{t}: {why}" for t, why in problems.items()))
                return problems
            time.sleep(0.1)

    def wait_healthy(self, health_url: str, deadline: float) -> None:
        while True:
            if http_ok(health_url):
                with contextlib.suppress(BackupError):
                    self.rows("SELECT 1")
                    return
            if time.monotonic() > deadline:
                raise BackupError(f"QuestDB did not become healthy ({health_url}, {self.url})")
            time.sleep(0.5)


def http_ok(url: str) -> bool:
    """Whether `url` answers 2xx within 2 s ('' never does)."""
    if not url:
        return False
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(200 <= resp.status < 300)
    except (OSError, urllib.error.URLError):
        return False


def connect(s: QuestDBSettings) -> QuestDB:
    """The client for the configured server (statement timeout: the `timeout` setting)."""
    return QuestDB(s.url, s.user, s.password, float(s.timeout))
