"""The whole stack in Molecule: `molecule test -s default` (one instance, with the QuestDB upgrade
test as its side effect) and `molecule test -s two-hosts` (QuestDB and the collector on two
instances). Both run through `run_scenario` of test_scenarios.py, which asserts that the scenario
passed, that idempotence and the converged check mode report 0 changed and that testinfra ran, and
prints the wall time of every stage. The testinfra report (exposure scores, measured delays, the
upgrade's row counts) is printed after it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.molecule.test_scenarios import Stage, run_scenario

REPORT_TITLE = "tradewatch stack report"


def require_archive() -> None:
    archive = os.environ.get("TRADEWATCH_QUESTDB_ARCHIVE", "")
    if not archive or not Path(archive).is_file():
        pytest.skip(
            "TRADEWATCH_QUESTDB_ARCHIVE unset or missing: source scripts/env.sh, run scripts/bootstrap"
        )


def stack_report(stages: list[Stage]) -> list[str]:
    """The lines of the testinfra run's "tradewatch stack report" section."""
    lines = next(s.lines for s in stages if s.name == "verify")
    start = next((i for i, line in enumerate(lines) if REPORT_TITLE in line), None)
    if start is None:
        return []
    report = []
    for line in lines[start + 1 :]:
        if line.startswith("====="):
            break
        if line.strip():
            report.append(line)
    return report


@pytest.mark.molecule
@pytest.mark.timeout(2400)
def test_default_scenario(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    require_archive()
    stages = run_scenario("default", tmp_path, request)
    names = [s.name for s in stages]
    expected = ["converge", "idempotence", "check", "side_effect", "verify"]
    assert [n for n in names if n in expected] == expected, names
    report = stack_report(stages)
    print("\n".join(report))
    for needle in ("upgrade:", "questdb.service", "tradewatch-collector.service", "after the new process"):
        assert any(needle in line for line in report), f"no '{needle}' in the stack report: {report}"


@pytest.mark.molecule
@pytest.mark.timeout(1800)
def test_two_hosts_scenario(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    require_archive()
    stages = run_scenario("two-hosts", tmp_path, request)
    names = [s.name for s in stages]
    expected = ["converge", "idempotence", "verify"]
    assert [n for n in names if n in expected] == expected, names
    print("\n".join(stack_report(stages)))
