"""Tar streams of a QuestDB server root: writing (hashed, throttled, excludes) and safe unpacking."""

from __future__ import annotations

import contextlib
import fnmatch
import gzip
import hashlib
import io
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

from .errors import BackupError


class HashingWriter(io.RawIOBase):
    """Counts and hashes what is written to the underlying file."""

    def __init__(self, raw: IO[bytes]) -> None:
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

    def __init__(self, fh: IO[bytes], size: int, throttle: Callable[[int], None]) -> None:
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
    """Sleeps as needed to keep the bytes read at `mib_per_s` on average (<= 0: no limit)."""

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


def write_root_archive(root: Path, out: IO[bytes], exclude: list[str], bwlimit_mib: float) -> dict[str, int]:
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
                    reader = SourceReader(fh, info.size, throttle)
                    tar.addfile(info, reader)
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


@contextlib.contextmanager
def archive_writer(path: Path, compression: str, level: int) -> Iterator[tuple[IO[bytes], HashingWriter]]:
    """Create `path` and yield a stream into it (gzip, fixed mtime, or "none") with the hasher that
    counts and hashes the bytes of the file; the file is fsynced when the block ends."""
    with path.open("wb") as raw:
        hasher = HashingWriter(raw)
        if compression == "gzip":
            with gzip.GzipFile(fileobj=hasher, mode="wb", compresslevel=level, mtime=0) as gz:
                yield cast(IO[bytes], gz), hasher
        else:
            yield cast(IO[bytes], hasher), hasher
        raw.flush()
        os.fsync(raw.fileno())


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
