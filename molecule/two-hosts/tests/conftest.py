"""Fixtures of the two-host scenario's testinfra tests: one testinfra host per instance (podman://)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import testinfra

SCENARIO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SCENARIO.parent / "shared"))

from stackinfra import QuestDBProbe, Report, load_settings  # noqa: E402

QUESTDB_HOST = "tw-two-hosts-questdb"
COLLECTOR_HOST = "tw-two-hosts-collector"


@pytest.fixture(scope="session")
def db_host() -> Any:
    return testinfra.get_host(f"podman://{QUESTDB_HOST}")


@pytest.fixture(scope="session")
def collector_host() -> Any:
    return testinfra.get_host(f"podman://{COLLECTOR_HOST}")


@pytest.fixture(scope="session")
def db_settings() -> dict[str, Any]:
    return load_settings(SCENARIO, QUESTDB_HOST)


@pytest.fixture(scope="session")
def collector_settings() -> dict[str, Any]:
    return load_settings(SCENARIO, COLLECTOR_HOST)


def address_of(host: Any) -> str:
    """The instance's IPv4 address on the scenario network (its default route's interface)."""
    route = host.check_output("ip -4 -o route get 1.1.1.1")  # "1.1.1.1 via … dev eth0 src 10.89.1.2 …"
    return route.split(" src ", 1)[1].split()[0]


@pytest.fixture(scope="session")
def db_address(db_host: Any) -> str:
    return address_of(db_host)


@pytest.fixture(scope="session")
def questdb(db_host: Any, db_settings: dict[str, Any]) -> QuestDBProbe:
    """QuestDB, probed on its own host over loopback (where it listens; other hosts use TLS)."""
    return QuestDBProbe(db_host, db_settings, address="127.0.0.1")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    Report.write(terminalreporter)


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """On a failure, append both services' journals to the report."""
    if call.when == "call" and call.excinfo is not None:
        for name, unit in ((QUESTDB_HOST, "questdb"), (COLLECTOR_HOST, "tradewatch-collector")):
            journal = testinfra.get_host(f"podman://{name}").run(f"journalctl -u {unit} --no-pager -n 30")
            item.add_report_section("call", f"{name}: journalctl -u {unit}", journal.stdout)
