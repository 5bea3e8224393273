#!/usr/bin/env python3
"""Build the collector's wheelhouse on the controller: the collector wheel and its pinned dependencies.

Prints one JSON object: {"key", "dir", "tar", "wheel", "version", "python"}; "tar" is the
wheelhouse as one uncompressed tarball, for a single transfer to the host. The key is a hash of the
wheel's RECORD (the sha256 of every file in it) and of the constraints, so the same sources give
the same key and the role installs a new release only when something really changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")


def build_wheel(source: Path, out: Path) -> Path:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out)]
    result = subprocess.run([*cmd, str(source)], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        sys.exit(f"building the collector wheel from {source} failed:\n{result.stdout}{result.stderr}")
    (wheel,) = out.glob("*.whl")
    return wheel


def content_key(wheel: Path, constraints: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        digest = hashlib.sha256(zf.read(record))
    digest.update(constraints.read_bytes())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, help="the repository to build the wheel from")
    parser.add_argument("--wheel", type=Path, help="a given collector wheel instead of --source")
    parser.add_argument("--wheelhouse", type=Path, help="dependency wheels (air-gapped); else pip downloads")
    parser.add_argument("--constraints", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel if args.wheel else build_wheel(args.source, Path(tmp))
        key = content_key(wheel, args.constraints)
        target = args.cache / key
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            shutil.copy2(wheel, target / wheel.name)
            if args.wheelhouse:
                for dep in args.wheelhouse.glob("*.whl"):
                    shutil.copy2(dep, target / dep.name)
            else:
                pip(
                    "download",
                    "--only-binary=:all:",
                    "-d",
                    str(target),
                    "-c",
                    str(args.constraints),
                    str(target / wheel.name),
                )
            (target / ".complete").write_text(key + "\n")
            with tarfile.open(f"{target}.tar.tmp", "w") as tar:
                tar.add(target, arcname=".")
            Path(f"{target}.tar.tmp").rename(f"{target}.tar")
    version = wheel.name.split("-")[1]
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(
        json.dumps(
            {
                "key": key,
                "dir": str(target),
                "tar": f"{target}.tar",
                "wheel": wheel.name,
                "version": version,
                "python": python,
            }
        )
    )


if __name__ == "__main__":
    main()
