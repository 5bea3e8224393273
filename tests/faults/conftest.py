"""Fixtures of the fault suite: those of the collector tests (real QuestDB with the schema, a host of
the test's own), shared rather than redefined."""

from tests.collector.conftest import fresh_qdb, host, qdb

__all__ = ["fresh_qdb", "host", "qdb"]
