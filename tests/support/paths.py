"""Where the repository and the bootstrap's artifacts are."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def versions() -> dict[str, str]:
    """The pinned versions of scripts/versions.env as a dict."""
    pinned: dict[str, str] = {}
    for line in (REPO / "scripts" / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pinned[key] = value.strip('"')
    return pinned


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tradewatch"
    return Path(os.environ.get("TRADEWATCH_CACHE", default))


def questdb_archive() -> Path:
    """The offline QuestDB artifact that scripts/build-questdb-artifact made."""
    env = os.environ.get("TRADEWATCH_QUESTDB_ARCHIVE")
    if env:
        return Path(env)
    version = versions()["QUESTDB_VERSION"]
    return cache_dir() / "artifacts" / f"questdb-{version}-rt-linux-x86-64.tar.gz"
