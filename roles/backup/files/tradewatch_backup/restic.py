"""The repository: restic (Debian's package) run as a subprocess, its failures told apart.

restic encrypts, deduplicates and checks; this module only runs it. Its secrets stay out of argv:
the repository location and the password file go through restic's environment variables, the SSH
key through the `sftp.command` option (a path, not the key). restic 0.14 exits 1 on every failure
(wrong password, no repository, a lock) and 3 when a snapshot was saved without some unreadable
files, so failures are told apart by the text on stderr.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .console import warn
from .errors import BackupError

RESTIC = "restic"
# restic's own messages (0.14) for the failures an operator must tell apart.
KNOWN_FAILURES = (
    ("wrong password or no key found", "the repository password is wrong (restic: {text})"),
    ("unable to open config file", "no repository at {location} (restic: {text}); the role creates it"),
    ("Is there a repository at the following location?", "no repository at {location} (restic: {text})"),
    ("repository is already locked", "the repository is locked by another run (restic: {text})"),
    ("Host key verification failed", "the backup server's SSH host key is not the known one (ssh: {text})"),
    ("Permission denied", "the backup server refused the login (ssh: {text})"),
)
LOCKED = "repository is already locked"
PARTIAL = 3  # restic backup: the snapshot was saved, but some files could not be read


@dataclass(frozen=True)
class Repository:
    location: str
    password_file: Path
    cache_dir: Path
    host: str
    ssh_key: str = ""
    known_hosts: str = ""
    ssh_port: int = 22
    limit_upload_kib: int = 0
    timeout: int = 14400

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env.update(
            RESTIC_REPOSITORY=self.location,
            RESTIC_PASSWORD_FILE=str(self.password_file),
            RESTIC_CACHE_DIR=str(self.cache_dir),
        )
        return env

    def options(self) -> list[str]:
        """restic's global options: an upload limit; with an SSH key, how SFTP reaches the server
        (no prompts, only the known host key)."""
        limit = ["--limit-upload", str(self.limit_upload_kib)] if self.limit_upload_kib else []
        if not (self.location.startswith("sftp:") and self.ssh_key):
            return limit
        target = self.location[len("sftp:") :].rsplit(":", 1)[0]
        ssh = [
            "ssh",
            "-i",
            self.ssh_key,
            "-p",
            str(self.ssh_port),
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts or '/dev/null'}",
            target,
            "-s",
            "sftp",
        ]
        return [*limit, "-o", "sftp.command=" + shlex.join(ssh)]

    def run(self, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        argv = [RESTIC, *self.options(), *args]
        try:
            result = subprocess.run(
                argv,
                env=self.environment(),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError as err:
            raise BackupError(f"{RESTIC} is not installed (Debian package restic)") from err
        except subprocess.TimeoutExpired as err:
            raise BackupError(f"restic {args[0]} did not finish in {self.timeout}s") from err
        if result.returncode not in ok:
            raise BackupError(f"restic {args[0]} failed: {self.explain(result.stderr)}")
        return result

    def explain(self, stderr: str) -> str:
        text = " ".join(line.strip() for line in stderr.splitlines() if line.strip())[-600:] or "no message"
        for needle, message in KNOWN_FAILURES:
            if needle in stderr:
                return message.format(text=text, location=self.location)
        return text

    def exists(self) -> bool:
        """Whether the repository is there and opens with the password (raises on any other failure)."""
        try:
            self.run("cat", "config")
        except BackupError as err:
            if "no repository at" in str(err):
                return False
            raise
        return True

    def require(self) -> None:
        """Fail before any work unless the repository is there and opens with the password."""
        if not self.exists():
            raise BackupError(
                f"no repository at {self.location}: create it with `tradewatch-backup repository init` "
                "(the backup role does)"
            )

    def init(self) -> bool:
        """Create the repository unless it exists; True when created."""
        if self.exists():
            return False
        self.run("init")
        return True

    def backup(self, paths: list[str], tag: str, exclude: list[str]) -> dict[str, Any]:
        """One snapshot of `paths`; restic's summary (snapshot_id, data_added, ...) and `partial`."""
        args = ["backup", "--json", "--quiet", "--tag", tag, "--host", self.host]
        for pattern in exclude:
            args += ["--exclude", pattern]
        result = self.run(*args, *paths, ok=(0, PARTIAL))
        summary = next(
            (
                doc
                for doc in map(_json, result.stdout.splitlines())
                if doc and doc.get("message_type") == "summary"
            ),
            None,
        )
        if summary is None:
            raise BackupError(f"restic backup printed no summary: {result.stdout[-300:]!r}")
        summary["partial"] = result.returncode == PARTIAL
        if summary["partial"]:
            warn(f"restic could not read some files: {self.explain(result.stderr)}")
        return summary

    def snapshots(self, tag: str) -> list[dict[str, Any]]:
        """The snapshots with `tag` (all with ''), oldest first."""
        found = json.loads(self.run("snapshots", "--json", *(["--tag", tag] if tag else [])).stdout or "[]")
        return sorted(found or [], key=lambda s: str(s["time"]))

    def resolve(self, tag: str, wanted: str) -> dict[str, Any]:
        """The snapshot `wanted` (an id, short or long, or 'latest') among those with `tag`."""
        snapshots = self.snapshots(tag)
        if not snapshots:
            raise BackupError(f"no {tag} snapshot in {self.location}")
        if wanted == "latest":
            return snapshots[-1]
        matches = [s for s in snapshots if str(s["id"]).startswith(wanted) or s.get("short_id") == wanted]
        if len(matches) != 1:
            names = ", ".join(s["short_id"] for s in snapshots[-10:])
            raise BackupError(f"no single {tag} snapshot {wanted!r} in {self.location} (latest: {names})")
        return matches[0]

    def dump(self, snapshot: str, path: str) -> bytes:
        argv = [RESTIC, *self.options(), "dump", snapshot, path]
        result = subprocess.run(
            argv, env=self.environment(), capture_output=True, timeout=self.timeout, check=False
        )
        if result.returncode != 0:
            why = self.explain(result.stderr.decode(errors="replace"))
            raise BackupError(f"restic dump {path} failed: {why}")
        return result.stdout

    def restore(self, snapshot: str, target: Path, include: str) -> None:
        self.run("restore", snapshot, "--target", str(target), "--include", include)

    def forget(self, tag: str, keep: dict[str, int], deadline: float) -> str:
        """Apply the retention to this host's `tag` snapshots and prune; waits for a backup's lock."""
        args = ["forget", "--prune", "--tag", tag, "--host", self.host, "--group-by", "host,tags"]
        for key, value in keep.items():
            args += [f"--keep-{key}", str(value)] if value else []
        return self.exclusive(args, deadline).stdout

    def check(self, subset: str, deadline: float) -> str:
        args = ["check"] + ([f"--read-data-subset={subset}"] if subset else [])
        return self.exclusive(args, deadline).stdout

    def exclusive(self, args: list[str], deadline: float) -> subprocess.CompletedProcess[str]:
        """A command that needs the repository to itself: stale locks (of killed runs) are removed
        first, and a live one (another component's backup) is waited for until `deadline`."""
        while True:
            self.run("unlock")
            try:
                return self.run(*args)
            except BackupError as err:
                if LOCKED not in str(err) or time.monotonic() > deadline:
                    raise
            time.sleep(10)


def _json(line: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
