"""`molecule test -s grafana`: the grafana role with package source none on a podman systemd instance.

Follows tests/molecule/test_scenarios.py and reuses its helpers: the output is teed to a log, cut into
Molecule stages (wall time per stage is printed), and the idempotence and converged check-mode runs
must report changed=0.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.molecule.test_scenarios import molecule_env, run_teed, split_stages, stage_table
from tests.support.paths import REPO


@pytest.mark.molecule
@pytest.mark.timeout(1800)
def test_grafana_scenario(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    env = molecule_env()
    image = env.get("TRADEWATCH_IMAGE", "localhost/tradewatch-debian:bookworm")
    if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
        pytest.skip(f"{image} is missing: run scripts/build-base-image")

    log = tmp_path / "molecule-test-grafana.log"
    started = time.monotonic()
    rc, lines = run_teed([str(REPO / ".venv" / "bin" / "molecule"), "test", "-s", "grafana"], log, env)
    total = time.monotonic() - started
    stages = split_stages(lines, started + total)
    table = stage_table(stages, total)
    print(f"\nmolecule test -s grafana (log: {log})\n{table}")
    request.node.user_properties.append(
        ("molecule_stage_seconds", [(s.name, round(s.seconds, 1)) for s in stages])
    )
    output = "\n".join(line for _, line in lines)

    assert rc == 0, f"molecule test -s grafana failed (rc={rc}); log {log}\n{table}\n\n{output[-20000:]}"

    by_name = {s.name: s for s in stages}
    for name in ("converge", "idempotence", "check", "side_effect", "verify"):
        assert name in by_name, f"no {name} stage in the output\n{table}"
    idempotence = by_name["idempotence"].recaps()
    assert idempotence and all(r["changed"] == 0 and r["failed"] == 0 for r in idempotence), idempotence
    check = by_name["check"].recaps()
    assert check and all(r["changed"] == 0 for r in check), f"check mode reported changes: {check}"
    converge = by_name["converge"].recaps()
    assert converge and all(r["changed"] > 0 for r in converge), converge
    assert any(re.search(r"\d+ passed", line) for line in by_name["verify"].lines), "testinfra did not run"
