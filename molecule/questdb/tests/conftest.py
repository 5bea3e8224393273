"""Fixtures of the questdb scenario's testinfra tests (run by `molecule verify`, podman:// backend)."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
ROLE = SCENARIO.parents[1] / "roles" / "questdb"
PROBE_SOURCE = (Path(__file__).with_name("probe.py")).read_text()


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


class QuestDBProbe:
    """Talks to QuestDB from inside the instance, through probe.py."""

    def __init__(self, host: Any, settings: dict[str, Any]) -> None:
        self.host = host
        self.settings = settings
        self.http_base = f"http://127.0.0.1:{settings['questdb_http_port']}"
        self.min_base = f"http://127.0.0.1:{settings['questdb_http_min_port']}"

    def _run(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = f"python3 -c {shlex.quote(PROBE_SOURCE)} {shlex.quote(json.dumps(request))}"
        result = self.host.run(cmd)
        assert result.rc == 0, f"probe failed: {result.stderr}"
        return dict(json.loads(result.stdout))

    def http(
        self,
        url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        method: str = "GET",
        data: str | None = None,
    ) -> dict[str, Any]:
        request = {
            "kind": "http",
            "url": url,
            "method": method,
            "data": data,
            "user": user,
            "password": password,
        }
        return self._run(request)

    def admin_http(self, url: str, **kwargs: Any) -> dict[str, Any]:
        return self.http(
            url,
            user=self.settings["questdb_http_user"],
            password=self.settings["questdb_http_password"],
            **kwargs,
        )

    def sql(self, query: str) -> dict[str, Any]:
        """Run SQL over /exec with the admin credentials; return QuestDB's JSON answer."""
        from urllib.parse import urlencode

        answer = self.admin_http(f"{self.http_base}/exec?{urlencode({'query': query})}")
        assert answer["status"] == 200, f"{query!r} -> {answer}"
        return dict(json.loads(answer["body"]))

    def rows(self, query: str) -> list[list[Any]]:
        return list(self.sql(query).get("dataset", []))

    def pg(self, user: str, password: str, query: str | None = None) -> dict[str, Any]:
        request = {
            "kind": "pg",
            "port": self.settings["questdb_pg_port"],
            "user": user,
            "password": password,
            "query": query,
        }
        return self._run(request)

    def poll_rows(self, query: str, timeout: float = 30.0) -> list[list[Any]]:
        """Rows of `query` once there are any (WAL tables apply writes asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows(query)
            if rows or time.monotonic() > deadline:
                return rows
            time.sleep(0.5)


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
