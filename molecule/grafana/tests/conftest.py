"""Fixtures of the grafana scenario's testinfra tests (run by `molecule verify`, podman:// backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
ROLE = SCENARIO.parents[1] / "roles" / "grafana"


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not (isinstance(v, str) and "{{" in v)}


@pytest.fixture(scope="session")
def settings() -> dict[str, Any]:
    """Role defaults overridden by the scenario group_vars: what the role was converged with."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    scenario = yaml.safe_load((SCENARIO / "group_vars" / "all.yml").read_text())
    return {**_plain(defaults), **_plain(scenario)}


@pytest.fixture(scope="session")
def secrets(settings: dict[str, Any]) -> dict[str, str]:
    names = (
        "grafana_admin_password",
        "grafana_secret_key",
        "grafana_questdb_pg_password",
        "grafana_telegram_bot_token",
        "grafana_discord_webhook_url",
    )
    return {name: str(settings[name]) for name in names}
