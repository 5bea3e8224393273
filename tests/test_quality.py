"""Static quality gates: ansible-lint (production profile) and ruff over the whole repository, mypy --strict
over the collector and the collection's Python."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import REPO


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def test_ansible_lint_production_profile_is_clean() -> None:
    result = run([sys.executable, "-m", "ansiblelint", "--profile", "production", "--offline", "-q"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check_is_clean() -> None:
    result = run([sys.executable, "-m", "ruff", "check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = run([sys.executable, "-m", "ruff", "format", "--check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    """`mypy --strict` (pyproject.toml [tool.mypy]) over the collector and the collection's Python."""
    for target in (["collector"], ["-p", "ansible_collections.tradewatch.stack.plugins"]):
        result = run([sys.executable, "-m", "mypy", *target])
        assert result.returncode == 0, result.stdout + result.stderr
