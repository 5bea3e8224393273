"""The printed table (plain text, fits a terminal) and the JSON file with every detail."""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import REPO, Report, Result

HEADERS = ("Section", "Metric", "Value", "Target", "Met", "Notes")
MAX_NOTE = 70


def _met(result: Result) -> str:
    if result.met is None:
        return ""
    return "yes" if result.met else "NO"


def _cells(result: Result) -> tuple[str, ...]:
    note = result.note if len(result.note) <= MAX_NOTE else result.note[: MAX_NOTE - 1] + "…"
    return (result.section, result.metric, result.value, result.target, _met(result), note)


def render_table(results: list[Result]) -> str:
    rows = [HEADERS, *(_cells(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [f"+{line}+"]
    previous = None
    for index, row in enumerate(rows):
        if index > 1 and row[0] != previous:
            out.append(f"+{line}+")
        previous = row[0]
        cells = [row[0] if index < 2 or row[0] != rows[index - 1][0] else "", *row[1:]]
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")
        if index == 0:
            out.append(f"+{line.replace('-', '=')}+")
    out.append(f"+{line}+")
    return "\n".join(out)


def git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def header(mode: str, load_start: str, load_end: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"tradewatch bench ({mode}) {now}, commit {git_commit()}, {platform.node()}, "
        f"Python {platform.python_version()}\n"
        f"load average (1/5/15 min) at start: {load_start}; at end: {load_end}\n"
        "Ratios and percentiles come from this run; compare them, not absolute times across runs."
    )


def write_json(path: Path, report: Report, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, "results": [asdict(r) for r in report.results], "details": report.details}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
