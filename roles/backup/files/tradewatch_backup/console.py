"""Messages for the operator: progress on stdout, warnings and errors on stderr."""

from __future__ import annotations

import sys

PROG = "tradewatch-backup"


def log(msg: str) -> None:
    print(f"{PROG}: {msg}", flush=True)


def warn(msg: str) -> None:
    print(f"{PROG}: warning: {msg}", file=sys.stderr, flush=True)


def error(msg: str) -> None:
    print(f"{PROG}: error: {msg}", file=sys.stderr, flush=True)


def human(n: float) -> str:
    """A byte count for people: 1.5 MiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")
