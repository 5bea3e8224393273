"""The program: parse the command line, run one command, map failures to messages and exit codes."""

from __future__ import annotations

import argparse
import configparser
import errno
import os
import signal
import sqlite3
import sys
from types import FrameType

from . import grafana, questdb_backup, questdb_restore
from .cli import build_parser
from .config import grafana_settings, load_config, questdb_settings
from .console import PROG, error
from .errors import BackupError
from .rotation import print_backups


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM/SIGHUP into an exception so that `finally` blocks (CHECKPOINT RELEASE, cleanup) run.
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace, config: configparser.ConfigParser) -> int:
    """Run the command that `args` names; returns the exit status."""
    if args.component == "questdb":
        q = questdb_settings(args, config)
        if args.command == "list":
            return print_backups("questdb", q.backup_dir)
        if args.command == "backup":
            return questdb_backup.backup(q)
        if args.command == "restore":
            return questdb_restore.restore(q, args.backup, args.force)
        if args.command == "verify":
            return questdb_restore.verify(q, args.backup)
        return questdb_backup.release(q)
    g = grafana_settings(args, config)
    if args.command == "list":
        return print_backups("grafana", g.backup_dir)
    if args.command == "backup":
        return grafana.backup(g)
    return grafana.restore(g, args.backup)


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
