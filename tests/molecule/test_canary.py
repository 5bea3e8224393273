"""Environments are data: a new environment is a copy of an inventory with only its own values changed.

`canary` is made from a copy of inventories/staging (its group_vars/all/00-shared.yml stays the link to
the shared wiring, copied beside it as in the repository). Only canary's own values change: its name,
its host names, its vault (generated secrets), and, because our machines reach no download site, the
offline QuestDB archive and Grafana as provisioning only; each host is reached as one fresh podman
systemd instance (host_vars: the connection only). No role, playbook or list of environments is edited.

Then: its preflight passes with the strict checks, and a check-mode converge of site.yml on the fresh
instance fails nowhere and leaves the instance and the controller's CA folder untouched. The same
canary with QuestDB's PG wire bound off loopback without TLS is refused, naming the variable: a new
environment gets the strict checks without being named anywhere.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.molecule.test_scenarios import RECAP, molecule_env
from tests.support.paths import REPO

INSTANCE = "tw-canary-check"
ANSIBLE_PLAYBOOK = str(REPO / ".venv" / "bin" / "ansible-playbook")
TLS_TASK = "questdb : Assert other hosts reach QuestDB over TLS only in canary"


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=300)


@pytest.fixture
def instance() -> Iterator[str]:
    """A fresh systemd instance of the base image, prepared as a host of ours would be: it has its
    package lists, and the system user the CCXT daemon runs as (collector_daemon_user) exists."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    env = molecule_env()
    image = env.get("TRADEWATCH_IMAGE", "localhost/tradewatch-debian:bookworm")
    podman("rm", "-f", "-t", "0", INSTANCE, check=False)
    podman(
        "run", "-d", "--name", INSTANCE, "--hostname", INSTANCE, "--systemd=always",
        "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768", image, "/lib/systemd/systemd",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:  # until systemd's bus is up (right after `podman run` it is not), then until booted
            booted = podman("exec", INSTANCE, "systemctl", "is-system-running", "--wait", check=False)
            if booted.stdout.strip() in ("running", "degraded") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert booted.stdout.strip() in ("running", "degraded"), booted.stdout + booted.stderr
        podman("exec", INSTANCE, "apt-get", "update", "-qq")
        podman("exec", INSTANCE, "useradd", "--system", "--no-create-home", "ccxt")
        yield INSTANCE
    finally:
        podman("rm", "-f", "-t", "0", INSTANCE, check=False)


def make_canary(root: Path, instance: str) -> Path:
    """inventories/canary from a copy of staging, with canary's own values only."""
    shutil.copytree(REPO / "inventories" / "shared", root / "shared", symlinks=True)
    canary = root / "canary"
    shutil.copytree(REPO / "inventories" / "staging", canary, symlinks=True)
    assert (canary / "group_vars" / "all" / "00-shared.yml").is_symlink()

    main = canary / "group_vars" / "all" / "main.yml"
    text, renamed = re.subn(r"(?m)^tradewatch_env: staging$", "tradewatch_env: canary", main.read_text())
    assert renamed == 1, "staging's main.yml no longer names its environment in one line"
    archive = os.environ["TRADEWATCH_QUESTDB_ARCHIVE"]
    sha256 = Path(archive + ".sha256").read_text().split()[0]
    main.write_text(
        text
        + "\n# Air-gapped: no download site is reachable from here.\n"
        + yaml.safe_dump(
            {
                "questdb_archive_path": archive,
                "questdb_archive_sha256": sha256,
                "grafana_package_source": "none",
                "grafana_questdb_plugin_source": "none",
                "grafana_create_account": True,
            }
        )
    )

    hosts_file = canary / "hosts.yml"
    hosts_file.write_text(hosts_file.read_text().replace(".staging.", ".canary."))
    hosts = yaml.safe_load(hosts_file.read_text())
    names = {name for group in hosts["all"]["children"].values() for name in group["hosts"]}
    assert names and all(".canary." in name for name in names), names
    (canary / "host_vars").mkdir()
    for name in names:
        (canary / "host_vars" / f"{name}.yml").write_text(
            yaml.safe_dump(
                {
                    "ansible_connection": "containers.podman.podman",
                    "ansible_host": instance,
                    "ansible_python_interpreter": "/usr/bin/python3",
                }
            )
        )

    example = (canary / "group_vars" / "all" / "vault.yml.example").read_text()

    def secret(match: re.Match[str]) -> str:
        value = secrets.token_urlsafe(18)
        if "webhook_url" in match["name"]:
            value = f"https://discord.example.invalid/api/webhooks/1/{value}"
        return f'{match["name"]}: !unsafe "{value}"'

    vault, count = re.subn(r'(?m)^(?P<name>vault_\w+): !unsafe "CHANGE-ME"', secret, example)
    assert count >= 5, example
    (canary / "group_vars" / "all" / "vault.yml").write_text(vault)
    return canary


def play(inventory: Path, playbook: str, home: Path, *args: str, strategy: str = "linear") -> tuple[int, str]:
    env = molecule_env() | {
        "HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "ansible-tmp"),
        "ANSIBLE_STRATEGY": strategy,
    }
    result = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), *args, str(REPO / playbook)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


@pytest.mark.molecule
@pytest.mark.timeout(1200)
def test_a_new_environment_is_a_copy_of_an_inventory(tmp_path: Path, instance: str) -> None:
    canary = make_canary(tmp_path / "inventories", instance)
    home = tmp_path / "home"
    home.mkdir()

    rc, output = play(canary, "playbooks/preflight.yml", home)
    assert rc == 0, output[-6000:]

    rc, output = play(canary, "site.yml", home, "--check")
    assert rc == 0, output[-6000:]
    recaps = [m.groupdict() for m in RECAP.finditer(output)]
    hosts = yaml.safe_load((canary / "hosts.yml").read_text())["all"]["children"]
    names = {name for group in hosts.values() for name in group["hosts"]}
    assert len(recaps) == len(names) and all(r["failed"] == "0" for r in recaps), recaps
    assert " in canary" in output  # the strict checks ran, named for the environment
    untouched = podman(
        "exec", instance, "sh", "-c", "ls -d /opt/questdb /etc/tradewatch /var/lib/questdb", check=False
    )
    assert untouched.returncode != 0 and untouched.stdout == "", (
        f"check mode changed the host: {untouched.stdout}"
    )
    assert not (home / ".local" / "share" / "tradewatch" / "pki" / "canary").exists(), "check mode made a CA"

    # The same check through Mitogen's strategy (what scripts/deploy uses for the embedded default) over
    # the podman connection: every host ends the same way, task for task.
    rc, mitogen_output = play(canary, "site.yml", home, "--check", strategy="mitogen_linear")
    assert rc == 0, mitogen_output[-6000:]
    assert [m.groupdict() for m in RECAP.finditer(mitogen_output)] == recaps

    # The same new environment with QuestDB's PG wire off loopback and no TLS: refused.
    rc, output = play(
        canary, "playbooks/preflight.yml", home,
        "-e", "questdb_tls_enabled=false", "-e", "questdb_pg_bind_address=0.0.0.0",
    )  # fmt: skip
    assert rc != 0
    assert f"TASK [{TLS_TASK}]" in output, output[-6000:]
    assert "questdb_pg_bind_address is '0.0.0.0' without TLS: in canary" in output, output[-6000:]
