"""Fixtures shared by all test suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.questdb_server import QuestDBServer


@pytest.fixture(scope="session")
def questdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuestDBServer]:
    """A real QuestDB server shared across the test run (own root, free loopback ports)."""
    server = QuestDBServer(root=Path(tmp_path_factory.mktemp("questdb")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_questdb(tmp_path: Path) -> Iterator[QuestDBServer]:
    """A QuestDB server of the test's own, for tests that stop, kill or restart it."""
    server = QuestDBServer(root=tmp_path / "questdb")
    server.start()
    try:
        yield server
    finally:
        server.stop()
