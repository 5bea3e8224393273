"""The machine self-test (scripts/check-machine) passes here and fails in one clear line when a piece
it checks is missing; scripts/bootstrap installs every Debian package by name."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import REPO

CHECK = REPO / "scripts" / "check-machine"
PACKAGES = REPO / "scripts" / "debian-packages"
CNI_DIR = Path("/usr/lib/cni")

pytestmark = pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")


def check(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_overrides}
    return subprocess.run([str(CHECK)], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def declared_packages() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in PACKAGES.read_text().splitlines())
    return [line for line in lines if line]


def test_machine_check_passes_here() -> None:
    result = check({})
    assert result.returncode == 0, result.stderr


def test_without_the_dns_plugin_the_check_fails_in_one_line_naming_the_package(tmp_path: Path) -> None:
    # The CNI plugins of this machine, less dnsname: what a machine without the package looks like.
    plugins = tmp_path / "cni"
    plugins.mkdir()
    for plugin in CNI_DIR.iterdir():
        if plugin.name != "dnsname":
            (plugins / plugin.name).symlink_to(plugin)
    conf = (REPO / "scripts" / "podman" / "containers.conf").read_text()
    conf = conf.replace("[network]\n", f'[network]\ncni_plugin_dirs = ["{plugins}"]\n')
    (tmp_path / "containers.conf").write_text(conf)

    result = check({"CONTAINERS_CONF": str(tmp_path / "containers.conf")})

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("check-machine:")]
    assert len(errors) == 1, result.stderr
    assert "golang-github-containernetworking-plugin-dnsname" in errors[0]
    # Nothing of the throwaway network or instances is left behind.
    leftovers = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True, check=True
    ).stdout
    assert not re.search(r"^tw-check-", leftovers, re.M), leftovers


def test_every_declared_package_is_installed() -> None:
    """What bootstrap installed is what the list names (dpkg's view, not a command on PATH)."""
    missing = [
        pkg
        for pkg in declared_packages()
        if subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Status}", pkg], capture_output=True, text=True
        ).stdout
        != "installed"
    ]
    assert missing == []
