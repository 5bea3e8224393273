"""The tls role on the controller itself (local connection): the private CA, a server key and
certificate that verifies against it with the host's names, idempotent and quiet in check mode, and
renewed only when fewer than tls_renew_before_days remain."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from tests.molecule.test_scenarios import RECAP, molecule_env
from tests.support.paths import REPO

PLAY = "- hosts: all\n  gather_facts: false\n  roles:\n    - role: tls\n"


def run(tmp_path: Path, *args: str, **variables: Any) -> tuple[dict[str, int], str]:
    playbook = tmp_path / "tls.yml"
    playbook.write_text(PLAY)
    extra = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "ansible_become": False,
        "ansible_host": "127.0.0.1",
        "tls_enabled": True,
        "tls_install_cryptography": False,  # the controller's venv has it
        "tls_server_certificate": True,
        "tls_dir": str(tmp_path / "host"),
        "tls_ca_dir": str(tmp_path / "ca"),
        **variables,
    }
    env = molecule_env() | {"ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "tw-probe,", "-e", json.dumps(extra)]
    result = subprocess.run(
        [*cmd, *args, str(playbook)], env=env, capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    (recap,) = [{k: int(v) for k, v in m.groupdict().items()} for m in RECAP.finditer(output)]
    return recap, output


def certificate(tmp_path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate((tmp_path / "host" / "server.crt").read_bytes())


def test_the_private_ca_signs_a_server_certificate_for_the_hosts_names(tmp_path: Path) -> None:
    first, _ = run(tmp_path)
    assert first["changed"] > 0
    ca = x509.load_pem_x509_certificate((tmp_path / "host" / "ca.crt").read_bytes())
    server = certificate(tmp_path)
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"tw-probe"}
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "host").iterdir()}
    assert modes == {"ca.crt": 0o644, "server.crt": 0o644, "server.key": 0o600}
    assert (tmp_path / "ca" / "ca.key").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "host" / "ca.key").exists()  # the CA's key stays on the controller

    again, _ = run(tmp_path)
    assert again["changed"] == 0
    checked, output = run(tmp_path, "--check", "--diff")
    assert checked["changed"] == 0, output
    assert certificate(tmp_path).serial_number == server.serial_number


def test_a_certificate_is_renewed_only_when_due(tmp_path: Path) -> None:
    run(tmp_path, tls_validity_days=3, tls_renew_before_days=1)
    short = certificate(tmp_path)
    left = short.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=2) < left <= datetime.timedelta(days=3)
    quiet, _ = run(tmp_path, tls_validity_days=3, tls_renew_before_days=1)
    assert quiet["changed"] == 0 and certificate(tmp_path).serial_number == short.serial_number
    due, _ = run(tmp_path, tls_validity_days=10, tls_renew_before_days=5)  # 3 days left < 5: renewed
    renewed = certificate(tmp_path)
    assert due["changed"] > 0 and renewed.serial_number != short.serial_number
    assert renewed.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=9)
    settled, _ = run(tmp_path, tls_validity_days=10, tls_renew_before_days=5)
    assert settled["changed"] == 0
