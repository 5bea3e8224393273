"""The command line: components, commands and their options (argparse only)."""

from __future__ import annotations

import argparse

from .config import CONFIG_ENV, DEFAULT_CONFIG
from .console import PROG

DESCRIPTION = (
    "tradewatch-backup: backups of QuestDB and Grafana with rotation, a manifest and a checked restore."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    parser.add_argument("--config", help=f"configuration file (default: ${CONFIG_ENV} or {DEFAULT_CONFIG})")
    components = parser.add_subparsers(dest="component", required=True)
    add_questdb_commands(
        components.add_parser("questdb", help="QuestDB: CHECKPOINT + copy of the server root")
    )
    add_grafana_commands(components.add_parser("grafana", help="Grafana: SQLite online backup of grafana.db"))
    return parser


def add_questdb_commands(q: argparse.ArgumentParser) -> None:
    qc = q.add_subparsers(dest="command", required=True)
    for name, text in (
        ("backup", "take a backup and prune old ones"),
        ("restore", "put a backup back into the root (stops/starts the service when one is configured)"),
        ("verify", "compare the running QuestDB with a backup's manifest"),
        ("list", "list the backups"),
        ("release", "run CHECKPOINT RELEASE (after an interrupted backup)"),
    ):
        sub = qc.add_parser(name, help=text)
        sub.add_argument("--root", help="QuestDB server root (-d)")
        sub.add_argument("--url", help="QuestDB REST URL (http://host:port)")
        sub.add_argument("--health-url", dest="health_url", help="health URL (minimal HTTP server)")
        sub.add_argument("--backup-dir", dest="backup_dir", help="folder of the QuestDB backups")
        sub.add_argument("--timeout", type=int, help="seconds for SQL statements, WAL catch-up and health")
        if name == "backup":
            sub.add_argument("--keep", type=int, help="number of backups to keep (>= 1)")
            sub.add_argument("--compress", choices=["gzip", "none"])
            sub.add_argument("--compress-level", dest="compress_level", type=int)
            sub.add_argument(
                "--bwlimit-mib", dest="bwlimit_mib", type=float, help="read limit in MiB/s (0: none)"
            )
            sub.add_argument("--exclude", help="space-separated top-level entries (globs) to leave out")
        if name in ("restore", "verify"):
            sub.add_argument("--backup", default="latest", help="backup name or 'latest' (default)")
        if name == "restore":
            sub.add_argument("--service", help="systemd unit to stop and start ('' for none)")
            sub.add_argument(
                "--owner", help="user[:group] owning the restored files (default: the root's owner)"
            )
            sub.add_argument("--force", action="store_true", help="restore across QuestDB major versions")


def add_grafana_commands(g: argparse.ArgumentParser) -> None:
    gc = g.add_subparsers(dest="command", required=True)
    for name, text in (
        ("backup", "take a backup and prune old ones"),
        ("restore", "put a backup back (stops/starts the service when one is configured)"),
        ("list", "list the backups"),
    ):
        sub = gc.add_parser(name, help=text)
        sub.add_argument("--db", help="path of grafana.db")
        sub.add_argument("--backup-dir", dest="backup_dir", help="folder of the Grafana backups")
        if name == "backup":
            sub.add_argument("--keep", type=int, help="number of backups to keep (>= 1)")
        if name == "restore":
            sub.add_argument("--backup", default="latest", help="backup name or 'latest' (default)")
            sub.add_argument("--service", help="systemd unit to stop and start ('' for none)")
            sub.add_argument(
                "--owner", help="user[:group] owning the restored file (default: the current file's)"
            )
