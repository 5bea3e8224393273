"""``python -m bench``: run the benchmarks of issue 6 and print one table (see bench/README.md)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO, Progress, Report, Result, load_average, say

SECTIONS = ("ingest", "backlog", "latency", "footprint", "storage", "dashboards", "hook", "tls")


@dataclass(frozen=True)
class Settings:
    ingest_rows: int
    ingest_repeats: int
    backlog_rows: int
    latency_rate: int
    latency_seconds: float
    footprint_rate: int
    footprint_seconds: float
    days: int
    before_days: int
    dashboard_repeats: int
    hook_polls: int
    hook_calls: int
    hook_seconds: float
    tls_rows: int


FULL = Settings(1_000_000, 3, 5_616_000, 10_000, 60.0, 1_000, 60.0, 90, 3, 50, 1_000, 20_000, 60.0, 500_000)
QUICK = Settings(20_000, 1, 20_000, 2_000, 5.0, 1_000, 5.0, 2, 1, 2, 100, 2_000, 5.0, 10_000)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, a few minutes")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}"
    )
    parser.add_argument("--workdir", type=Path, help="where servers and spools live (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write every detail to this JSON file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars or step lines")
    parser.add_argument("--keep", action="store_true", help="keep the QuestDB data directories")
    for name, kind in (
        ("ingest-rows", int),
        ("ingest-repeats", int),
        ("backlog-rows", int),
        ("latency-rate", int),
        ("latency-seconds", float),
        ("footprint-rate", int),
        ("footprint-seconds", float),
        ("days", int),
        ("before-days", int),
        ("dashboard-repeats", int),
        ("hook-polls", int),
        ("hook-calls", int),
        ("hook-seconds", float),
        ("tls-rows", int),
    ):
        parser.add_argument(f"--{name}", type=kind, help=f"default: {getattr(FULL, name.replace('-', '_'))}")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    base = QUICK if args.quick else FULL
    values = {
        name: getattr(args, name) if getattr(args, name) is not None else getattr(base, name)
        for name in Settings.__dataclass_fields__
    }
    return Settings(**values)


def run(args: argparse.Namespace, workdir: Path) -> tuple[Report, str, str]:
    settings = settings_from(args)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))}")
    report = Report()
    report.details["settings"] = settings.__dict__
    load_start = load_average()
    steps: dict[str, Callable[[], None]] = {
        "ingest": lambda: _ingest(report, settings, workdir, args.keep),
        "backlog": lambda: _backlog(report, settings, workdir, args.keep),
        "latency": lambda: _latency(report, settings, workdir, args.keep),
        "footprint": lambda: _footprint(report, settings, workdir, args.keep),
        "storage": lambda: _storage(report, settings, workdir, args.keep, "dashboards" in sections),
        "dashboards": lambda: None,  # runs on the retention dataset of the storage step
        "hook": lambda: _hook(report, settings, workdir),
        "tls": lambda: _tls(report, settings, workdir, args.keep),
    }
    if "dashboards" in sections and "storage" not in sections:
        steps["dashboards"] = lambda: _storage(report, settings, workdir, args.keep, True, storage=False)
    for name in SECTIONS:
        if name not in sections:
            continue
        started = time.monotonic()
        try:
            steps[name]()
        except Exception as err:  # one failing section still prints the others
            traceback.print_exc()
            report.add(Result(name.capitalize(), "error", type(err).__name__, met=False, note=str(err)[:200]))
        report.details.setdefault("seconds", {})[name] = round(time.monotonic() - started, 1)
    return report, load_start, load_average()


def _ingest(report: Report, s: Settings, workdir: Path, keep: bool) -> None:
    from bench.common import questdb
    from bench.ingest import bench_ingest

    with questdb(workdir, "ingest", keep=keep) as server:
        report.add(*bench_ingest(server, s.ingest_rows, s.ingest_repeats, workdir))


def _backlog(report: Report, s: Settings, workdir: Path, keep: bool) -> None:
    from bench.backlog import bench_backlog
    from bench.common import questdb

    with questdb(workdir, "backlog", keep=keep) as server:
        report.add(*bench_backlog(server, s.backlog_rows, workdir))


def _latency(report: Report, s: Settings, workdir: Path, keep: bool) -> None:
    from bench.common import questdb
    from bench.latency import SERVER_SETTINGS, bench_latency
    from bench.retention import RAW_TTL
    from tests.support.schema import create_views

    with questdb(workdir, "latency", ttl=RAW_TTL, keep=keep, extra=SERVER_SETTINGS) as server:
        create_views(server)  # refreshed on every transaction of their base tables, as deployed
        report.add(*bench_latency(server, s.latency_rate, s.latency_seconds, workdir, report.details))


def _footprint(report: Report, s: Settings, workdir: Path, keep: bool) -> None:
    from bench.common import questdb
    from bench.footprint import bench_footprint

    with questdb(workdir, "footprint", keep=keep) as server:
        report.add(*bench_footprint(server, s.footprint_rate, s.footprint_seconds, workdir, report.details))


def _hook(report: Report, s: Settings, workdir: Path) -> None:
    from bench.hook import bench_hook

    report.add(*bench_hook(workdir, s.hook_polls, s.hook_calls, s.hook_seconds))


def _tls(report: Report, s: Settings, workdir: Path, keep: bool) -> None:
    from bench.common import questdb
    from bench.tls import bench_tls

    with questdb(workdir, "tls", keep=keep) as server:
        report.add(*bench_tls(server, s.tls_rows, s.ingest_repeats, workdir))


def _storage(
    report: Report, s: Settings, workdir: Path, keep: bool, dashboards: bool, storage: bool = True
) -> None:
    from bench.storage import bench_storage

    report.add(
        *bench_storage(
            workdir,
            days=s.days,
            before_days=s.before_days,
            details=report.details,
            keep=keep,
            storage=storage,
            dashboard_repeats=s.dashboard_repeats if dashboards else 0,
        )
    )


def main(argv: list[str] | None = None) -> int:
    from bench.report import header, render_table, write_json

    args = parse_args(argv)
    Progress.enabled = not args.no_progress
    mode = "quick" if args.quick else "full"
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        prefix = "tradewatch-bench-"
        if args.keep:  # the servers' roots stay where they are, for a look afterwards
            tmp = tempfile.mkdtemp(prefix=prefix, dir=args.workdir)
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix, dir=args.workdir))
        say(f"bench ({mode}) in {tmp}; load average {load_average()}")
        report, load_start, load_end = run(args, Path(tmp))
    print(header(mode, load_start, load_end))
    print(render_table(report.results))
    if report.details.get("dashboards_slowest"):
        from bench.dashboards import slowest_queries

        print(slowest_queries(report.details))
    missed = [r for r in report.results if r.met is False]
    print(f"{len(report.results)} rows; {len(missed)} target(s) not met" if missed else "every target met")
    if args.json is not None:
        write_json(args.json, report, {"mode": mode, "load_start": load_start, "load_end": load_end})
        print(f"details: {args.json.relative_to(REPO) if args.json.is_relative_to(REPO) else args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
