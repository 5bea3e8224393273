"""What the grafana role (package source none, plugin from a zip) must have produced on the instance."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

PROVISIONING = "/etc/grafana/provisioning"
ROLE = Path(__file__).resolve().parents[3] / "roles" / "grafana"
SECRET_FILES = (
    "/etc/grafana/grafana.ini",
    f"{PROVISIONING}/datasources/tradewatch.yml",
    f"{PROVISIONING}/alerting/tradewatch.yml",
)
DASHBOARDS = ("health", "pipeline", "exchange", "trading", "selfhealth", "runbooks")


@pytest.mark.parametrize("path", SECRET_FILES)
def test_files_with_secrets_are_readable_by_grafana_only(host: Any, path: str) -> None:
    f = host.file(path)
    assert f.is_file
    assert (f.user, f.group, f.mode) == ("root", "grafana", 0o640)


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        ("/etc/grafana", 0o750),
        (PROVISIONING, 0o750),
        (f"{PROVISIONING}/datasources", 0o750),
        (f"{PROVISIONING}/dashboards", 0o750),
        (f"{PROVISIONING}/alerting", 0o750),
        (f"{PROVISIONING}/plugins", 0o750),
        ("/var/lib/grafana/dashboards/tradewatch", 0o755),
    ],
)
def test_directories(host: Any, path: str, mode: int) -> None:
    d = host.file(path)
    assert d.is_directory
    assert (d.user, d.group, d.mode) == ("root", "grafana", mode)


def test_dashboard_provider_and_dashboards(host: Any) -> None:
    provider = host.file(f"{PROVISIONING}/dashboards/tradewatch.yml")
    assert (provider.user, provider.group, provider.mode) == ("root", "grafana", 0o644)
    listing = host.check_output("ls /var/lib/grafana/dashboards/tradewatch").split()
    assert sorted(listing) == sorted(f"{name}.json" for name in DASHBOARDS)
    for name in DASHBOARDS:
        f = host.file(f"/var/lib/grafana/dashboards/tradewatch/{name}.json")
        assert (f.user, f.group, f.mode) == ("root", "grafana", 0o644)
        assert json.loads(f.content_string)["uid"] == f"tradewatch-{name}"


def test_no_secret_in_a_world_readable_file(host: Any, secrets: dict[str, str]) -> None:
    for name, value in secrets.items():
        pattern = shlex.quote(value)
        found = host.run(f"grep -rlF -- {pattern} /etc/grafana /var/lib/grafana").stdout.split()
        for path in found:
            f = host.file(path)
            assert not f.mode & 0o004, f"{path} holds {name} and is world-readable"
            assert f.group == "grafana" and f.user == "root", path


def test_grafana_ini(host: Any, settings: dict[str, Any]) -> None:
    ini = host.file("/etc/grafana/grafana.ini").content_string
    for line in (
        "[unified_alerting]\nenabled = true",
        "[auth.anonymous]\nenabled = false",
        f"root_url = {settings['grafana_root_url']}",
        f"domain = {settings['grafana_domain']}",
        "cookie_secure = true",
        f'admin_password = """{settings["grafana_admin_password"]}"""',
    ):
        assert line in ini


def test_datasource_uses_the_read_only_user(host: Any, settings: dict[str, Any]) -> None:
    text = host.file(f"{PROVISIONING}/datasources/tradewatch.yml").content_string
    assert "uid: questdb-dev" in text
    assert "username: reader" in text
    assert f"password: {settings['grafana_questdb_pg_password']}" in text


def test_plugin_is_installed_and_owned_by_grafana(host: Any) -> None:
    plugin = "/var/lib/grafana/plugins/questdb-questdb-datasource"
    manifest = json.loads(host.file(f"{plugin}/plugin.json").content_string)
    assert manifest["id"] == "questdb-questdb-datasource"
    assert manifest["info"]["version"] == "0.1.8"
    not_grafana = host.check_output(f"find {plugin} ! -user grafana -o ! -group grafana")
    assert not_grafana == ""
    world = host.check_output(f"find {plugin} -perm /o=rwx")
    assert world == ""
    backend = host.file(f"{plugin}/gpx_questdb_linux_amd64")
    assert backend.mode & 0o100


def test_alerting_file_for_the_scenario(host: Any) -> None:
    text = host.file(f"{PROVISIONING}/alerting/tradewatch.yml").content_string
    rules = yaml.safe_load((ROLE / "files" / "alert_rules.yml").read_text())
    assert text.count("uid: tw-dev-") == len(rules) + 2  # rules + the two enabled contact points
    assert "tradewatch-dev-telegram" in text and "tradewatch-dev-discord" in text
    assert "tradewatch-dev-email" not in text


def test_no_grafana_service_was_touched(host: Any) -> None:
    """Package source none: nothing installed a unit, and the role did not invent one."""
    assert not host.file("/etc/systemd/system/grafana-server.service").exists
    assert not host.package("grafana").is_installed
