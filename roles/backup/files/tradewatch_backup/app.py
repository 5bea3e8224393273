"""The program: parse the command line, run one command, map failures to messages and exit codes."""

from __future__ import annotations

import argparse
import configparser
import errno
import os
import signal
import sqlite3
import sys
import time
from types import FrameType

from . import grafana, questdb_backup, questdb_restore
from .cli import build_parser
from .config import (
    RepositorySettings,
    grafana_settings,
    load_config,
    questdb_settings,
    report_settings,
    repository_settings,
)
from .console import PROG, error, log
from .errors import BackupError
from .report import Outcome, report

TAGS = {"questdb": questdb_backup.TAG, "grafana": grafana.TAG}


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM/SIGHUP into an exception so that `finally` blocks (CHECKPOINT RELEASE, cleanup) run.
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace, config: configparser.ConfigParser) -> int:
    """Run the command that `args` names; returns the exit status."""
    r = repository_settings(args, config)
    if args.component == "repository":
        return repository_command(args.command, r)
    if args.command == "backup":
        return backup(args, config, r)
    if args.command == "list":
        return print_snapshots(r, TAGS[args.component])
    if args.component == "questdb":
        q = questdb_settings(args, config)
        if args.command == "restore":
            return questdb_restore.restore(q, r, args.snapshot, args.force)
        if args.command == "verify":
            return questdb_restore.verify(q, r, args.snapshot)
        return questdb_backup.release(q, r)
    return grafana.restore(grafana_settings(args, config), r, args.snapshot)


def backup(args: argparse.Namespace, config: configparser.ConfigParser, r: RepositorySettings) -> int:
    """A backup, then the retention; its outcome is reported whatever happens."""
    outcome = Outcome(component=args.component)
    started = time.monotonic()
    try:
        if args.component == "questdb":
            questdb_backup.backup(questdb_settings(args, config), r, outcome)
        else:
            grafana.backup(grafana_settings(args, config), r, outcome)
        outcome.success = True
        kept = r.repository.forget(TAGS[args.component], r.keep, time.monotonic() + 3600)
        log(f"retention ({', '.join(f'{k} {v}' for k, v in r.keep.items())}) applied")
        if kept.strip():
            print(kept.rstrip(), flush=True)
    except BaseException as err:
        known = isinstance(err, (BackupError, OSError, sqlite3.Error))
        outcome.error = outcome.error or (str(err) if known else f"interrupted ({type(err).__name__} {err})")
        raise
    finally:
        outcome.duration_seconds = time.monotonic() - started
        report(report_settings(config), outcome)
    return 0


def repository_command(command: str, r: RepositorySettings) -> int:
    repo = r.repository
    if command == "init":
        created = repo.init()
        log(f"repository {repo.location} {'created' if created else 'exists and opens'}")
        return 0
    if command == "check":
        print(repo.check(r.check_subset, time.monotonic() + 3600).rstrip(), flush=True)
        log(f"repository {repo.location} checked (data subset {r.check_subset or 'none'})")
        return 0
    return print_snapshots(r, "")


def print_snapshots(r: RepositorySettings, tag: str) -> int:
    """One line per snapshot, newest last: short id, time, host, tags."""
    for snap in r.repository.snapshots(tag):
        tags = ",".join(snap.get("tags", []))
        print(f"{snap['short_id']}  {snap['time'][:19]}Z  {snap['hostname']}  {tags}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    os.umask(0o077)
    try:
        return run(args, load_config(args.config))
    except BackupError as err:
        error(str(err))
        return 1
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        reason = err.strerror or errno.errorcode.get(err.errno or 0, str(err))
        error(f"{reason}{where}")
        return 1
    except sqlite3.Error as err:
        error(f"SQLite: {err}")
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return 130
