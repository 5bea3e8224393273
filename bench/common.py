"""Shared pieces of the benchmarks: the QuestDB server, progress bars, percentiles, result rows."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.questdb_server import QuestDBServer
from tests.support.schema import create_schema

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    """One line of the printed table. ``met`` None means informational (no target)."""

    section: str
    metric: str
    value: str
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, *results: Result) -> None:
        self.results.extend(results)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f} rows/s"


def fmt_bytes(value: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f} B"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --- progress -------------------------------------------------------------------------------------


class Progress:
    """A progress bar (rich, when installed) or, without it, a line every few seconds on stderr."""

    enabled = True

    def __init__(self, label: str, total: float, unit: str = "") -> None:
        self.label, self.total, self.unit = label, total, unit
        self.done = 0.0
        self._started = time.monotonic()
        self._last_print = 0.0
        self._rich: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if not Progress.enabled:
            return self
        try:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress
        except ImportError:
            print(f"  {self.label} ...", file=sys.stderr, flush=True)
            return self
        self._rich = RichProgress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._rich.start()
        self._task = self._rich.add_task(self.label, total=self.total)
        return self

    def advance(self, amount: float = 1) -> None:
        self.done += amount
        if not Progress.enabled:
            return
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done)
            return
        now = time.monotonic()
        if now - self._last_print >= 5 or self.done >= self.total:
            self._last_print = now
            share = self.done / self.total * 100 if self.total else 100.0
            print(
                f"  {self.label}: {self.done:,.0f}/{self.total:,.0f} {self.unit} ({share:.0f} %, "
                f"{now - self._started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._rich is not None:
            self._rich.stop()
        if Progress.enabled:
            elapsed = time.monotonic() - self._started
            print(f"  {self.label}: done in {elapsed:.1f} s", file=sys.stderr, flush=True)


def say(text: str) -> None:
    if Progress.enabled:
        print(f"==> {text}", file=sys.stderr, flush=True)


# --- the server -----------------------------------------------------------------------------------


@dataclass
class BenchQuestDB(QuestDBServer):
    """The test harness's QuestDB (same JVM flags, auth and the role's append page sizes as the tests)
    with extra server.conf keys; WAL segments are purged every 5 s so disk sizes settle quickly."""

    extra: dict[str, str] = field(default_factory=dict)

    def write_config(self) -> None:
        super().write_config()
        settings = {"cairo.wal.purge.interval": "5000", **self.extra}
        with (self.root / "conf" / "server.conf").open("a") as conf:
            conf.writelines(f"{key}={value}\n" for key, value in settings.items())


@contextlib.contextmanager
def questdb(
    workdir: Path,
    name: str,
    *,
    ttl: dict[str, str] | None = None,
    heap: str = "-Xmx1g",
    keep: bool = False,
    extra: dict[str, str] | None = None,
) -> Iterator[BenchQuestDB]:
    """A fresh QuestDB under ``workdir/name`` with the monitoring schema (optionally with TTLs and
    extra server.conf keys)."""
    root = workdir / name
    shutil.rmtree(root, ignore_errors=True)
    server = BenchQuestDB(root=root, heap=heap, extra=dict(extra or {}))
    server.start(timeout=120)
    try:
        create_schema(server, ttl=ttl)
        yield server
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (like du: sparse files count what they use)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total
