"""Settings: built-in defaults, the INI configuration file, command-line overrides."""

from __future__ import annotations

import argparse
import configparser
import os
from dataclasses import dataclass
from pathlib import Path

from .console import warn
from .errors import BackupError

DEFAULT_CONFIG = "/etc/tradewatch-backup/backup.conf"
CONFIG_ENV = "TRADEWATCH_BACKUP_CONFIG"

QUESTDB_DEFAULTS = {
    "root": "/var/lib/questdb",
    "url": "http://127.0.0.1:9000",
    "user": "admin",
    "password": "",
    "health_url": "http://127.0.0.1:9003/status",
    "service": "",
    "backup_dir": "/var/backups/tradewatch/questdb",
    "keep": "7",
    "compress": "gzip",
    "compress_level": "1",
    "bwlimit_mib": "0",
    # Top-level entries of the root left out of the archive: logs, the JVM's temp dir (unpacked
    # native libraries) and data set aside by earlier restores. A folder named exactly (not by a
    # glob) is kept as an empty folder.
    "exclude": "log tmp .pre-restore-* _restore",
    "owner": "",
    "timeout": "600",
}
GRAFANA_DEFAULTS = {
    "db": "/var/lib/grafana/grafana.db",
    "service": "",
    "backup_dir": "/var/backups/tradewatch/grafana",
    "keep": "7",
    "owner": "",
    "timeout": "120",
}


@dataclass(frozen=True)
class QuestDBSettings:
    root: Path
    url: str
    user: str
    password: str
    health_url: str
    service: str
    backup_dir: Path
    compress: str
    compress_level: int
    bwlimit_mib: float
    exclude: list[str]
    owner: str
    keep: int
    timeout: int


@dataclass(frozen=True)
class GrafanaSettings:
    db: Path
    service: str
    backup_dir: Path
    owner: str
    keep: int
    timeout: int


def load_config(path: str | None) -> configparser.ConfigParser:
    """The defaults overlaid with `path`, else with $TRADEWATCH_BACKUP_CONFIG or the default file
    when that exists."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict({"questdb": QUESTDB_DEFAULTS, "grafana": GRAFANA_DEFAULTS})
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


def questdb_settings(args: argparse.Namespace, config: configparser.ConfigParser) -> QuestDBSettings:
    section = config["questdb"]
    keep = int_setting(args, section, "keep", 1)
    compress_level = int_setting(args, section, "compress_level", 1)
    timeout = int_setting(args, section, "timeout", 1)
    try:
        bwlimit_mib = float(setting(args, section, "bwlimit_mib"))
    except ValueError as err:
        raise BackupError("bwlimit_mib must be a number (MiB/s, 0 = unlimited)") from err
    compress = setting(args, section, "compress")
    if compress not in ("gzip", "none"):
        raise BackupError(f"compress must be gzip or none, got {compress!r}")
    return QuestDBSettings(
        root=abs_path("root", setting(args, section, "root")),
        url=setting(args, section, "url"),
        user=setting(args, section, "user"),
        # From the configuration file only: a secret never comes from the command line.
        password=section.get("password", ""),
        health_url=setting(args, section, "health_url"),
        service=setting(args, section, "service"),
        backup_dir=abs_path("backup_dir", setting(args, section, "backup_dir")),
        compress=compress,
        compress_level=compress_level,
        bwlimit_mib=bwlimit_mib,
        exclude=setting(args, section, "exclude").split(),
        owner=setting(args, section, "owner"),
        keep=keep,
        timeout=timeout,
    )


def grafana_settings(args: argparse.Namespace, config: configparser.ConfigParser) -> GrafanaSettings:
    section = config["grafana"]
    keep = int_setting(args, section, "keep", 1)
    timeout = int_setting(args, section, "timeout", 1)
    return GrafanaSettings(
        db=abs_path("db", setting(args, section, "db")),
        service=setting(args, section, "service"),
        backup_dir=abs_path("backup_dir", setting(args, section, "backup_dir")),
        owner=setting(args, section, "owner"),
        keep=keep,
        timeout=timeout,
    )
