"""Secrets over all of printable ASCII, a few letters beyond Latin-1 and the sequences each format
treats specially reach every consumer exactly; a secret a format cannot carry is refused.

The roles' templates are rendered with the secrets fed as an operator's vault holds them (a vars
file, each value tagged !unsafe so that Ansible never evaluates a '{{' inside), and each file is read
back by its real consumer:
- server.conf (questdb role): a real QuestDB started with the rendered secret lines logs the admin in
  over HTTP and both PG users in over PG wire with the secrets, and refuses a wrong password;
- credentials.env (collector role): systemd, in an instance of the base image, loads it into a
  service's environment exactly; the collector, configured from that environment, delivers rows to
  that QuestDB;
- backup.conf (backup role): the backup program's own configuration loader reads the password back and
  logs in to QuestDB's REST API with it;
- grafana.ini, the datasource and the alerting file (grafana role): read with the libraries Grafana
  itself reads them with (gopkg.in/ini.v1, gopkg.in/yaml.v3) and Grafana's expansion rules
  (tests/grafana/goparse), every secret comes back exactly.
The formats: collections/ansible_collections/tradewatch/stack/plugins/filter/secrets.py.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ansible_collections.tradewatch.stack.plugins.filter.secrets import CARRIERS, secret_refusals

from collector.config import load_config
from collector.models import DaemonMetrics
from collector.sink.client import MetricsClient
from tests.grafana.render import render as render_grafana
from tests.security.plays import render_role_templates, unsafe_vars_file
from tests.support.paths import REPO
from tests.support.questdb_server import QuestDBServer
from tests.support.schema import create_schema

PRINTABLE = "".join(chr(code) for code in range(0x20, 0x7F))  # space to '~'
BEYOND_LATIN1 = "Жλ€中😀"
# Sequences some format or tool treats specially: Java escapes, the client's ';' separator, shell and
# Grafana expansions, Jinja delimiters, Python's %-interpolation, quotes.
TRAPS = (
    "\\u0041",
    "\\\\",
    "\\n",
    "a;;b;",
    "$$",
    "$HOME",
    "${HOME}",
    "$__env{HOME}",
    "$__file{/etc/hostname}",
    "{{ x }}",
    "{% if %}",
    "{# c #}",
    '"""',
    "%(x)s",
    "'",
    '"',
)
GRAFANA_EXPANDER = re.compile(r"\$(|__\w+)\{[^}]+\}")


def hard(first: str, last: str, grafana_ini: bool = False) -> str:
    """A secret holding every printable ASCII character, letters beyond Latin-1 and the traps (those
    that grafana.ini cannot carry left out for its secrets); `first`/`last` make each one distinct and
    put a special character at either end."""
    traps = [t for t in TRAPS if not (grafana_ini and GRAFANA_EXPANDER.search(t))]
    return f"{first}{PRINTABLE}{BEYOND_LATIN1}{''.join(traps)}{last}"


QUESTDB_SECRETS = {
    "questdb_http_password": hard("#h", "\\"),
    "questdb_pg_password": hard("!p", "'"),
    "questdb_pg_readonly_password": hard('"r', '"'),
}
GRAFANA_SECRETS = {
    "grafana_admin_password": hard('"a', '"', grafana_ini=True),
    "grafana_secret_key": hard(";k", "\\", grafana_ini=True),
    "grafana_smtp_password": hard("#s", "$", grafana_ini=True),
    "grafana_questdb_pg_password": QUESTDB_SECRETS["questdb_pg_readonly_password"],
    "grafana_telegram_bot_token": hard("1:t", "}"),
    "grafana_discord_webhook_url": "https://discord.example.invalid/api/webhooks/" + hard("w", "$"),
}
ROLE_TEMPLATES = {
    "server.conf": "questdb/templates/server.conf.j2",
    "credentials.env": "collector/templates/credentials.env.j2",
    "backup.conf": "backup/templates/backup.conf.j2",
}


def test_every_format_carries_the_hard_secrets() -> None:
    """No preflight refuses them (the grafana role's runs its own preflight below, too): every format
    takes them, grafana.ini those without its expansions."""
    every = [kind for kind in CARRIERS if kind != "grafana_ini"]
    for name, secret in {**QUESTDB_SECRETS, **GRAFANA_SECRETS}.items():
        kinds = [*every, "grafana_ini"] if not GRAFANA_EXPANDER.search(secret) else every
        assert secret_refusals(secret, name, kinds) == [], name
        assert set(PRINTABLE) <= set(secret) and set(BEYOND_LATIN1) <= set(secret)


# ---- questdb, collector, backup -----------------------------------------------------------------
@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """server.conf, credentials.env and backup.conf rendered by the roles with the hard secrets."""
    tmp = tmp_path_factory.mktemp("secret-formats")
    secrets = {
        **QUESTDB_SECRETS,
        "collector_questdb_password": QUESTDB_SECRETS["questdb_http_password"],
        "backup_questdb_http_password": QUESTDB_SECRETS["questdb_http_password"],
    }
    vault = unsafe_vars_file(tmp / "vault.yml", secrets)
    out, output = render_role_templates(
        tmp, ROLE_TEMPLATES, ("questdb", "collector", "backup"), {"backup_questdb_enabled": True}, (vault,)
    )
    assert not [name for name, value in secrets.items() if value in output], "a secret in Ansible's output"
    return out


@pytest.fixture(scope="module")
def server(rendered: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuestDBServer]:
    """A real QuestDB whose credentials are the rendered server.conf's lines (the harness's own
    settings first, so the role's lines win)."""
    keys = ("http.password=", "pg.password=", "pg.readonly.password=")
    lines = [line for line in (rendered / "server.conf").read_text().splitlines() if line.startswith(keys)]
    assert len(lines) == 3, lines
    qdb = QuestDBServer(
        root=tmp_path_factory.mktemp("questdb-secrets"),
        http_password=QUESTDB_SECRETS["questdb_http_password"],
        pg_password=QUESTDB_SECRETS["questdb_pg_password"],
        ro_password=QUESTDB_SECRETS["questdb_pg_readonly_password"],
        extra_conf="\n".join(lines) + "\n",
    )
    qdb.start()
    try:
        create_schema(qdb)
        yield qdb
    finally:
        qdb.stop()


def http_status(qdb: QuestDBServer, password: str) -> int:
    token = base64.b64encode(f"{qdb.http_user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"{qdb.http_url}/exec?query=SELECT%201", headers={"Authorization": f"Basic {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def pg_login(qdb: QuestDBServer, user: str, password: str) -> bool:
    try:
        with psycopg.connect(
            host=qdb.host, port=qdb.pg_port, user=user, password=password, dbname="qdb", connect_timeout=10
        ) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_questdb_logs_every_user_in_with_the_role_written_secrets(server: QuestDBServer) -> None:
    http = QUESTDB_SECRETS["questdb_http_password"]
    assert http_status(server, http) == 200
    assert http_status(server, http[:-1]) == 401  # a near miss is refused: the check can fail
    assert pg_login(server, server.pg_user, QUESTDB_SECRETS["questdb_pg_password"])
    assert pg_login(server, server.ro_user, QUESTDB_SECRETS["questdb_pg_readonly_password"])
    assert not pg_login(server, server.ro_user, QUESTDB_SECRETS["questdb_pg_readonly_password"] + "x")


@pytest.fixture(scope="module")
def systemd_instance() -> Iterator[str]:
    """An instance of the project's base image running systemd."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    image = os.environ.get("TRADEWATCH_IMAGE", "localhost/tradewatch-debian:bookworm")
    name = f"tw-secret-formats-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["podman", "run", "-d", "--name", name, "--systemd=always", image, "/lib/systemd/systemd"],
        check=True,
        capture_output=True,
    )
    try:
        wait = ["podman", "exec", name, "systemctl", "is-system-running", "--wait"]
        deadline = time.monotonic() + 60
        state = ""
        while state not in ("running", "degraded") and time.monotonic() < deadline:
            state = subprocess.run(wait, capture_output=True, text=True, check=False).stdout.strip()
            time.sleep(0.2)
        assert state in ("running", "degraded"), f"systemd in {name} is {state!r}"
        yield name
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)


def systemd_environment(instance: str, env_file: Path, variable: str) -> str:
    """`variable` as systemd puts it into a service's environment from `env_file`."""
    target = "/root/credentials.env"  # not /tmp: systemd mounts its own over it
    subprocess.run(["podman", "cp", str(env_file), f"{instance}:{target}"], check=True)
    result = subprocess.run(
        [
            *("podman", "exec", instance, "systemd-run", "--quiet", "--wait", "--pipe"),
            *("-p", f"EnvironmentFile={target}", "/usr/bin/printenv", variable),
        ],
        capture_output=True,
        check=True,
    )
    return result.stdout.decode("utf-8").removesuffix("\n")


def test_systemd_loads_the_collector_password_exactly_and_the_collector_delivers(
    rendered: Path,
    server: QuestDBServer,
    systemd_instance: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variable = "TRADEWATCH_COLLECTOR_QUESTDB__PASSWORD"
    loaded = systemd_environment(systemd_instance, rendered / "credentials.env", variable)
    assert loaded == QUESTDB_SECRETS["questdb_http_password"]

    monkeypatch.setenv(variable, loaded)
    config = load_config(
        None,
        env="dev",
        host="secret-formats",
        questdb={"addr": f"{server.host}:{server.http_port}", "username": server.http_user},
        spool={"dir": str(tmp_path / "spool")},
        metrics={"enabled": False},
        flush_interval_seconds=0.2,
    )
    now = datetime.now(UTC)
    samples = [
        DaemonMetrics(timestamp=now - timedelta(seconds=i), env="dev", host="secret-formats", running=True)
        for i in range(5)
    ]
    with MetricsClient(config) as client:
        assert client.add_many(samples) == 5
        assert client.flush(30), "the collector could not deliver with the password systemd loaded"
    server.wait_wal("daemon_metrics")
    assert server.rows("SELECT count() FROM daemon_metrics WHERE host = 'secret-formats'") == [[5]]


def test_the_backup_program_reads_the_password_and_logs_in(rendered: Path, server: QuestDBServer) -> None:
    sys.path.insert(0, str(REPO / "roles" / "backup" / "files"))
    try:
        from tradewatch_backup.config import load_config as load_backup_config
        from tradewatch_backup.config import questdb_settings
        from tradewatch_backup.questdb_http import QuestDB
    finally:
        sys.path.pop(0)
    settings = questdb_settings(argparse.Namespace(), load_backup_config(str(rendered / "backup.conf")))
    assert settings.password == QUESTDB_SECRETS["questdb_http_password"]
    client = QuestDB(server.http_url, server.http_user, settings.password, timeout=10)
    assert client.rows("SELECT 41 + 1") == [[42]]


# ---- grafana ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def goparse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/grafana/goparse built with Debian's Go (scripts/debian-packages: golang-go)."""
    binary = tmp_path_factory.mktemp("goparse") / "goparse"
    env = {**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false", "GOTOOLCHAIN": "local"}
    result = subprocess.run(
        ["/usr/bin/go", "build", "-o", str(binary), "."],
        cwd=REPO / "tests" / "grafana" / "goparse",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return binary


def grafana_reads(goparse: Path, kind: str, path: Path) -> Any:
    env = {"PATH": os.environ["PATH"], "HOME": "/home/grafana-test"}  # what ${HOME} would expand to
    result = subprocess.run(
        [str(goparse), kind, str(path)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_grafana_reads_every_secret_back_exactly(goparse: Path, tmp_path: Path) -> None:
    vault = unsafe_vars_file(tmp_path / "vault.yml", GRAFANA_SECRETS)
    rendered = render_grafana(
        "prod",
        tmp_path / "root",
        {
            "grafana_smtp_enabled": True,
            "grafana_smtp_host": "smtp.example.invalid:587",
            "grafana_smtp_from_address": "grafana@example.invalid",
            "grafana_telegram_enabled": True,
            "grafana_discord_enabled": True,
        },
        var_files=(vault,),
    )
    ini = grafana_reads(goparse, "ini", rendered.config_dir / "grafana.ini")
    assert ini["security"]["admin_password"] == GRAFANA_SECRETS["grafana_admin_password"]
    assert ini["security"]["secret_key"] == GRAFANA_SECRETS["grafana_secret_key"]
    assert ini["smtp"]["password"] == GRAFANA_SECRETS["grafana_smtp_password"]

    provisioning = rendered.config_dir / "provisioning"
    datasources = grafana_reads(goparse, "yaml", provisioning / "datasources" / "tradewatch.yml")
    assert (
        datasources["datasources"][0]["secureJsonData"]["password"]
        == GRAFANA_SECRETS["grafana_questdb_pg_password"]
    )

    alerting = grafana_reads(goparse, "yaml", provisioning / "alerting" / "tradewatch.yml")
    settings = {r["type"]: r["settings"] for cp in alerting["contactPoints"] for r in cp["receivers"]}
    assert settings["telegram"]["bottoken"] == GRAFANA_SECRETS["grafana_telegram_bot_token"]
    assert settings["discord"]["url"] == GRAFANA_SECRETS["grafana_discord_webhook_url"]


def test_the_grafana_reader_expands_what_grafana_expands(goparse: Path, tmp_path: Path) -> None:
    """The reader is not a pass-through: unescaped, these would come back changed (so the test above
    can fail)."""
    (tmp_path / "grafana.ini").write_text('[security]\nadmin_password = """x${HOME}y"""\n')
    (tmp_path / "p.yml").write_text("a: x$HOME$$y\n")
    assert grafana_reads(goparse, "ini", tmp_path / "grafana.ini")["security"]["admin_password"] == (
        "x/home/grafana-testy"
    )
    assert grafana_reads(goparse, "yaml", tmp_path / "p.yml") == {"a": "x/home/grafana-test$y"}
