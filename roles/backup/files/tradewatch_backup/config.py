"""Settings: built-in defaults, the INI configuration file, command-line overrides."""

from __future__ import annotations

import argparse
import configparser
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from .console import warn
from .errors import BackupError
from .restic import Repository

DEFAULT_CONFIG = "/etc/tradewatch-backup/backup.conf"
CONFIG_ENV = "TRADEWATCH_BACKUP_CONFIG"

KEEP_RULES = ("last", "daily", "weekly", "monthly")
REPOSITORY_DEFAULTS = {
    # restic's repository: a local path or sftp:user@host:/path (then ssh_key, known_hosts, ssh_port).
    "repository": "",
    "password_file": "/etc/tradewatch-backup/repository-password",
    "cache_dir": "/var/cache/tradewatch-backup",
    "state_dir": "/var/lib/tradewatch-backup",
    "host": "",
    "ssh_key": "",
    "known_hosts": "",
    "ssh_port": "22",
    # restic --limit-upload in KiB/s (0: none): spares the link; a QuestDB backup holds its checkpoint longer.
    "limit_upload_kib": "0",
    # restic forget --keep-<rule> after each backup (0: the rule is not used).
    "keep_last": "0",
    "keep_daily": "7",
    "keep_weekly": "4",
    "keep_monthly": "6",
    # restic check --read-data-subset (empty: structure only).
    "check_subset": "10%",
    "timeout": "14400",
}
QUESTDB_DEFAULTS = {
    "root": "/var/lib/questdb",
    "url": "http://127.0.0.1:9000",
    "user": "admin",
    "password": "",
    "health_url": "http://127.0.0.1:9003/status",
    "service": "",
    # Top-level entries of the root left out: logs, the JVM's temp dir (unpacked native libraries)
    # and data set aside by earlier restores.
    "exclude": "log tmp .pre-restore-* _restore",
    "owner": "",
    "timeout": "600",
}
GRAFANA_DEFAULTS = {
    "db": "/var/lib/grafana/grafana.db",
    "service": "",
    "owner": "",
    "timeout": "120",
}
# Where each run's outcome goes: a row in QuestDB's backup_runs table over its REST API (on the
# QuestDB host: loopback), with the [questdb] section's credentials. url empty: no row.
REPORT_DEFAULTS = {"url": "", "table": "backup_runs", "env": ""}


@dataclass(frozen=True)
class QuestDBSettings:
    root: Path
    url: str
    user: str
    password: str
    health_url: str
    service: str
    exclude: list[str]
    owner: str
    timeout: int


@dataclass(frozen=True)
class GrafanaSettings:
    db: Path
    service: str
    owner: str
    timeout: int


@dataclass(frozen=True)
class RepositorySettings:
    repository: Repository
    state_dir: Path
    keep: dict[str, int]
    check_subset: str


@dataclass(frozen=True)
class ReportSettings:
    url: str
    host: str
    user: str
    password: str
    table: str
    env: str


def load_config(path: str | None) -> configparser.ConfigParser:
    """The defaults overlaid with `path`, else with $TRADEWATCH_BACKUP_CONFIG or the default file
    when that exists."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(
        {
            "repository": REPOSITORY_DEFAULTS,
            "questdb": QUESTDB_DEFAULTS,
            "grafana": GRAFANA_DEFAULTS,
            "report": REPORT_DEFAULTS,
        }
    )
    if path is None:
        path = os.environ.get(CONFIG_ENV, DEFAULT_CONFIG)
        if not os.path.exists(path):
            return parser
    try:
        st = os.stat(path)
    except OSError as err:
        raise BackupError(f"cannot read configuration {path}: {err.strerror}") from err
    if st.st_mode & 0o077:
        warn(
            f"{path} is readable by group or others (mode {st.st_mode & 0o777:o}); it holds secrets, use 0600"
        )
    with open(path, encoding="utf-8") as fh:
        parser.read_file(fh)
    return parser


def setting(args: argparse.Namespace, section: configparser.SectionProxy, key: str) -> str:
    """Command-line value if given, else the configuration file's, else the default."""
    value = getattr(args, key, None)
    return str(value) if value is not None else section.get(key, "")


def int_setting(args: argparse.Namespace, section: configparser.SectionProxy, key: str, minimum: int) -> int:
    raw = setting(args, section, key)
    try:
        value = int(raw)
    except ValueError as err:
        raise BackupError(f"{key} must be an integer, got {raw!r}") from err
    if value < minimum:
        raise BackupError(f"{key} must be >= {minimum}, got {value}")
    return value


def abs_path(key: str, value: str) -> Path:
    if not os.path.isabs(value):
        raise BackupError(f"{key} must be an absolute path, got {value!r}")
    return Path(value)


def host_name(config: configparser.ConfigParser) -> str:
    """The name this host's snapshots and backup_runs rows carry: [repository] host, else the system's."""
    return config["repository"].get("host", "") or socket.gethostname()


def repository_settings(args: argparse.Namespace, config: configparser.ConfigParser) -> RepositorySettings:
    section = config["repository"]
    location = setting(args, section, "repository")
    if not location:
        raise BackupError("repository is not set (a local path or sftp:user@host:/path)")
    if ":" not in location:
        abs_path("repository", location)
    keep = {rule: int_setting(args, section, f"keep_{rule}", 0) for rule in KEEP_RULES}
    if not any(keep.values()):
        raise BackupError(
            "no retention: set at least one of " + ", ".join(f"keep_{rule}" for rule in KEEP_RULES)
        )
    return RepositorySettings(
        repository=Repository(
            location=location,
            password_file=abs_path("password_file", section.get("password_file", "")),
            cache_dir=abs_path("cache_dir", section.get("cache_dir", "")),
            host=host_name(config),
            ssh_key=section.get("ssh_key", ""),
            known_hosts=section.get("known_hosts", ""),
            ssh_port=int_setting(args, section, "ssh_port", 1),
            limit_upload_kib=int_setting(args, section, "limit_upload_kib", 0),
            timeout=int_setting(args, section, "timeout", 1),
        ),
        state_dir=abs_path("state_dir", setting(args, section, "state_dir")),
        keep=keep,
        check_subset=setting(args, section, "check_subset"),
    )


def report_settings(config: configparser.ConfigParser) -> ReportSettings:
    section, questdb = config["report"], config["questdb"]
    return ReportSettings(
        url=section.get("url", ""),
        host=host_name(config),
        user=questdb.get("user", ""),
        password=questdb.get("password", ""),
        table=section.get("table", ""),
        env=section.get("env", ""),
    )


def questdb_settings(args: argparse.Namespace, config: configparser.ConfigParser) -> QuestDBSettings:
    section = config["questdb"]
    timeout = int_setting(args, section, "timeout", 1)
    return QuestDBSettings(
        root=abs_path("root", setting(args, section, "root")),
        url=setting(args, section, "url"),
        user=setting(args, section, "user"),
        # From the configuration file only: a secret never comes from the command line.
        password=section.get("password", ""),
        health_url=setting(args, section, "health_url"),
        service=setting(args, section, "service"),
        exclude=setting(args, section, "exclude").split(),
        owner=setting(args, section, "owner"),
        timeout=timeout,
    )


def grafana_settings(args: argparse.Namespace, config: configparser.ConfigParser) -> GrafanaSettings:
    section = config["grafana"]
    return GrafanaSettings(
        db=abs_path("db", setting(args, section, "db")),
        service=setting(args, section, "service"),
        owner=setting(args, section, "owner"),
        timeout=int_setting(args, section, "timeout", 1),
    )
