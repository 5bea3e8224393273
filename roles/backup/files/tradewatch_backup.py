#!/usr/bin/env python3
"""tradewatch-backup: backups of QuestDB and Grafana with rotation, a manifest and a checked restore.

Python 3.11 standard library only (the program runs on the database hosts, outside any venv).

QuestDB (OSS) is backed up the way its documentation describes for the 9.x line
(operations/backup.md, "QuestDB OSS: manual backups with checkpoints"):

    CHECKPOINT CREATE -> copy the whole server root -> CHECKPOINT RELEASE (always, also on failure)

and restored by putting the root back, touching the ``_restore`` trigger file in the root and
starting QuestDB, which then rolls the copied files back to the checkpoint (the ``.checkpoint``
directory that CHECKPOINT CREATE wrote into the root) and deletes the trigger file.

Grafana's SQLite database is copied with SQLite's online backup API (consistent while Grafana runs).

Secrets come only from the configuration file (mode 0600, root), never from the command line, and
are never printed. Commands:

    tradewatch-backup [--config FILE] questdb backup|restore|verify|list|release
    tradewatch-backup [--config FILE] grafana backup|restore|list

Exit status: 0 success, 1 failure (with a message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import contextlib
import datetime as dt
import errno
import fcntl
import fnmatch
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

PROG = "tradewatch-backup"
DEFAULT_CONFIG = "/etc/tradewatch-backup/backup.conf"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
QUESTDB_ARCHIVE = "questdb-root.tar"
GRAFANA_ARCHIVE = "grafana.db.gz"
RESTORE_TRIGGER = "_restore"
# Written into the backup directory while our checkpoint is held; lets the next run release a
# checkpoint that a killed run left behind (and only that one).
CHECKPOINT_MARKER = ".checkpoint-held"
NAME_RE = re.compile(r"^(questdb|grafana)-\d{8}T\d{6}Z$")
CHUNK = 1 << 20

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


class BackupError(Exception):
    """A failure with a message meant for the operator."""


# --------------------------------------------------------------------------------------------
# small helpers


def log(msg: str) -> None:
    print(f"{PROG}: {msg}", flush=True)


def warn(msg: str) -> None:
    print(f"{PROG}: warning: {msg}", file=sys.stderr, flush=True)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(ts: dt.datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def parse_owner(spec: str) -> tuple[int, int] | None:
    """'user[:group]' or 'uid[:gid]' -> (uid, gid); '' -> None."""
    if not spec:
        return None
    import grp
    import pwd

    user, _, group = spec.partition(":")
    try:
        pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError as err:
        raise BackupError(f"owner: no such user {user!r}") from err
    gid = pw.pw_gid
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError as err:
            raise BackupError(f"owner: no such group {group!r}") from err
    return pw.pw_uid, gid


def chown_tree(root: Path, uid: int, gid: int) -> None:
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def systemctl(action: str, service: str) -> None:
    result = subprocess.run(
        ["systemctl", action, service], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise BackupError(
            f"`systemctl {action} {service}` failed ({result.returncode}): {result.stderr.strip()}"
        )


@contextlib.contextmanager
def exclusive_lock(directory: Path) -> Iterator[None]:
    """One run per backup directory at a time."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise BackupError(f"another {PROG} run holds {directory / '.lock'}") from err
        yield
    finally:
        os.close(fd)


def new_backup_name(component: str, backup_dir: Path) -> str:
    while True:
        name = f"{component}-{utcnow():%Y%m%dT%H%M%SZ}"
        if not (backup_dir / name).exists():
            return name
        time.sleep(0.2)


def list_backups(backup_dir: Path, component: str) -> list[Path]:
    """Complete backups (name matches, manifest present), oldest first."""
    if not backup_dir.is_dir():
        return []
    found = [
        p
        for p in backup_dir.iterdir()
        if p.is_dir()
        and NAME_RE.match(p.name)
        and p.name.startswith(component + "-")
        and (p / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def resolve_backup(backup_dir: Path, component: str, name: str) -> Path:
    backups = list_backups(backup_dir, component)
    if not backups:
        raise BackupError(f"no {component} backup in {backup_dir}")
    if name in ("", "latest"):
        return backups[-1]
    for path in backups:
        if path.name == name:
            return path
    raise BackupError(
        f"no backup named {name!r} in {backup_dir}; available: {', '.join(p.name for p in backups)}"
    )


def clear_partials(backup_dir: Path, component: str) -> None:
    """Delete what interrupted runs left (called under the lock: no other run is writing)."""
    for stale in backup_dir.glob(f".{component}-*.partial"):
        shutil.rmtree(stale, ignore_errors=True)


def prune(backup_dir: Path, component: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` backups."""
    clear_partials(backup_dir, component)
    removed = []
    backups = list_backups(backup_dir, component)
    for old in backups[: max(0, len(backups) - keep)]:
        shutil.rmtree(old)
        removed.append(old.name)
    return removed


def load_manifest(path: Path) -> dict[str, Any]:
    with (path / MANIFEST).open(encoding="utf-8") as fh:
        return dict(json.load(fh))


def verify_archive(backup: Path, manifest: dict[str, Any]) -> Path:
    archive = backup / manifest["archive"]["file"]
    if not archive.is_file():
        raise BackupError(f"{archive} is missing")
    actual = sha256_file(archive)
    if actual != manifest["archive"]["sha256"]:
        raise BackupError(
            f"{archive} is damaged: sha256 {actual} differs from the manifest's "
            f"{manifest['archive']['sha256']}"
        )
    return archive


def move_aside(target: Path, stamp: str) -> Path | None:
    """Move the entries of `target` (a directory, possibly a mount point) out of the way.

    Into a sibling `<name>.pre-restore-<stamp>` when that is on the same filesystem, else into
    `<target>/.pre-restore-<stamp>`; earlier `.pre-restore-*` folders inside stay where they are.
    Nothing is deleted. Returns the folder or None when there was nothing to move.
    """
    entries = [e for e in target.iterdir() if not e.name.startswith(".pre-restore-")]
    if not entries:
        return None
    sibling = target.parent / f"{target.name}.pre-restore-{stamp}"
    aside = (
        sibling
        if os.stat(target).st_dev == os.stat(target.parent).st_dev
        else target / f".pre-restore-{stamp}"
    )
    aside.mkdir(mode=0o700)
    for entry in entries:
        os.rename(entry, aside / entry.name)
    fsync_dir(aside)
    fsync_dir(target)
    return aside


# --------------------------------------------------------------------------------------------
# configuration


def load_config(path: str | None) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict({"questdb": QUESTDB_DEFAULTS, "grafana": GRAFANA_DEFAULTS})
    if path is None:
        path = os.environ.get("TRADEWATCH_BACKUP_CONFIG", DEFAULT_CONFIG)
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


# --------------------------------------------------------------------------------------------
# QuestDB REST client


class QuestDB:
    """Minimal client for QuestDB's /exec endpoint with HTTP basic auth (the password stays inside)."""

    def __init__(self, url: str, user: str, password: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._auth = (
            "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user or password else ""
        )

    def exec(self, sql: str) -> dict[str, Any]:
        url = f"{self.url}/exec?" + urllib.parse.urlencode({"query": sql})
        request = urllib.request.Request(url)
        if self._auth:
            request.add_header("Authorization", self._auth)
        request.add_header("Statement-Timeout", str(int(self.timeout * 1000)))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return dict(json.load(resp))
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            try:
                detail = json.loads(body).get("error", body)
            except ValueError:
                detail = body.strip()[:300]
            if err.code in (401, 403):
                detail = "authentication failed (check user and password in the configuration)"
            raise BackupError(f"QuestDB at {self.url} refused {sql!r}: HTTP {err.code}: {detail}") from err
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise BackupError(f"cannot reach QuestDB at {self.url}: {reason}") from err

    def rows(self, sql: str) -> list[list[Any]]:
        return list(self.exec(sql).get("dataset", []))

    def version(self) -> tuple[str, str]:
        build = str(self.rows("SELECT build()")[0][0])
        match = re.search(r"QuestDB (\d+\.\d+\.\d+)", build)
        return (match.group(1) if match else "unknown"), build

    def checkpoint_in_progress(self) -> bool:
        return bool(self.rows("SELECT in_progress FROM checkpoint_status()")[0][0])

    def tables(self) -> list[dict[str, Any]]:
        result = self.exec("SELECT table_name, walEnabled, directoryName, table_type FROM tables()")
        names = [c["name"] for c in result["columns"]]
        tables = [dict(zip(names, row, strict=True)) for row in result.get("dataset", [])]
        # Views hold no data of their own.
        return [t for t in tables if t.get("table_type") not in ("V", "v")]

    def count(self, table: str) -> int:
        return int(self.rows(f'SELECT count() FROM "{table}"')[0][0])

    def wal_state(self) -> dict[str, tuple[int, int, bool]]:
        return {
            str(name): (int(writer), int(seq), bool(suspended))
            for name, suspended, writer, seq in self.rows(
                "SELECT name, suspended, writerTxn, sequencerTxn FROM wal_tables()"
            )
        }

    def wait_wal(self, targets: dict[str, int], deadline: float, strict: bool = True) -> dict[str, str]:
        """Wait until each WAL table's writerTxn reached its target sequencer txn.

        Suspended or late tables raise BackupError, or with strict=False are returned with the reason.
        """
        while True:
            state = self.wal_state()
            problems = {}
            for table, target in targets.items():
                writer, _seq, suspended = state.get(table, (target, target, False))
                if suspended:
                    problems[table] = "WAL suspended (see wal_tables() and the QuestDB log)"
                elif writer < target:
                    problems[table] = f"WAL not applied in time (writerTxn {writer} < {target})"
            pending = [t for t, why in problems.items() if why.startswith("WAL not applied")]
            if not pending or time.monotonic() > deadline:
                if problems and strict:
                    raise BackupError("; ".join(f"{t}: {why}" for t, why in problems.items()))
                return problems
            time.sleep(0.1)

    def wait_healthy(self, health_url: str, deadline: float) -> None:
        while True:
            if http_ok(health_url):
                with contextlib.suppress(BackupError):
                    self.rows("SELECT 1")
                    return
            if time.monotonic() > deadline:
                raise BackupError(f"QuestDB did not become healthy ({health_url}, {self.url})")
            time.sleep(0.5)


def http_ok(url: str) -> bool:
    if not url:
        return False
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return 200 <= resp.status < 300
    except (OSError, urllib.error.URLError):
        return False


# --------------------------------------------------------------------------------------------
# archive writing


class HashingWriter(io.RawIOBase):
    """Counts and hashes what is written to the underlying file."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.raw.write(view)
        self.digest.update(view)
        self.size += len(view)
        return len(view)


class SourceReader(io.RawIOBase):
    """Reads exactly `size` bytes of a file that may change while it is read.

    QuestDB keeps writing during checkpoint mode. Checkpointed data is only appended to or copied on
    write, so the first `size` bytes (the size at stat time) are what the backup needs; a file that
    shrinks meanwhile is padded with zeros beyond its new end (past the checkpointed data) and
    counted. An optional bandwidth limit keeps the copy from starving the database of I/O.
    """

    def __init__(self, fh: BinaryIO, size: int, throttle: Callable[[int], None]) -> None:
        self.fh = fh
        self.remaining = size
        self.throttle = throttle
        self.padded = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        n = self.remaining if n < 0 else min(n, self.remaining)
        data = self.fh.read(n)
        if len(data) < n:
            pad = n - len(data)
            self.padded += pad
            data += b"\0" * pad
        self.remaining -= len(data)
        self.throttle(len(data))
        return data


class Throttle:
    def __init__(self, mib_per_s: float) -> None:
        self.rate = mib_per_s * 1024 * 1024
        self.start = time.monotonic()
        self.done = 0

    def __call__(self, nbytes: int) -> None:
        if self.rate <= 0:
            return
        self.done += nbytes
        ahead = self.done / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


def write_root_archive(root: Path, out: BinaryIO, exclude: list[str], bwlimit_mib: float) -> dict[str, int]:
    """Stream a tar of `root` (entries relative to it) into `out`; returns statistics."""
    stats = {"files": 0, "dirs": 0, "symlinks": 0, "source_bytes": 0, "vanished": 0, "padded_files": 0}
    throttle = Throttle(bwlimit_mib)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:

        def add(path: Path, arcname: str) -> None:
            try:
                info = tar.gettarinfo(str(path), arcname)
            except FileNotFoundError:
                stats["vanished"] += 1
                return
            if info.isdir():
                stats["dirs"] += 1
                tar.addfile(info)
                try:
                    children = sorted(os.listdir(path))
                except FileNotFoundError:
                    stats["vanished"] += 1
                    return
                for child in children:
                    add(path / child, f"{arcname}/{child}")
            elif info.isreg():
                try:
                    fh = path.open("rb")
                except FileNotFoundError:
                    stats["vanished"] += 1
                    return
                with fh:
                    reader = SourceReader(fh, info.size, throttle)  # type: ignore[arg-type]
                    tar.addfile(info, reader)  # type: ignore[arg-type]
                stats["files"] += 1
                stats["source_bytes"] += info.size
                if reader.padded:
                    stats["padded_files"] += 1
            elif info.issym():
                stats["symlinks"] += 1
                tar.addfile(info)
            # sockets, pipes and devices are not data: skipped

        for name in sorted(os.listdir(root)):
            matches = [pattern for pattern in exclude if fnmatch.fnmatchcase(name, pattern)]
            if not matches:
                add(root / name, name)
            elif name in matches and (root / name).is_dir() and not (root / name).is_symlink():
                # Named exactly (log, tmp): kept as an empty folder with its owner and mode.
                stats["dirs"] += 1
                tar.addfile(tar.gettarinfo(str(root / name), name))
    return stats


def open_archive_for_reading(path: Path, compression: str) -> tarfile.TarFile:
    return tarfile.open(path, mode="r:gz" if compression == "gzip" else "r:")


def safe_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Refuse absolute paths, '..' and links leaving the extraction folder."""
    for member in tar:
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts:
            raise BackupError(f"unsafe path in archive: {member.name!r}")
        if member.islnk() or member.issym():
            target = Path(member.linkname)
            if target.is_absolute() or ".." in (Path(member.name).parent / target).parts:
                raise BackupError(f"unsafe link in archive: {member.name!r} -> {member.linkname!r}")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            continue
        yield member


def extract(tar: tarfile.TarFile, target: Path) -> None:
    kwargs: dict[str, Any] = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
    tar.extractall(target, members=safe_members(tar), numeric_owner=True, **kwargs)


# --------------------------------------------------------------------------------------------
# QuestDB commands


def questdb_settings(args: argparse.Namespace, config: configparser.ConfigParser) -> dict[str, Any]:
    section = config["questdb"]
    s: dict[str, Any] = {
        key: setting(args, section, key)
        for key in ("root", "url", "user", "health_url", "service", "backup_dir", "compress", "owner")
    }
    s["password"] = section.get("password", "")
    s["keep"] = int_setting(args, section, "keep", 1)
    s["compress_level"] = int_setting(args, section, "compress_level", 1)
    s["timeout"] = int_setting(args, section, "timeout", 1)
    try:
        s["bwlimit_mib"] = float(setting(args, section, "bwlimit_mib"))
    except ValueError as err:
        raise BackupError("bwlimit_mib must be a number (MiB/s, 0 = unlimited)") from err
    s["exclude"] = setting(args, section, "exclude").split()
    if s["compress"] not in ("gzip", "none"):
        raise BackupError(f"compress must be gzip or none, got {s['compress']!r}")
    for key in ("root", "backup_dir"):
        if not os.path.isabs(s[key]):
            raise BackupError(f"{key} must be an absolute path, got {s[key]!r}")
        s[key] = Path(s[key])
    return s


def questdb_client(s: dict[str, Any]) -> QuestDB:
    return QuestDB(s["url"], s["user"], s["password"], float(s["timeout"]))


def count_tables(db: QuestDB) -> dict[str, dict[str, Any]]:
    return {
        t["table_name"]: {
            "rows": db.count(t["table_name"]),
            "wal": bool(t["walEnabled"]),
            "dir": t["directoryName"],
        }
        for t in db.tables()
    }


def questdb_backup(args: argparse.Namespace, config: configparser.ConfigParser) -> int:
    s = questdb_settings(args, config)
    root, backup_dir = s["root"], s["backup_dir"]
    if not (root / "db").is_dir():
        raise BackupError(f"{root} is not a QuestDB root (no db/ folder)")
    db = questdb_client(s)
    started = time.monotonic()
    created_at = utcnow()
    with exclusive_lock(backup_dir):
        version, build = db.version()
        marker = backup_dir / CHECKPOINT_MARKER
        if db.checkpoint_in_progress():
            if not marker.exists():
                raise BackupError(
                    "QuestDB is already in checkpoint mode and not by this program (another backup or "
                    "snapshot tool?). Wait for it, or run `CHECKPOINT RELEASE` if it is stale."
                )
            warn("releasing the checkpoint a previous, interrupted run left behind")
            db.exec("CHECKPOINT RELEASE")
        marker.unlink(missing_ok=True)
        clear_partials(backup_dir, "questdb")

        # Lower bound of each table's rows in the checkpoint: row counts only grow while the
        # checkpoint is taken, so a count taken before CHECKPOINT CREATE cannot be above it.
        before = count_tables(db)
        name = new_backup_name("questdb", backup_dir)
        partial = backup_dir / f".{name}.partial"
        partial.mkdir(mode=0o700)
        suffix = ".gz" if s["compress"] == "gzip" else ""
        archive = partial / (QUESTDB_ARCHIVE + suffix)
        stats: dict[str, int] = {}
        release_error = ""
        try:
            marker.write_text(f"{os.getpid()} {iso(utcnow())}\n")
            db.exec("CHECKPOINT CREATE")
            cp_started = time.monotonic()
            log(f"CHECKPOINT CREATE done; copying {root}")
            try:
                # Upper bound target: the sequencer txn of each WAL table right after the checkpoint.
                seq_after = {t: seq for t, (_w, seq, _s) in db.wal_state().items()}
                with archive.open("wb") as raw:
                    hasher = HashingWriter(raw)  # type: ignore[arg-type]
                    if s["compress"] == "gzip":
                        with gzip.GzipFile(
                            fileobj=hasher, mode="wb", compresslevel=s["compress_level"], mtime=0
                        ) as gz:
                            stats = write_root_archive(root, gz, s["exclude"], s["bwlimit_mib"])  # type: ignore[arg-type]
                    else:
                        stats = write_root_archive(root, hasher, s["exclude"], s["bwlimit_mib"])  # type: ignore[arg-type]
                    raw.flush()
                    os.fsync(raw.fileno())
            finally:
                # Always leave checkpoint mode, whatever happened to the copy; a second SIGTERM
                # must not interrupt the release itself.
                blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGHUP})
                try:
                    db.exec("CHECKPOINT RELEASE")
                    marker.unlink(missing_ok=True)
                    log("CHECKPOINT RELEASE done")
                except BackupError as err:
                    release_error = f"CHECKPOINT RELEASE failed: {err}"
                    warn(f"{release_error}; the next run releases it, or run `{PROG} questdb release`")
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            checkpoint_seconds = time.monotonic() - cp_started

            # Upper bound: counts once every transaction the checkpoint can hold has been applied.
            # A table whose WAL is suspended or late gets no upper bound (the backup is still good).
            unknown = db.wait_wal(
                {t: seq for t, seq in seq_after.items() if t in before},
                time.monotonic() + s["timeout"],
                strict=False,
            )
            for table, why in unknown.items():
                warn(f"{table}: {why}; its row count is recorded as a lower bound only")
            after = count_tables(db)
            tables = {
                table: {
                    # min/max: a TTL may drop a partition meanwhile (the only way a count shrinks).
                    "rows_min": min(info["rows"], after.get(table, info)["rows"]),
                    "rows_max": None
                    if table in unknown
                    else max(info["rows"], after.get(table, info)["rows"]),
                    "wal": info["wal"],
                    "dir": info["dir"],
                }
                for table, info in before.items()
            }
            manifest = {
                "format": FORMAT_VERSION,
                "component": "questdb",
                "name": name,
                "host": socket.gethostname(),
                "created_at": iso(created_at),
                "finished_at": iso(utcnow()),
                "questdb_version": version,
                "questdb_build": build,
                "root": str(root),
                "excluded": s["exclude"],
                "method": "CHECKPOINT CREATE; tar of the server root; CHECKPOINT RELEASE",
                "checkpoint_seconds": round(checkpoint_seconds, 3),
                "duration_seconds": round(time.monotonic() - started, 3),
                "archive": {
                    "file": archive.name,
                    "compression": s["compress"],
                    "bytes": hasher.size,
                    "sha256": hasher.digest.hexdigest(),
                    **stats,
                },
                "tables": tables,
            }
            write_json(partial / MANIFEST, manifest)
            fsync_dir(partial)
            final = backup_dir / name
            partial.rename(final)
            fsync_dir(backup_dir)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        removed = prune(backup_dir, "questdb", s["keep"])
    log(
        f"backup {final} done: {human(hasher.size)} archive of {human(stats['source_bytes'])} in "
        f"{stats['files']} files, {manifest['duration_seconds']:.1f}s (checkpoint held "
        f"{checkpoint_seconds:.1f}s), {len(tables)} tables"
    )
    if stats["vanished"] or stats["padded_files"]:
        log(
            f"{stats['vanished']} files vanished and {stats['padded_files']} shrank during the copy "
            "(not checkpointed data)"
        )
    if removed:
        log(f"pruned {', '.join(removed)} (keep {s['keep']})")
    if release_error:
        # The backup is good, but QuestDB still pauses its housekeeping: make the run fail visibly.
        raise BackupError(f"{release_error} (backup {final.name} is complete)")
    return 0


def questdb_restore(args: argparse.Namespace, config: configparser.ConfigParser) -> int:
    s = questdb_settings(args, config)
    root, service = s["root"], s["service"]
    started = time.monotonic()
    with exclusive_lock(s["backup_dir"]):
        backup = resolve_backup(s["backup_dir"], "questdb", args.backup)
        manifest = load_manifest(backup)
        log(
            f"restoring {backup.name} (QuestDB {manifest['questdb_version']}, "
            f"taken {manifest['created_at']}) into {root}"
        )
        archive = verify_archive(backup, manifest)
        db = questdb_client(s)
        owner = parse_owner(s["owner"])

        if service:
            # The running server tells us its version; restores work only within one major version.
            with contextlib.suppress(BackupError):
                version, _ = db.version()
                if version.split(".")[0] != str(manifest["questdb_version"]).split(".")[0] and not args.force:
                    raise BackupError(
                        f"the backup is of QuestDB {manifest['questdb_version']}, the server runs {version}; "
                        "QuestDB restores only within one major version (use --force to try anyway)"
                    )
            log(f"stopping {service}")
            systemctl("stop", service)
        if http_ok(s["health_url"]):
            raise BackupError(f"QuestDB still answers {s['health_url']}; stop it before restoring")

        root.mkdir(parents=True, exist_ok=True)
        if owner is None:
            st = os.stat(root)
            owner = (st.st_uid, st.st_gid)
        stamp = f"{utcnow():%Y%m%dT%H%M%SZ}"
        aside = move_aside(root, stamp)
        if aside:
            log(f"moved the current contents of {root} to {aside} (delete it once the restore is verified)")
        try:
            with open_archive_for_reading(archive, manifest["archive"]["compression"]) as tar:
                extract(tar, root)
            # The documented trigger: on start QuestDB rolls the files back to the checkpoint.
            (root / RESTORE_TRIGGER).touch()
            if os.geteuid() == 0:
                chown_tree(root, *owner)
            fsync_dir(root)
        except BaseException:
            warn(f"unpacking failed; the previous contents are in {aside}" if aside else "unpacking failed")
            raise
        unpack_seconds = time.monotonic() - started
        log(
            f"unpacked {human(manifest['archive']['bytes'])} into {root} in {unpack_seconds:.1f}s; "
            f"{RESTORE_TRIGGER} placed"
        )
        if not service:
            log(f"start QuestDB on {root} now, then run `{PROG} questdb verify --backup {backup.name}`")
            return 0
        log(f"starting {service}")
        systemctl("start", service)
        try:
            questdb_check(db, s, manifest, root, time.monotonic() + s["timeout"])
        except BackupError as err:
            hint = f" The data before the restore is in {aside}." if aside else ""
            raise BackupError(f"restore of {backup.name} not verified: {err}.{hint}") from err
    log(f"restore of {backup.name} verified in {time.monotonic() - started:.1f}s")
    return 0


def questdb_check(
    db: QuestDB, s: dict[str, Any], manifest: dict[str, Any], root: Path, deadline: float
) -> None:
    """Health, trigger consumed, every table present with a row count inside the manifest's range."""
    if s["health_url"]:
        db.wait_healthy(s["health_url"], deadline)
    else:
        db.rows("SELECT 1")
    if (root / RESTORE_TRIGGER).exists():
        raise BackupError(
            f"{root / RESTORE_TRIGGER} is still there: QuestDB did not run its checkpoint recovery"
        )
    expected: dict[str, dict[str, Any]] = manifest["tables"]
    wal = db.wal_state()
    db.wait_wal({t: wal[t][1] for t in expected if t in wal}, deadline)
    live = {t["table_name"] for t in db.tables()}
    problems = []
    for table, info in sorted(expected.items()):
        if table not in live:
            problems.append(f"{table}: missing")
            continue
        rows = db.count(table)
        low, high = info["rows_min"], info["rows_max"]
        ok = low <= rows and (high is None or rows <= high)
        span = str(low) if low == high else f"{low}..{'' if high is None else high}"
        log(f"  {table}: {rows} rows (backup: {span}) {'ok' if ok else 'MISMATCH'}")
        if not ok:
            problems.append(f"{table}: {rows} rows, expected {span}")
    if problems:
        raise BackupError("; ".join(problems))


def questdb_verify(args: argparse.Namespace, config: configparser.ConfigParser) -> int:
    s = questdb_settings(args, config)
    backup = resolve_backup(s["backup_dir"], "questdb", args.backup)
    manifest = load_manifest(backup)
    questdb_check(questdb_client(s), s, manifest, s["root"], time.monotonic() + s["timeout"])
    log(f"QuestDB at {s['url']} matches {backup.name}")
    return 0


def questdb_release(args: argparse.Namespace, config: configparser.ConfigParser) -> int:
    s = questdb_settings(args, config)
    db = questdb_client(s)
    db.exec("CHECKPOINT RELEASE")
    (s["backup_dir"] / CHECKPOINT_MARKER).unlink(missing_ok=True)
    log("CHECKPOINT RELEASE done")
    return 0


def list_command(component: str, backup_dir: Path) -> int:
    for path in list_backups(backup_dir, component):
        manifest = load_manifest(path)
        print(
            f"{path.name}\t{human(manifest['archive']['bytes'])}\t{manifest['duration_seconds']}s\t"
            f"{len(manifest.get('tables', {}))} tables"
        )
    return 0


# --------------------------------------------------------------------------------------------
# Grafana (SQLite) commands


def grafana_settings(args: argparse.Namespace, config: configparser.ConfigParser) -> dict[str, Any]:
    section = config["grafana"]
    s: dict[str, Any] = {key: setting(args, section, key) for key in ("db", "service", "backup_dir", "owner")}
    s["keep"] = int_setting(args, section, "keep", 1)
    s["timeout"] = int_setting(args, section, "timeout", 1)
    for key in ("db", "backup_dir"):
        if not os.path.isabs(s[key]):
            raise BackupError(f"{key} must be an absolute path, got {s[key]!r}")
        s[key] = Path(s[key])
    return s


def sqlite_summary(path: Path) -> dict[str, int]:
    """Row count per table of a SQLite file (opened read-only), after an integrity check."""
    con = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True)
    try:
        check = con.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"{path} fails SQLite's integrity check: {check}")
        names = [
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return {n: int(con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}
    finally:
        con.close()


def sqlite_online_backup(source: Path, copy: Path, timeout: float) -> None:
    """SQLite's online backup API: a consistent copy while Grafana keeps using the file.

    The source is opened read-only, so that nothing (journal, -wal, -shm owned by root) is ever
    created next to Grafana's file. A WAL-mode database whose -shm is absent (Grafana stopped) cannot
    be opened read-only where its folder is not writable (the service's ProtectSystem=strict); with
    no -wal file either, the file is complete in itself and is read as immutable.
    """
    uri = f"file:{urllib.parse.quote(str(source))}?mode=ro"
    companions_absent = not any(source.with_name(source.name + x).exists() for x in ("-wal", "-shm"))
    for attempt in (uri, uri + "&immutable=1"):
        dst = sqlite3.connect(copy)
        try:
            src = sqlite3.connect(attempt, uri=True, timeout=timeout)
            try:
                src.backup(dst)
                return
            finally:
                src.close()
        except sqlite3.OperationalError:
            if attempt != uri or not companions_absent:
                raise
        finally:
            dst.close()


def grafana_backup(args: argparse.Namespace, config: configparser.ConfigParser) -> int:
    s = grafana_settings(args, config)
    source, backup_dir = s["db"], s["backup_dir"]
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    started = time.monotonic()
    created_at = utcnow()
    with exclusive_lock(backup_dir):
        clear_partials(backup_dir, "grafana")
        name = new_backup_name("grafana", backup_dir)
        partial = backup_dir / f".{name}.partial"
        partial.mkdir(mode=0o700)
        try:
            copy = partial / "grafana.db"
            sqlite_online_backup(source, copy, s["timeout"])
            tables = sqlite_summary(copy)
            raw_sha = sha256_file(copy)
            raw_size = copy.stat().st_size
            archive = partial / GRAFANA_ARCHIVE
            with copy.open("rb") as fin, archive.open("wb") as raw:
                hasher = HashingWriter(raw)  # type: ignore[arg-type]
                with gzip.GzipFile(fileobj=hasher, mode="wb", compresslevel=6, mtime=0) as gz:  # type: ignore[arg-type]
                    shutil.copyfileobj(fin, gz, CHUNK)
                raw.flush()
                os.fsync(raw.fileno())
            copy.unlink()
            manifest = {
                "format": FORMAT_VERSION,
                "component": "grafana",
                "name": name,
                "host": socket.gethostname(),
                "created_at": iso(created_at),
                "finished_at": iso(utcnow()),
                "source": str(source),
                "method": "SQLite online backup API, gzip",
                "duration_seconds": round(time.monotonic() - started, 3),
                "database": {"bytes": raw_size, "sha256": raw_sha},
                "archive": {
                    "file": archive.name,
                    "compression": "gzip",
                    "bytes": hasher.size,
                    "sha256": hasher.digest.hexdigest(),
                },
                "tables": {t: {"rows_min": n, "rows_max": n} for t, n in tables.items()},
            }
            write_json(partial / MANIFEST, manifest)
            fsync_dir(partial)
            final = backup_dir / name
            partial.rename(final)
            fsync_dir(backup_dir)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        removed = prune(backup_dir, "grafana", s["keep"])
    log(
        f"backup {final} done: {human(hasher.size)} archive of a {human(raw_size)} database, "
        f"{len(tables)} tables, {manifest['duration_seconds']:.2f}s"
    )
    if removed:
        log(f"pruned {', '.join(removed)} (keep {s['keep']})")
    return 0


def grafana_restore(args: argparse.Namespace, config: configparser.ConfigParser) -> int:
    s = grafana_settings(args, config)
    target, service = s["db"], s["service"]
    started = time.monotonic()
    with exclusive_lock(s["backup_dir"]):
        backup = resolve_backup(s["backup_dir"], "grafana", args.backup)
        manifest = load_manifest(backup)
        log(f"restoring {backup.name} (taken {manifest['created_at']}) into {target}")
        archive = verify_archive(backup, manifest)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.restore")
        with gzip.open(archive, "rb") as fin, staged.open("wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
            fout.flush()
            os.fsync(fout.fileno())
        try:
            if sha256_file(staged) != manifest["database"]["sha256"]:
                raise BackupError(f"{archive} does not unpack to the database the manifest describes")
            expected = {t: v["rows_min"] for t, v in manifest["tables"].items()}
            if sqlite_summary(staged) != expected:
                raise BackupError(f"{archive}: row counts differ from the manifest")
            owner = parse_owner(s["owner"])
            mode = 0o640
            if target.exists():
                st = target.stat()
                owner = owner or (st.st_uid, st.st_gid)
                mode = st.st_mode & 0o777
            if service:
                log(f"stopping {service}")
                systemctl("stop", service)
            # The database and its companions (a stale -wal would be replayed onto the restored file).
            stamp = f"{utcnow():%Y%m%dT%H%M%SZ}"
            moved = []
            for suffix in ("", "-wal", "-shm", "-journal"):
                current = target.with_name(target.name + suffix)
                if current.exists():
                    aside = current.with_name(f"{current.name}.pre-restore-{stamp}")
                    os.rename(current, aside)
                    moved.append(str(aside))
            os.chmod(staged, mode)
            if owner and os.geteuid() == 0:
                os.chown(staged, *owner)
            os.rename(staged, target)
            fsync_dir(target.parent)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        if moved:
            log(f"previous files kept as {', '.join(moved)}")
        if service:
            log(f"starting {service}")
            systemctl("start", service)
    log(f"restore of {backup.name} into {target} done in {time.monotonic() - started:.2f}s")
    return 0


# --------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", help=f"configuration file (default: $TRADEWATCH_BACKUP_CONFIG or {DEFAULT_CONFIG})"
    )
    components = parser.add_subparsers(dest="component", required=True)

    q = components.add_parser("questdb", help="QuestDB: CHECKPOINT + copy of the server root")
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

    g = components.add_parser("grafana", help="Grafana: SQLite online backup of grafana.db")
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
    return parser


def _terminate(signum: int, _frame: Any) -> None:
    # Turn SIGTERM/SIGHUP into an exception so that `finally` blocks (CHECKPOINT RELEASE, cleanup) run.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    os.umask(0o077)
    try:
        config = load_config(args.config)
        if args.component == "questdb":
            if args.command == "list":
                return list_command("questdb", questdb_settings(args, config)["backup_dir"])
            handler = {
                "backup": questdb_backup,
                "restore": questdb_restore,
                "verify": questdb_verify,
                "release": questdb_release,
            }[args.command]
        else:
            if args.command == "list":
                return list_command("grafana", grafana_settings(args, config)["backup_dir"])
            handler = {"backup": grafana_backup, "restore": grafana_restore}[args.command]
        return handler(args, config)
    except BackupError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr, flush=True)
        return 1
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        reason = err.strerror or errno.errorcode.get(err.errno or 0, str(err))
        print(f"{PROG}: error: {reason}{where}", file=sys.stderr, flush=True)
        return 1
    except sqlite3.Error as err:
        print(f"{PROG}: error: SQLite: {err}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
