"""QuestDB refuses every default and unauthenticated access, and nothing is written when it does.

Against the real server of the `questdb` fixture (tests/support/questdb_server.py: http.user/password
on REST and ILP over HTTP, a PG admin and a read-only PG user). Each refusal is paired with the same
request made with the right credentials, so a test cannot pass because the request itself was broken.
"""

from __future__ import annotations

import base64
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator

import psutil
import psycopg
import pytest
from questdb import QuestDBError, QuestDBErrorCode, Sender, TimestampNanos

from tests.support.questdb_server import QuestDBServer

QUESTDB_DEFAULT = ("admin", "quest")


def http(
    server: QuestDBServer,
    path: str,
    *,
    data: bytes | None = None,
    credentials: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    request = urllib.request.Request(f"{server.http_url}{path}", data=data, headers=headers or {})
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def admin(server: QuestDBServer) -> tuple[str, str]:
    return server.http_user, server.http_password


def bad_credentials(server: QuestDBServer) -> dict[str, tuple[str, str] | None]:
    """What an attacker would try on the HTTP endpoints."""
    return {
        "none": None,
        "wrong-password": (server.http_user, "not-the-password"),
        "questdb-default": QUESTDB_DEFAULT,
        "admin-user-default-password": (server.http_user, "quest"),
        "read-only-pg-credentials": (server.ro_user, server.ro_password),
    }


BAD = ["none", "wrong-password", "questdb-default", "admin-user-default-password", "read-only-pg-credentials"]


def tables(server: QuestDBServer) -> set[str]:
    return {row[0] for row in server.rows("SELECT table_name FROM tables()")}


def count(server: QuestDBServer, table: str, wal: bool = True) -> int:
    if wal:
        server.wait_wal(table)
    return int(server.rows(f"SELECT count() FROM {table}")[0][0])


@pytest.fixture
def table(questdb: QuestDBServer) -> Iterator[str]:
    """A WAL table of the test's own with one row."""
    name = f"sec_{uuid.uuid4().hex[:10]}"
    ddl = f"CREATE TABLE {name} (ts TIMESTAMP, host SYMBOL, v LONG) TIMESTAMP(ts) PARTITION BY DAY WAL"
    questdb.exec(ddl)
    questdb.exec(f"INSERT INTO {name} VALUES (now(), 'seed', 1)")
    questdb.wait_wal(name)
    yield name
    questdb.exec(f"DROP TABLE IF EXISTS {name}")


def fresh_name() -> str:
    return f"sec_new_{uuid.uuid4().hex[:10]}"


# ---- Listeners ----------------------------------------------------------------------------------
def test_questdb_listens_only_on_its_configured_addresses(questdb: QuestDBServer) -> None:
    """HTTP, PG wire and the health server on their configured address; no ILP/TCP, no UDP."""
    assert questdb.process is not None
    sockets = psutil.Process(questdb.process.pid).net_connections(kind="inet")
    listening = {(s.laddr.ip, s.laddr.port) for s in sockets if s.status == psutil.CONN_LISTEN}
    expected = {(questdb.host, port) for port in (questdb.http_port, questdb.pg_port, questdb.min_port)}
    assert listening == expected
    assert [s for s in sockets if s.type == socket.SOCK_DGRAM] == []


# ---- PostgreSQL wire ----------------------------------------------------------------------------
def pg_login(server: QuestDBServer, user: str, password: str) -> None:
    dsn = f"host={server.host} port={server.pg_port} user={user} password={password} dbname=qdb"
    psycopg.connect(dsn, connect_timeout=10).close()


@pytest.mark.parametrize(
    "who", ["questdb-default-admin", "configured-admin", "read-only-user"], ids=lambda who: who
)
def test_pg_default_password_is_rejected(questdb: QuestDBServer, who: str) -> None:
    user = {
        "questdb-default-admin": "admin",
        "configured-admin": questdb.pg_user,
        "read-only-user": questdb.ro_user,
    }
    with pytest.raises(psycopg.OperationalError, match="invalid username/password"):
        pg_login(questdb, user[who], "quest")


def test_pg_configured_credentials_work(questdb: QuestDBServer) -> None:
    """The control for the refusals above: the same logins with the configured passwords succeed."""
    pg_login(questdb, questdb.pg_user, questdb.pg_password)
    pg_login(questdb, questdb.ro_user, questdb.ro_password)


READ_ONLY_REFUSED = {
    "insert": "INSERT INTO {t} VALUES (now(), 'ro', 2)",
    "insert-select": "INSERT INTO {t} SELECT * FROM {t}",
    "update": "UPDATE {t} SET v = 3",
    "create-table": "CREATE TABLE {new} (a INT)",
    "create-table-as": "CREATE TABLE {new} AS (SELECT * FROM {t})",
    "drop-table": "DROP TABLE {t}",
    "truncate": "TRUNCATE TABLE {t}",
    "rename": "RENAME TABLE {t} TO {new}",
    "alter-add-column": "ALTER TABLE {t} ADD COLUMN w INT",
    "alter-drop-column": "ALTER TABLE {t} DROP COLUMN v",
    "alter-ttl": "ALTER TABLE {t} SET TTL 1d",
    "drop-partition": "ALTER TABLE {t} DROP PARTITION WHERE ts < dateadd('d', 1, now())",
    "copy": "COPY {t} FROM 'import.csv'",
    "checkpoint": "CHECKPOINT CREATE",
}


def test_read_only_user_cannot_write(questdb: QuestDBServer, table: str) -> None:
    """Every writing statement fails with QuestDB's permission error; the table and the catalogue are
    unchanged afterwards, while the same connection still reads."""
    before_tables, before_rows = tables(questdb), count(questdb, table)
    refused: dict[str, str] = {}
    with psycopg.connect(questdb.pg_dsn(readonly=True), autocommit=True) as conn:
        assert conn.execute(f"SELECT count() FROM {table}").fetchone() == (before_rows,)
        for name, sql in READ_ONLY_REFUSED.items():
            try:
                conn.execute(sql.format(t=table, new=fresh_name()))
            except psycopg.Error as err:
                refused[name] = str(err)
    accepted = set(READ_ONLY_REFUSED) - set(refused)
    assert not accepted, f"the read-only user ran {sorted(accepted)}"
    for name, message in refused.items():
        assert "permission denied" in message.lower(), f"{name}: refused for another reason: {message}"
    assert tables(questdb) == before_tables
    assert count(questdb, table) == before_rows
    columns = [row[0] for row in questdb.rows(f"SELECT \"column\" FROM table_columns('{table}')")]
    assert columns == ["ts", "host", "v"]


def test_pg_admin_can_write(questdb: QuestDBServer, table: str) -> None:
    """The control for the read-only refusals: the admin user's INSERT goes through."""
    with psycopg.connect(questdb.pg_dsn(), autocommit=True) as conn:
        conn.execute(f"INSERT INTO {table} VALUES (now(), 'admin', 2)")
    assert count(questdb, table) == 2


# ---- ILP over HTTP ------------------------------------------------------------------------------
ILP_ENDPOINTS = ["/write", "/api/v2/write"]


@pytest.mark.parametrize("endpoint", ILP_ENDPOINTS)
@pytest.mark.parametrize("who", BAD)
def test_ilp_http_write_refused_and_nothing_written(
    questdb: QuestDBServer, table: str, endpoint: str, who: str
) -> None:
    new = fresh_name()
    body = f"{table},host=attacker v=99i\n{new},host=attacker v=99i\n".encode()
    status, _ = http(questdb, endpoint, data=body, credentials=bad_credentials(questdb)[who])
    assert status == 401
    assert new not in tables(questdb), "the refused write auto-created a table"
    assert count(questdb, table) == 1


@pytest.mark.parametrize("endpoint", ILP_ENDPOINTS)
def test_ilp_http_write_with_credentials(questdb: QuestDBServer, table: str, endpoint: str) -> None:
    """The control: the same request body with the HTTP user's credentials is written."""
    new = fresh_name()
    body = f"{table},host=writer v=99i\n{new},host=writer v=99i\n".encode()
    status, text = http(questdb, endpoint, data=body, credentials=admin(questdb))
    assert status == 204, text
    assert count(questdb, table) == 2
    assert count(questdb, new) == 1
    questdb.exec(f"DROP TABLE {new}")


@pytest.mark.parametrize("password", ["not-the-password", "quest", None], ids=["wrong", "default", "none"])
def test_official_client_with_bad_credentials_raises_and_writes_nothing(
    questdb: QuestDBServer, table: str, password: str | None
) -> None:
    new = fresh_name()
    conf = f"http::addr={questdb.host}:{questdb.http_port};"
    if password is not None:
        conf += f"username={questdb.http_user};password={password};"
    with pytest.raises(QuestDBError) as caught, Sender.from_conf(conf) as sender:
        sender.row(table, symbols={"host": "attacker"}, columns={"v": 99}, at=TimestampNanos.now())
        sender.row(new, symbols={"host": "attacker"}, columns={"v": 99}, at=TimestampNanos.now())
        sender.flush()
    assert caught.value.code == QuestDBErrorCode.AuthError
    assert "401" in str(caught.value)
    assert new not in tables(questdb)
    assert count(questdb, table) == 1


def test_official_client_with_credentials_writes(questdb: QuestDBServer, table: str) -> None:
    with Sender.from_conf(questdb.ilp_conf) as sender:
        sender.row(table, symbols={"host": "writer"}, columns={"v": 5}, at=TimestampNanos.now())
        sender.flush()
    assert count(questdb, table) == 2


# ---- REST ---------------------------------------------------------------------------------------
def exec_path(sql: str) -> str:
    return "/exec?" + urllib.parse.urlencode({"query": sql})


@pytest.mark.parametrize("who", BAD)
def test_rest_exec_refused(questdb: QuestDBServer, table: str, who: str) -> None:
    """DDL, DML and plain reads over /exec all need the HTTP credentials."""
    new = fresh_name()
    credentials = bad_credentials(questdb)[who]
    statements = [
        f"CREATE TABLE {new} (a INT)",
        f"DROP TABLE {table}",
        f"INSERT INTO {table} VALUES (now(), 'x', 7)",
    ]
    for sql in statements:
        assert http(questdb, exec_path(sql), credentials=credentials)[0] == 401, sql
    assert http(questdb, exec_path(f"SELECT * FROM {table}"), credentials=credentials)[0] == 401
    assert new not in tables(questdb)
    assert count(questdb, table) == 1


def test_rest_exec_with_credentials(questdb: QuestDBServer) -> None:
    new = fresh_name()
    status, text = http(questdb, exec_path(f"CREATE TABLE {new} (a INT)"), credentials=admin(questdb))
    assert status == 200, text
    assert new in tables(questdb)
    questdb.exec(f"DROP TABLE {new}")


def csv_upload(new: str) -> tuple[str, bytes, dict[str, str]]:
    body = (
        b'--tw\r\nContent-Disposition: form-data; name="data"; filename="rows.csv"\r\n\r\n'
        b"a,b\n1,2\n3,4\n\r\n--tw--\r\n"
    )
    return f"/imp?name={new}", body, {"Content-Type": "multipart/form-data; boundary=tw"}


@pytest.mark.parametrize("who", BAD)
def test_rest_import_refused(questdb: QuestDBServer, who: str) -> None:
    new = fresh_name()
    path, body, headers = csv_upload(new)
    status, _ = http(questdb, path, data=body, headers=headers, credentials=bad_credentials(questdb)[who])
    assert status == 401
    assert new not in tables(questdb)


def test_rest_import_with_credentials(questdb: QuestDBServer) -> None:
    new = fresh_name()
    path, body, headers = csv_upload(new)
    status, text = http(questdb, path, data=body, headers=headers, credentials=admin(questdb))
    assert status == 200, text
    assert count(questdb, new, wal=False) == 2  # no designated timestamp: not a WAL table
    questdb.exec(f"DROP TABLE {new}")


@pytest.mark.parametrize("who", BAD)
def test_rest_export_and_table_status_refused(questdb: QuestDBServer, table: str, who: str) -> None:
    credentials = bad_credentials(questdb)[who]
    export = "/exp?" + urllib.parse.urlencode({"query": table})
    assert http(questdb, export, credentials=credentials)[0] == 401
    assert http(questdb, f"/chk?f=json&j={table}", credentials=credentials)[0] == 401


def test_unauthenticated_endpoints_reveal_no_secret(questdb: QuestDBServer) -> None:
    """/settings and /warnings answer without credentials (the web console needs them): they must not
    carry any password."""
    secrets = {questdb.http_password, questdb.pg_password, questdb.ro_password}
    for path in ("/settings", "/warnings"):
        status, text = http(questdb, path)
        assert status == 200, path
        assert not [s for s in secrets if s in text], f"{path} shows a password"
    status, text = http(questdb, "/settings", credentials=admin(questdb))
    assert status == 200 and not [s for s in secrets if s in text]
