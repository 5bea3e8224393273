"""Fixtures of the questdb scenario's testinfra tests (run by `molecule verify`, podman:// backend)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
ROLE = SCENARIO.parents[1] / "roles" / "questdb"
sys.path.insert(0, str(SCENARIO.parent / "shared"))

from stackinfra import QuestDBProbe  # noqa: E402 - molecule/shared: probe.py and the probe class


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Variables without Jinja (the templated ones are resolved by Ansible, not needed here)."""
    return {k: v for k, v in values.items() if not (isinstance(v, str) and "{{" in v)}


@pytest.fixture(scope="session")
def settings() -> dict[str, Any]:
    """Role defaults overridden by the scenario group_vars: what the role was converged with."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    scenario = yaml.safe_load((SCENARIO / "group_vars" / "all.yml").read_text())
    return {**_plain(defaults), **_plain(scenario)}


@pytest.fixture(scope="session")
def role_vars() -> dict[str, Any]:
    return dict(yaml.safe_load((ROLE / "vars" / "main.yml").read_text()))


@pytest.fixture(scope="module")
def questdb(host: Any, settings: dict[str, Any]) -> QuestDBProbe:
    return QuestDBProbe(host, settings)


@pytest.fixture(scope="module")
def main_pid(host: Any) -> int:
    pid = int(host.check_output("systemctl show --property=MainPID --value questdb"))
    assert pid > 0, "questdb has no main process"
    return pid


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """On a failure, append the service journal to the report (as the reference roles do)."""
    if call.when == "call" and call.excinfo is not None and "host" in getattr(item, "funcargs", {}):
        journal = item.funcargs["host"].run("journalctl --unit questdb --no-pager --lines 40")
        item.add_report_section("call", "journalctl -u questdb", journal.stdout)
