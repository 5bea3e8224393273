"""Every role documents every public variable: defaults, meta/argument_specs.yml and README agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO

ROLES = sorted(p.parent.parent for p in (REPO / "roles").glob("*/meta/argument_specs.yml"))


def role_ids() -> list[str]:
    return [role.name for role in ROLES]


@pytest.mark.parametrize("role", ROLES, ids=role_ids())
def test_argument_specs_cover_exactly_the_defaults(role: Path) -> None:
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    assert set(defaults) - set(options) == set(), "defaults missing from argument_specs"
    assert {k for k, v in options.items() if not v.get("required")} - set(defaults) == set(), (
        "argument_specs options without a default in defaults/main.yml"
    )


@pytest.mark.parametrize("role", ROLES, ids=role_ids())
def test_readme_lists_every_variable(role: Path) -> None:
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    readme = (role / "README.md").read_text()
    missing = [name for name in spec["argument_specs"]["main"]["options"] if name not in readme]
    assert missing == []


def test_every_role_has_an_argument_spec() -> None:
    roles = {p.name for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir()}
    assert roles == {role.name for role in ROLES}
