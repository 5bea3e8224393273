"""Molecule scenarios, and the questdb role's preflight on the controller.

`test_questdb_scenario` runs `molecule test -s questdb` from the repository root (podman systemd
instances; minutes). Its output is teed to a log under the pytest tmp dir, each line stamped with the
time it arrived, which gives the wall time of every Molecule stage; the stage table is printed (run
pytest with -s to see it live, it is also in the report on failure).

The preflight tests run the questdb playbook in check mode against the controller itself and need
no instance: they prove the role refuses bad settings before touching anything and names the variable.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import ansible_mitogen  # type: ignore[import-untyped]
import pytest
import yaml

from tests.support.inventories import inventory_relaxed
from tests.support.paths import REPO

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# "questdb ➜ converge: Executing" (colour) or "[questdb > converge] Executing" (NO_COLOR).
STAGE_START = re.compile(r"(?:➜ (?P<a>[a-z_]+):|\[[\w-]+ > (?P<b>[a-z_]+)\]) Executing\s*$")
RECAP = re.compile(r"\bok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=(?P<failed>\d+)")


@dataclass
class Stage:
    name: str
    start: float
    end: float
    lines: list[str]

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def recaps(self) -> list[dict[str, int]]:
        return [
            {k: int(v) for k, v in m.groupdict().items()} for line in self.lines if (m := RECAP.search(line))
        ]


def molecule_env() -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"
    env.setdefault("VIRTUAL_ENV", str(REPO / ".venv"))
    env.setdefault("CONTAINERS_CONF", str(REPO / "scripts" / "podman" / "containers.conf"))
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = f"{REPO / 'collections'}:{REPO / '.ansible' / 'collections'}"
    env["ANSIBLE_ROLES_PATH"] = str(REPO / "roles")
    # Mitogen's strategy plugins (scripts/env.sh exports the same folder), for ANSIBLE_STRATEGY=mitogen_linear
    env["ANSIBLE_STRATEGY_PLUGINS"] = str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy")
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return env


def run_teed(cmd: list[str], log: Path, env: dict[str, str]) -> tuple[int, list[tuple[float, str]]]:
    """Run cmd, copying its merged output to `log`; return rc and (arrival time, line) pairs."""
    lines: list[tuple[float, str]] = []
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for raw in proc.stdout:
            now = time.monotonic()
            line = ANSI.sub("", raw.rstrip("\n"))
            out.write(f"{time.strftime('%H:%M:%S')} {line}\n")
            lines.append((now, line))
        rc = proc.wait()
    return rc, lines


def split_stages(lines: list[tuple[float, str]], end: float) -> list[Stage]:
    """Cut the output at Molecule's `<stage>: Executing` lines; a stage ends where the next begins."""
    stages: list[Stage] = []
    for stamp, line in lines:
        match = STAGE_START.search(line)
        if match:
            if stages:
                stages[-1].end = stamp
            stages.append(Stage(match["a"] or match["b"], stamp, end, []))
        elif stages:
            stages[-1].lines.append(line)
    return stages


def stage_table(stages: list[Stage], total: float) -> str:
    rows = [f"{'stage':<14}{'seconds':>9}"]
    rows += [f"{s.name:<14}{s.seconds:>9.1f}" for s in stages]
    rows.append(f"{'total (wall)':<14}{total:>9.1f}")
    return "\n".join(rows)


def run_scenario(scenario: str, tmp_path: Path, request: pytest.FixtureRequest) -> list[Stage]:
    """`molecule test -s <scenario>`: assert it passed and that idempotence and the last check mode
    run (if any) reported 0 changed; print and record the per-stage wall times."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    env = molecule_env()
    image = env.get("TRADEWATCH_IMAGE", "localhost/tradewatch-debian:bookworm")
    if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
        pytest.skip(f"{image} is missing: run scripts/build-base-image")

    log = tmp_path / f"molecule-test-{scenario}.log"
    started = time.monotonic()
    rc, lines = run_teed([str(REPO / ".venv" / "bin" / "molecule"), "test", "-s", scenario], log, env)
    total = time.monotonic() - started
    stages = split_stages(lines, started + total)
    table = stage_table(stages, total)
    print(f"\nmolecule test -s {scenario} (log: {log})\n{table}")
    request.node.user_properties.append(
        ("molecule_stage_seconds", [(s.name, round(s.seconds, 1)) for s in stages])
    )
    output = "\n".join(line for _, line in lines)
    assert rc == 0, f"molecule test -s {scenario} failed (rc={rc}); log {log}\n{table}\n\n{output[-20000:]}"

    idempotence = [s for s in stages if s.name == "idempotence"]
    assert idempotence, f"no idempotence stage in the output\n{table}"
    recaps = idempotence[0].recaps()
    assert recaps and all(r["changed"] == 0 and r["failed"] == 0 for r in recaps), recaps
    after = [s for s in stages[stages.index(idempotence[0]) :] if s.name == "check"]
    for check in after:
        assert check.recaps() and all(r["changed"] == 0 for r in check.recaps()), (
            f"check mode on the converged instance reported changes: {check.recaps()}"
        )
    verify = [s for s in stages if s.name == "verify"]
    assert verify and any(re.search(r"\d+ passed", line) for line in verify[0].lines), "testinfra did not run"
    return stages


@pytest.mark.molecule
@pytest.mark.timeout(1800)
def test_questdb_scenario(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    archive = os.environ.get("TRADEWATCH_QUESTDB_ARCHIVE", "")
    if not archive or not Path(archive).is_file():
        pytest.skip(
            "TRADEWATCH_QUESTDB_ARCHIVE unset or missing: source scripts/env.sh, run scripts/bootstrap"
        )
    stages = run_scenario("questdb", tmp_path, request)
    checks = [s.name for s in stages if s.name in ("check", "converge")]
    assert checks == ["check", "converge", "check"], (
        f"expected check mode before and after converge: {checks}"
    )


# ---- Preflight on the controller ----------------------------------------------------------------
def run_preflight(tmp_path: Path, extra_vars: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The questdb playbook in check mode against the controller (local connection)."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "questdb:\n  hosts:\n    preflight-probe:\n"
        f"      ansible_connection: local\n      ansible_python_interpreter: {sys.executable}\n"
    )
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), "--check"]
    cmd += ["-e", "ansible_become=false"]
    # questdb_env_relaxed as the shared inventory wiring sets it for the case's environment
    relaxed = inventory_relaxed(extra_vars.get("questdb_env", "prod"))
    for key, value in {"questdb_env_relaxed": str(relaxed).lower(), **extra_vars}.items():
        cmd += ["-e", f"{key}={value}"]
    cmd.append(str(REPO / "playbooks" / "questdb.yml"))
    env = molecule_env()
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp_path / "ansible-tmp")
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


SHA = "0" * 64
# Passwords that pass the preflight, for cases that test something else.
GOOD = {
    "questdb_http_password": "s3cret-http",
    "questdb_pg_password": "s3cret-pg",
    "questdb_pg_readonly_password": "s3cret-ro",
}
CREDENTIALS_TASK = "Assert credentials are set and not QuestDB's defaults"


@pytest.mark.parametrize(
    ("extra_vars", "named", "task"),
    [
        (
            {**GOOD, "questdb_env": "prod", "questdb_archive_sha256": SHA, "questdb_pg_password": "quest"},
            "questdb_pg_password",
            CREDENTIALS_TASK,
        ),
        (
            {**GOOD, "questdb_env": "staging", "questdb_archive_sha256": SHA, "questdb_http_password": ""},
            "questdb_http_password",
            CREDENTIALS_TASK,
        ),
        (
            {"questdb_env": "dev", "questdb_archive_sha256": SHA},
            "questdb_http_password",
            CREDENTIALS_TASK,
        ),
        (
            # an archive whose sha256 the role does not know (the default download's it does)
            {
                **GOOD,
                "questdb_env": "dev",
                "questdb_archive_url": "https://example.invalid/questdb-9.3.4-rt.tar.gz",
            },
            "questdb_archive_sha256",
            "Assert the archive has a source and a checksum",
        ),
        (
            {
                **GOOD,
                "questdb_env": "dev",
                "questdb_archive_sha256": SHA,
                "questdb_archive_path": "/nonexistent/qdb.tar.gz",
            },
            "questdb_archive_path",
            "Assert the local archive exists and matches questdb_archive_sha256",
        ),
        (
            {
                **GOOD,
                "questdb_env": "dev",
                "questdb_archive_sha256": SHA,
                "questdb_pg_bind_address": "0.0.0.0:8812",
            },
            "questdb_pg_bind_address",
            "Assert bind addresses are IPv4 addresses",
        ),
        (
            {**GOOD, "questdb_env": "dev", "questdb_archive_sha256": SHA, "questdb_http_min_port": "9000"},
            "questdb_http_min_port",
            "Assert enabled listeners use distinct ports",
        ),
    ],
    ids=[
        "prod-default-password",
        "staging-empty-password",
        "dev-role-default-password",
        "no-checksum",
        "missing-archive",
        "bad-bind",
        "port-clash",
    ],
)
def test_preflight_refuses(tmp_path: Path, extra_vars: dict[str, str], named: str, task: str) -> None:
    result = run_preflight(tmp_path, extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"TASK [questdb : {task}]" in output, output
    assert named in output, output
    recap = RECAP.search(output)
    assert recap and recap["changed"] == "0" and recap["failed"] == "1", output
    # Nothing after the preflight ran.
    assert "Ensure the QuestDB group exists" not in output, output
    for secret in GOOD.values():
        assert secret not in output


def fake_rt_archive(directory: Path, version: str, java: str) -> tuple[Path, str]:
    """A tiny tarball with the rt layout (empty binaries) whose runtime claims Java `java`."""
    top = directory / "src" / f"questdb-{version}-rt-linux-x86-64"
    for relative in ("bin/java", "lib/libquestdb.so", "lib/libquestdbr.so"):
        (top / relative).parent.mkdir(parents=True, exist_ok=True)
        (top / relative).write_bytes(b"")
    (top / "release").write_text(f'JAVA_VERSION="{java}"\nMODULES="java.base io.questdb"\n')
    archive = directory / f"questdb-{version}-rt-linux-x86-64.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def fake_nojre_archive(directory: Path, version: str) -> tuple[Path, str]:
    """A tiny tarball with the no-jre layout (an empty questdb.jar)."""
    top = directory / "src" / f"questdb-{version}-no-jre-bin"
    top.mkdir(parents=True, exist_ok=True)
    (top / "questdb.jar").write_bytes(b"")
    archive = directory / f"questdb-{version}-no-jre-bin.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def test_the_default_download_needs_no_checksum() -> None:
    """The role knows the sha256 of its default download of the pinned release (no-jre tarball)."""
    role = REPO / "roles" / "questdb"
    known = yaml.safe_load((role / "vars" / "main.yml").read_text())["_questdb_known_sha256"]
    version = yaml.safe_load((role / "defaults" / "main.yml").read_text())["questdb_version"]
    assert f"questdb-{version}-no-jre-bin.tar.gz" in known


@pytest.mark.parametrize(
    ("version", "java", "message"),
    [
        ("9.4.0", "17.0.12", "QuestDB 9.4.0 needs Java 25 or later"),
        ("9.3.4", "21.0.5", "the role knows JVM flags for Java"),
        ("9.4.0", "openjdk-17-jre-headless", "provides Java 17; QuestDB 9.4.0 needs Java 25 or later"),
        ("9.3.4", "default-jre-headless", "name an openjdk-<major>-jre-headless package"),
    ],
    ids=["java-too-old-for-version", "java-without-flags", "no-jre-java-too-old", "no-jre-unknown-java"],
)
def test_preflight_refuses_unsupported_java(tmp_path: Path, version: str, java: str, message: str) -> None:
    if java.endswith("-headless"):
        archive, sha256 = fake_nojre_archive(tmp_path, version)
    else:
        archive, sha256 = fake_rt_archive(tmp_path, version, java)
    extra = {**GOOD, "questdb_env": "dev", "questdb_version": version}
    if java.endswith("-headless"):
        extra["questdb_java_package"] = java
    extra |= {"questdb_archive_path": str(archive), "questdb_archive_sha256": sha256}
    result = run_preflight(tmp_path, extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "TASK [questdb : Assert the archive's Java runtime suits this QuestDB version]" in output, output
    assert message in " ".join(output.split()), output


def test_preflight_requires_systemd(tmp_path: Path) -> None:
    """A valid configuration on a host whose PID 1 is not systemd (this controller, usually)."""
    if Path("/proc/1/comm").read_text().strip() == "systemd":
        pytest.skip("the controller runs systemd")
    archive = os.environ.get("TRADEWATCH_QUESTDB_ARCHIVE", "")
    if not archive or not Path(archive).is_file():
        pytest.skip("TRADEWATCH_QUESTDB_ARCHIVE unset or missing")
    sha256 = Path(archive + ".sha256").read_text().split()[0]
    extra = {**GOOD, "questdb_env": "dev", "questdb_archive_path": archive, "questdb_archive_sha256": sha256}
    result = run_preflight(tmp_path, extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "TASK [questdb : Assert systemd is the init system]" in output, output
    assert "Ensure the QuestDB group exists" not in output, output
