"""What the role writes (modes, owners, secrets) and what its preflight refuses, on the controller."""

from __future__ import annotations

import configparser
import stat
from pathlib import Path

import pytest

from tests.grafana.render import Rendered, example_vars, run_role

MODES = {
    "etc/grafana.ini": 0o640,
    "etc/provisioning/datasources/tradewatch.yml": 0o640,
    "etc/provisioning/alerting/tradewatch.yml": 0o640,
    "etc/provisioning/dashboards/tradewatch.yml": 0o644,
    "etc": 0o750,
    "etc/provisioning": 0o750,
    "etc/provisioning/alerting": 0o750,
}


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_files_have_their_modes_and_no_secret_is_world_readable(
    rendered: dict[str, Rendered], env: str
) -> None:
    root = rendered[env].root
    for relative, mode in MODES.items():
        assert stat.S_IMODE((root / relative).stat().st_mode) == mode, relative
    secrets = rendered[env].secrets()
    assert secrets
    files = [p for p in root.rglob("*") if p.is_file() and "ansible-tmp" not in p.parts]
    assert len(files) >= 10
    for path in files:
        text = path.read_text()
        leaked = [
            name for name, value in secrets.items() if value in text or value.replace("$", "$$") in text
        ]
        world_readable = path.stat().st_mode & stat.S_IROTH
        if leaked:
            assert not world_readable, f"{path} holds {leaked} and is world-readable"
            assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    for dashboard in rendered[env].dashboards_dir.glob("*.json"):
        assert stat.S_IMODE(dashboard.stat().st_mode) == 0o644


def read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"))
    parser.read_string(path.read_text())
    return parser


def test_grafana_ini_per_environment(rendered: dict[str, Rendered]) -> None:
    prod = read_ini(rendered["prod"].config_dir / "grafana.ini")
    dev = read_ini(rendered["dev"].config_dir / "grafana.ini")
    for ini in (prod, dev):
        assert ini["auth.anonymous"]["enabled"] == "false"
        assert ini["unified_alerting"]["enabled"] == "true"
        assert "alerting" not in ini  # legacy alerting is gone in Grafana 11+
        assert ini["users"]["allow_sign_up"] == "false"
        assert ini["security"]["x_content_type_options"] == "true"
    assert prod["server"]["root_url"] == "https://grafana.prod.example.internal/"
    assert prod["server"]["domain"] == "grafana.prod.example.internal"
    assert prod["security"]["cookie_secure"] == "true"
    assert prod["security"]["strict_transport_security"] == "true"
    assert dev["security"]["cookie_secure"] == "false"
    # prod serves HTTPS with its own copies of the environment's certificate and key
    assert (prod["server"]["protocol"], "protocol" in dev["server"]) == ("https", False)
    tls = rendered["prod"].config_dir / "tls"
    assert (prod["server"]["cert_file"], prod["server"]["cert_key"]) == (
        str(tls / "server.crt"),
        str(tls / "server.key"),
    )
    assert stat.S_IMODE((tls / "server.key").stat().st_mode) == 0o640
    assert prod["smtp"]["enabled"] == "true" and prod["smtp"]["host"] == "smtp.example.invalid:587"
    # secrets with '#' or ';' survive in Grafana's triple quotes
    assert (
        prod["security"]["admin_password"] == '"""' + example_vars("prod")["grafana_admin_password"] + '"""'
    )
    assert "secret_key" not in dev["security"]  # not set in dev: Grafana keeps its own


REFUSED = {
    "prod-without-admin-password": ({"grafana_admin_password": ""}, "grafana_admin_password"),
    "prod-with-default-admin-password": ({"grafana_admin_password": "admin"}, "grafana_admin_password"),
    "prod-without-secret-key": ({"grafana_secret_key": ""}, "grafana_secret_key"),
    "prod-with-questdb-default-password": (
        {"grafana_questdb_pg_password": "quest"},
        "grafana_questdb_pg_password",
    ),
    "prod-without-contact-point": (
        {"grafana_telegram_enabled": False, "grafana_discord_enabled": False, "grafana_email_enabled": False},
        "no contact point is enabled",
    ),
    "email-without-smtp": ({"grafana_smtp_enabled": False}, "grafana_smtp_enabled"),
    "apt-over-http": (
        {"grafana_package_source": "apt", "grafana_apt_repository_url": "http://apt.grafana.com"},
        "grafana_apt_repository_url must be https",
    ),
    "apt-with-a-short-fingerprint": (
        {"grafana_package_source": "apt", "grafana_apt_key_fingerprint": "963FA27710458545"},
        "grafana_apt_key_fingerprint",
    ),
    "unknown-rule-override": (
        {"grafana_alert_rule_overrides": {"no-such-rule": {}}},
        "grafana_alert_rule_overrides",
    ),
    "unknown-override-key": (
        {"grafana_alert_rule_overrides": {"daemon-down": {"treshold": 60}}},
        "grafana_alert_rule_overrides.daemon-down.treshold",
    ),
    "override-threshold-not-a-number": (
        {"grafana_alert_rule_overrides": {"exchange-latency": {"threshold": "fast"}}},
        "grafana_alert_rule_overrides.exchange-latency.threshold must be a number",
    ),
    "prod-over-plain-http": ({"grafana_tls_enabled": False}, "set grafana_tls_enabled: true"),
    "prod-reading-remote-pg-in-clear": (
        {"grafana_questdb_host": "questdb-1.prod.example.internal"},
        "grafana_questdb_host: 127.0.0.1",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_preflight_refuses_before_any_change(tmp_path: Path, case: str) -> None:
    overrides, expected = REFUSED[case]
    root = tmp_path / "root"
    result = run_role(root, {**example_vars("prod"), **overrides})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert expected in output
    assert "TASK [grafana : Write grafana.ini]" not in output
    assert not (root / "etc").exists() and not (root / "data").exists()
    for value in (overrides.get("grafana_admin_password"), example_vars("prod")["grafana_secret_key"]):
        if value:
            assert value not in output or value == "admin"


@pytest.mark.parametrize(("grafana_version", "plugin"), [("12.2.0", "0.1.6"), ("12.4.5", "0.1.8")])
def test_plugin_version_follows_grafana(tmp_path: Path, grafana_version: str, plugin: str) -> None:
    """0.1.7+ needs Grafana 12.3; older Grafana gets 0.1.6, whose credential logging preflight warns about."""
    variables = {
        **example_vars("dev"),
        "grafana_version": grafana_version,
        "grafana_questdb_plugin_source": "cli",
    }
    result = run_role(tmp_path / "root", variables, check=True, tags="grafana_install")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warned = f"QuestDB plugin {plugin} (chosen for Grafana {grafana_version})" in " ".join(output.split())
    assert warned == (plugin == "0.1.6"), output


def test_no_plugin_supports_a_too_old_grafana(tmp_path: Path) -> None:
    variables = {**example_vars("dev"), "grafana_version": "9.4.0", "grafana_questdb_plugin_source": "cli"}
    result = run_role(tmp_path / "root", variables, check=True, tags="grafana_install")
    assert result.returncode != 0
    assert "No QuestDB plugin release supports Grafana 9.4.0" in " ".join(
        (result.stdout + result.stderr).split()
    )
