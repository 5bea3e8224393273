"""The harness itself: the real QuestDB fixture answers SQL, enforces auth and applies WAL."""

from __future__ import annotations

import urllib.error
import urllib.request

import psycopg
import pytest

from tests.support.questdb_server import QuestDBServer


def test_questdb_answers_sql(questdb: QuestDBServer) -> None:
    build = questdb.rows("SELECT build()")[0][0]
    assert "QuestDB" in build


def test_rest_requires_basic_auth(questdb: QuestDBServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{questdb.http_url}/exec?query=select%201", timeout=5)
    assert err.value.code == 401


def test_readonly_pg_user_cannot_write(questdb: QuestDBServer) -> None:
    with psycopg.connect(questdb.pg_dsn(readonly=True), autocommit=True) as conn:
        assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
        with pytest.raises(psycopg.Error):
            conn.execute("CREATE TABLE harness_forbidden (x INT)")
