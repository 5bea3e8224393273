"""The command line: components, commands and their options (argparse only)."""

from __future__ import annotations

import argparse

from .config import CONFIG_ENV, DEFAULT_CONFIG
from .console import PROG

DESCRIPTION = (
    "tradewatch-backup: backups of QuestDB and Grafana into a restic repository, each with a manifest, "
    "and checked restores."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    parser.add_argument("--config", help=f"configuration file (default: ${CONFIG_ENV} or {DEFAULT_CONFIG})")
    parser.add_argument("--repository", help="restic repository (a path or sftp:user@host:/path)")
    parser.add_argument(
        "--limit-upload-kib", dest="limit_upload_kib", type=int, help="restic upload limit in KiB/s (0: none)"
    )
    components = parser.add_subparsers(dest="component", required=True)
    add_questdb_commands(
        components.add_parser("questdb", help="QuestDB: CHECKPOINT + snapshot of the server root")
    )
    add_grafana_commands(components.add_parser("grafana", help="Grafana: SQLite online backup of grafana.db"))
    repo = components.add_parser("repository", help="the restic repository itself")
    rc = repo.add_subparsers(dest="command", required=True)
    rc.add_parser("init", help="create the repository unless it exists (checks the password when it does)")
    rc.add_parser("check", help="check the repository's structure and a subset of its data")
    rc.add_parser("list", help="list every snapshot")
    return parser


def add_questdb_commands(q: argparse.ArgumentParser) -> None:
    qc = q.add_subparsers(dest="command", required=True)
    for name, text in (
        ("backup", "take a snapshot and apply the retention"),
        ("restore", "put a snapshot back into the root (stops/starts the service when one is configured)"),
        ("verify", "compare the running QuestDB with a snapshot's manifest"),
        ("list", "list the snapshots"),
        ("release", "run CHECKPOINT RELEASE (after an interrupted backup)"),
    ):
        sub = qc.add_parser(name, help=text)
        sub.add_argument("--root", help="QuestDB server root (-d)")
        sub.add_argument("--url", help="QuestDB REST URL (http://host:port)")
        sub.add_argument("--health-url", dest="health_url", help="health URL (minimal HTTP server)")
        sub.add_argument("--timeout", type=int, help="seconds for SQL statements, WAL catch-up and health")
        if name == "backup":
            sub.add_argument("--exclude", help="space-separated top-level entries (globs) to leave out")
        if name in ("restore", "verify"):
            sub.add_argument("--snapshot", default="latest", help="snapshot id or 'latest' (default)")
        if name == "restore":
            sub.add_argument("--service", help="systemd unit to stop and start ('' for none)")
            sub.add_argument(
                "--owner", help="user[:group] owning the restored files (default: the root's owner)"
            )
            sub.add_argument("--force", action="store_true", help="restore across QuestDB major versions")


def add_grafana_commands(g: argparse.ArgumentParser) -> None:
    gc = g.add_subparsers(dest="command", required=True)
    for name, text in (
        ("backup", "take a snapshot and apply the retention"),
        ("restore", "put a snapshot back (stops/starts the service when one is configured)"),
        ("list", "list the snapshots"),
    ):
        sub = gc.add_parser(name, help=text)
        sub.add_argument("--db", help="path of grafana.db")
        if name == "restore":
            sub.add_argument("--snapshot", default="latest", help="snapshot id or 'latest' (default)")
            sub.add_argument("--service", help="systemd unit to stop and start ('' for none)")
            sub.add_argument(
                "--owner", help="user[:group] owning the restored file (default: the current file's)"
            )
