"""Fixtures of the stack scenario's testinfra tests (run by `molecule verify`, podman:// backend)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

SCENARIO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SCENARIO.parent / "shared"))

from stackinfra import QuestDBProbe, Report, load_settings  # noqa: E402


@pytest.fixture(scope="session")
def settings() -> dict[str, Any]:
    return load_settings(SCENARIO)


@pytest.fixture(scope="module")
def questdb(host: Any, settings: dict[str, Any]) -> QuestDBProbe:
    return QuestDBProbe(host, settings)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    Report.write(terminalreporter)


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """On a failure, append the services' journals to the report."""
    if call.when == "call" and call.excinfo is not None and "host" in getattr(item, "funcargs", {}):
        for unit in ("questdb", "tradewatch-collector"):
            journal = item.funcargs["host"].run(f"journalctl --unit {unit} --no-pager --lines 30")
            item.add_report_section("call", f"journalctl -u {unit}", journal.stdout)
