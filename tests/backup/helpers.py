"""Shared pieces of the backup tests: the program under test, test data and table checksums."""

from __future__ import annotations

import atexit
import base64
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from questdb import Sender, TimestampNanos

from tests.support.paths import REPO
from tests.support.questdb_server import QuestDBServer
from tests.support.schema import schema

BACKUP_FILES = REPO / "roles" / "backup" / "files"
TABLES = [t["name"] for t in schema()]
DAY_NS = 86_400 * 10**9
# 2026-01-01T00:00:00Z; test data spans DAYS days from here (one partition per day).
T0_NS = 1_767_225_600 * 10**9
DAYS = 6
# Rows per monitoring table in the test data.
ROWS = 3000


def target_python() -> str:
    """The hosts' interpreter (Debian's python3, standard library only) when this machine has it."""
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


@functools.cache
def program() -> Path:
    """The program as the role installs it: the zipapp that files/build_zipapp.py makes of the
    tradewatch_backup package (built once per test session, removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="tradewatch-backup-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "tradewatch-backup"
    subprocess.run(
        [
            sys.executable,
            str(BACKUP_FILES / "build_zipapp.py"),
            str(BACKUP_FILES / "tradewatch_backup"),
            str(path),
        ],
        check=True,
    )
    return path


def run_program(
    *args: str, config: Path, preexec_fn: Callable[[], None] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [target_python(), str(program()), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=preexec_fn,
    )


def start_program(*args: str, config: Path) -> subprocess.Popen[str]:
    """The program in the background, stdout and stderr piped (for signal tests)."""
    return subprocess.Popen(
        [target_python(), str(program()), "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """The program's INI configuration (mode 0600, as the role writes it)."""
    text = "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
        for name, settings in sections.items()
    )
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


@dataclass(frozen=True)
class Repo:
    """A restic repository for a test: its location, password file, cache and the program's state."""

    location: str
    folder: Path
    password: str = "test-repository-password"

    @property
    def password_file(self) -> Path:
        path = self.folder / "repository-password"
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            path.write_text(self.password + "\n")
            os.chmod(path, 0o600)
        return path

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "repository": self.location,
            "password_file": self.password_file,
            "cache_dir": self.folder / "cache",
            "state_dir": self.folder / "state",
            **extra,
        }

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "RESTIC_REPOSITORY": self.location,
            "RESTIC_PASSWORD_FILE": str(self.password_file),
            "RESTIC_CACHE_DIR": str(self.folder / "cache"),
        }

    def restic(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["restic", *args]
        return subprocess.run(argv, env=self.environment(), capture_output=True, text=True, timeout=300)

    def dump(self, snapshot: str, path: str) -> bytes:
        """A file of a snapshot, byte for byte."""
        argv = ["restic", "dump", snapshot, path]
        return subprocess.run(
            argv, env=self.environment(), capture_output=True, check=True, timeout=300
        ).stdout

    def snapshots(self, tag: str) -> list[dict[str, Any]]:
        result = self.restic("snapshots", "--json", "--tag", tag)
        assert result.returncode == 0, result.stderr
        return sorted(json.loads(result.stdout or "[]") or [], key=lambda s: str(s["time"]))


def local_repo(tmp_path: Path) -> Repo:
    return Repo(location=str(tmp_path / "repository"), folder=tmp_path / "backup-state")


def questdb_config(
    path: Path,
    server: QuestDBServer,
    repo: Repo,
    repository: dict[str, Any] | None = None,
    report: bool = False,
    **extra: Any,
) -> Path:
    """With `report`, each backup's outcome goes to `server`'s backup_runs (else the tests' row counts
    would move)."""
    settings = {
        "root": server.root,
        "url": server.http_url,
        "user": server.http_user,
        "password": server.http_password,
        "health_url": f"http://{server.host}:{server.min_port}/status",
        "service": "",
        "timeout": 120,
    }
    settings.update(extra)
    return write_config(
        path,
        {
            "repository": repo.settings(**(repository or {})),
            "questdb": settings,
            "report": {"url": server.http_url if report else "", "env": "dev"},
        },
    )


def init_repository(config: Path) -> None:
    result = run_program("repository", "init", config=config)
    assert result.returncode == 0, output(result)


# --------------------------------------------------------------------------------------------
# test data: exact binary fractions, so that sums do not depend on summation order


def _row(table: str, i: int) -> tuple[dict[str, str], dict[str, Any]]:
    env = "dev"
    if table == "daemon_metrics":
        return {"host": f"host{i % 3}", "env": env}, {
            "fetch_count": i,
            "error_count": i % 7,
            "liquidation_count": i % 11,
            "uptime_seconds": i / 4,
            "running": i % 5 != 0,
            "last_error": f"timeout #{i}" if i % 9 == 0 else "",
            "memory_rss_bytes": 100_000_000 + i,
            "cpu_percent": (i % 400) / 8,
            "restart_count": i // 1000,
        }
    if table == "exchange_status":
        return {"exchange": f"ex{i % 4}", "host": f"host{i % 3}", "env": env}, {
            "connected": i % 13 != 0,
            "latency_ms": (i % 1000) / 16,
            "reconnect_count": i % 17,
            "last_message_at": TimestampNanos(T0_NS + i * 10**9),
        }
    if table == "pipeline_metrics":
        return {
            "exchange": f"ex{i % 4}",
            "symbol": f"SYM{i % 25}",
            "data_type": ("ohlcv", "funding", "oi")[i % 3],
            "host": f"host{i % 3}",
            "env": env,
        }, {
            "records_count": i,
            "bytes_written": i * 131,
            "latency_ms": (i % 500) / 32,
            "gap_detected": i % 19 == 0,
            "gap_duration_seconds": (i % 19) / 2,
        }
    if table == "collector_metrics":
        return {"host": f"host{i % 3}", "env": env}, {
            "rows_sent": i * 100,
            "rows_spooled": i % 50,
            "spool_bytes": (i % 50) * 256,
            "spool_age_seconds": (i % 40) / 8,
            "flush_latency_ms": (i % 300) / 16,
            "retries": i // 100,
            "rejects": i // 1000,
            "drops": i // 1500,
        }
    if table == "backup_runs":
        return {"host": f"host{i % 3}", "env": env, "component": ("questdb", "grafana")[i % 2]}, {
            "success": i % 10 != 0,
            "duration_seconds": (i % 64) / 4,
            "bytes_added": i * 1000,
            "bytes_processed": i * 4096,
            "snapshot_id": f"{i:08x}",
        }
    if table != "trading_metrics":
        raise ValueError(f"no test rows for table {table}")
    return {
        "strategy": f"strat{i % 5}",
        "symbol": f"SYM{i % 25}",
        "venue": f"ex{i % 4}",
        "env": env,
        "host": f"host{i % 3}",
    }, {
        "pnl": (i % 2000 - 1000) / 64,
        "unrealized_pnl": (i % 300) / 128,
        "position_size": (i % 50) / 4,
        "orders_placed": i % 90,
        "orders_filled": i % 60,
        "fill_rate": (i % 64) / 64,
        "exposure": (i % 1000) * 2.5,
        "drawdown": (i % 77) / 256,
    }


def write_rows(
    server: QuestDBServer, table: str, start: int, count: int, ts_of: Callable[[int], int]
) -> None:
    with Sender.from_conf(server.ilp_conf) as sender:
        for i in range(start, start + count):
            symbols, columns = _row(table, i)
            sender.row(table, symbols=symbols, columns=columns, at=TimestampNanos(ts_of(i)))
            if (i - start) % 1000 == 999:
                sender.flush()


def load_test_data(server: QuestDBServer, rows_per_table: int) -> None:
    """`rows_per_table` rows in every monitoring table, spread over DAYS days (DAYS partitions)."""
    step = DAYS * DAY_NS // rows_per_table
    for table in TABLES:
        write_rows(server, table, 0, rows_per_table, lambda i: T0_NS + i * step)
    for table in TABLES:
        server.wait_wal(table)


@dataclass
class BusyWriter:
    """Keeps committing small batches into one table (timestamps after the test data, strictly
    increasing) and counts the batches that were committed while QuestDB was in checkpoint mode."""

    server: QuestDBServer
    table: str
    first: int
    batch: int = 20
    written: int = 0
    batches_in_checkpoint: int = 0
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _started: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def ts(self, i: int) -> int:
        return T0_NS + (DAYS + 1) * DAY_NS + i * 10**9

    def in_checkpoint(self) -> bool:
        return bool(self.server.rows("SELECT in_progress FROM checkpoint_status()")[0][0])

    def _run(self) -> None:
        try:
            with Sender.from_conf(self.server.ilp_conf) as sender:
                while not self._stop.is_set():
                    before = self.in_checkpoint()
                    for i in range(self.first + self.written, self.first + self.written + self.batch):
                        symbols, columns = _row(self.table, i)
                        sender.row(
                            self.table, symbols=symbols, columns=columns, at=TimestampNanos(self.ts(i))
                        )
                    sender.flush()  # ILP/HTTP: returns once the server committed the transaction
                    self.written += self.batch
                    if before and self.in_checkpoint():
                        self.batches_in_checkpoint += 1
                    self._started.set()
                    time.sleep(0.01)
        except BaseException as err:
            self.error = err
            self._started.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._started.wait(30), "the writer did not commit its first batch"
        self.server.wait_wal(self.table)

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)
        if self.error is not None:
            raise self.error


# --------------------------------------------------------------------------------------------
# checksums


def export_csv(server: QuestDBServer, sql: str) -> bytes:
    """The result of `sql` as QuestDB's CSV export (/exp)."""
    url = f"{server.http_url}/exp?" + urllib.parse.urlencode({"query": sql})
    token = base64.b64encode(f"{server.http_user}:{server.http_password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        return bytes(resp.read())


def order_by(table: str) -> str:
    keys = next(t["dedup_upsert_keys"] for t in schema() if t["name"] == table)
    return ", ".join(keys)  # the upsert keys identify a row: a total order


def ordered_export(server: QuestDBServer, table: str) -> list[bytes]:
    """Header plus rows of the table in a total order, as CSV lines."""
    return export_csv(server, f"SELECT * FROM {table} ORDER BY {order_by(table)}").splitlines()


def aggregates(server: QuestDBServer, table: str) -> list[Any]:
    columns = server.rows(f"SELECT \"column\", type FROM table_columns('{table}')")
    exprs = ["count()", "min(timestamp)", "max(timestamp)"]
    for name, kind in columns:
        if kind in ("LONG", "INT", "DOUBLE"):
            exprs.append(f"sum({name})")
        elif kind == "BOOLEAN":
            exprs.append(f"sum(CASE WHEN {name} THEN 1 ELSE 0 END)")
        elif kind == "SYMBOL":
            exprs.append(f"count_distinct({name})")
    return list(server.rows(f"SELECT {', '.join(exprs)} FROM {table}")[0])


def checksum(server: QuestDBServer, table: str) -> dict[str, Any]:
    """count, sums of numeric columns, min/max timestamp, and a hash of the ordered full export."""
    lines = ordered_export(server, table)
    return {
        "aggregates": aggregates(server, table),
        "rows": len(lines) - 1,
        "export_sha256": hashlib.sha256(b"\n".join(lines)).hexdigest(),
    }


def prefix_sha256(lines: list[bytes], rows: int) -> str:
    return hashlib.sha256(b"\n".join(lines[: rows + 1])).hexdigest()


def apparent_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def destroy(root: Path) -> None:
    shutil.rmtree(root)
    assert not root.exists()
