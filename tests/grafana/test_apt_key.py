"""The grafana role accepts Grafana's APT signing key only with the pinned fingerprint (and sha256, when
set): a foreign key never reaches the keyring APT reads, and the error names the variable. Keys here
are Debian's archive keys (a file:// URL stands in for Grafana's https one, which our machines cannot
reach)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.grafana.render import ansible_env
from tests.support.paths import REPO

KEYS = Path("/usr/share/keyrings")
GRAFANA_KEY = KEYS / "debian-archive-bookworm-stable.gpg"  # plays Grafana's key
OTHER_KEY = KEYS / "debian-archive-bullseye-stable.gpg"


def fingerprint(key: Path) -> str:
    with tempfile.TemporaryDirectory() as home:
        out = subprocess.run(
            ["gpg", "--batch", "--homedir", home, "--with-colons", "--show-keys", str(key)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


def run(tmp: Path, key: Path, extra: dict[str, str], check: bool = False) -> subprocess.CompletedProcess[str]:
    variables = {
        "_grafana_apt_keyring_dir": str(tmp / "keyrings"),
        "grafana_apt_key_url": key.as_uri(),
        "ansible_python_interpreter": sys.executable,
        **extra,
    }
    cmd = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        "localhost,",
        str(REPO / "tests" / "grafana" / "apt_key.yml"),
        "-e",
        json.dumps(variables),
        *(["--check"] if check else []),
    ]
    return subprocess.run(cmd, env=ansible_env(tmp), capture_output=True, text=True, timeout=300, check=False)


def changed(result: subprocess.CompletedProcess[str]) -> int:
    recap = result.stdout.rsplit("PLAY RECAP", 1)[1]
    return int(recap.split("changed=")[1].split()[0])


@pytest.mark.parametrize("pin_sha256", [False, True])
def test_grafanas_key_is_installed_once(tmp_path: Path, pin_sha256: bool) -> None:
    extra = {"grafana_apt_key_fingerprint": fingerprint(GRAFANA_KEY)}
    if pin_sha256:
        extra["grafana_apt_key_sha256"] = hashlib.sha256(GRAFANA_KEY.read_bytes()).hexdigest()
    dry = run(tmp_path, GRAFANA_KEY, extra, check=True)
    assert dry.returncode == 0, dry.stdout
    assert not (tmp_path / "keyrings" / "grafana.asc").exists()
    first = run(tmp_path, GRAFANA_KEY, extra)
    assert first.returncode == 0, first.stdout
    assert (tmp_path / "keyrings" / "grafana.asc").read_bytes() == GRAFANA_KEY.read_bytes()
    assert sorted(p.name for p in (tmp_path / "keyrings").iterdir()) == ["grafana.asc"]
    again = run(tmp_path, GRAFANA_KEY, extra)
    assert again.returncode == 0 and changed(again) == 0, again.stdout


def test_a_foreign_key_is_refused_and_never_installed(tmp_path: Path) -> None:
    result = run(tmp_path, OTHER_KEY, {"grafana_apt_key_fingerprint": fingerprint(GRAFANA_KEY)})
    assert result.returncode != 0
    assert "not grafana_apt_key_fingerprint" in result.stdout
    assert fingerprint(OTHER_KEY) in result.stdout
    assert not (tmp_path / "keyrings" / "grafana.asc").exists()


def test_a_key_file_with_another_sha256_is_refused(tmp_path: Path) -> None:
    extra = {
        "grafana_apt_key_fingerprint": fingerprint(GRAFANA_KEY),
        "grafana_apt_key_sha256": hashlib.sha256(OTHER_KEY.read_bytes()).hexdigest(),
    }
    result = run(tmp_path, GRAFANA_KEY, extra)
    assert result.returncode != 0
    assert "checksum" in result.stdout.lower()
    assert not (tmp_path / "keyrings" / "grafana.asc").exists()
