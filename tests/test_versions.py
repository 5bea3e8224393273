"""Pinned versions agree across scripts/versions.env, the role defaults and the constraints."""

from __future__ import annotations

import yaml

from tests.support.paths import REPO, versions


def test_role_default_version_is_the_pinned_questdb() -> None:
    defaults = yaml.safe_load((REPO / "roles" / "questdb" / "defaults" / "main.yml").read_text())
    assert defaults["questdb_version"] == versions()["QUESTDB_VERSION"]


def test_ansible_core_is_below_2_20() -> None:
    pins = dict(
        line.split("==", 1)
        for line in (REPO / "requirements" / "constraints.txt").read_text().splitlines()
        if "==" in line
    )
    major, minor = (int(x) for x in pins["ansible-core"].split(".")[:2])
    assert (major, minor) < (2, 20)
