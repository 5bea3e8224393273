"""Fixtures of the backup tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backup.helpers import ROWS, load_test_data
from tests.support.questdb_server import QuestDBServer
from tests.support.schema import create_schema


@pytest.fixture(scope="module")
def shared_loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuestDBServer]:
    """One QuestDB with the test data for the tests of a module that leave the server as they found
    it (they never stop it nor leave it in checkpoint mode)."""
    server = QuestDBServer(root=tmp_path_factory.mktemp("backup-shared") / "questdb")
    server.start()
    try:
        create_schema(server)
        load_test_data(server, ROWS)
        yield server
    finally:
        server.stop()
