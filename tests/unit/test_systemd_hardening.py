"""The hardening every unit of the stack shares (tradewatch.stack.systemd_hardening): one list, with
each service's differences stated as arguments; the molecule scenarios run and score the real units."""

from __future__ import annotations

import re

import pytest
from ansible_collections.tradewatch.stack.plugins.filter.systemd import systemd_hardening

from tests.support.paths import REPO


def directives(text: str) -> list[tuple[str, str]]:
    return [tuple(line.split("=", 1)) for line in text.splitlines()]  # type: ignore[misc]


def test_a_service_writes_only_its_folders_and_keeps_no_capability() -> None:
    found = dict(directives(systemd_hardening(["/var/lib/a", "/run/b"])))
    assert found["ReadWritePaths"] == "/var/lib/a /run/b"
    assert found["ProtectSystem"] == "strict"
    assert found["CapabilityBoundingSet"] == "" and found["NoNewPrivileges"] == "yes"
    assert found["MemoryDenyWriteExecute"] == "yes"


def test_each_difference_is_an_argument() -> None:
    jvm = directives(systemd_hardening(["/var/lib/questdb"], jit=True, denied_syscalls=[]))
    assert "MemoryDenyWriteExecute" not in dict(jvm)
    assert [v for k, v in jvm if k == "SystemCallFilter"] == ["@system-service"]
    backup = dict(directives(systemd_hardening(["/backup"], capabilities=["CAP_DAC_READ_SEARCH"])))
    assert backup["CapabilityBoundingSet"] == "CAP_DAC_READ_SEARCH"
    default = directives(systemd_hardening(["/x"]))
    assert [v for k, v in default if k == "SystemCallFilter"] == [
        "@system-service",
        "~@privileged @resources",
    ]


@pytest.mark.parametrize("paths", [None, "/var/lib/questdb"])
def test_the_folders_are_required_as_a_list(paths: object) -> None:
    with pytest.raises(ValueError, match="folders the service writes"):
        systemd_hardening(paths)  # type: ignore[arg-type]


def test_a_service_that_writes_nothing_gets_no_writable_folder() -> None:
    found = dict(directives(systemd_hardening([])))
    assert "ReadWritePaths" not in found and found["ProtectSystem"] == "strict"


@pytest.mark.parametrize(
    "template",
    [
        "questdb/templates/questdb.service.j2",
        "collector/templates/collector.service.j2",
        "backup/templates/backup.service.j2",
        "questdb/templates/questdb-parquet.service.j2",
    ],
)
def test_every_unit_takes_its_hardening_from_the_one_list(template: str) -> None:
    text = (REPO / "roles" / template).read_text()
    assert "tradewatch.stack.systemd_hardening" in text
    assert not re.search(
        r"^(ProtectSystem|NoNewPrivileges|SystemCallFilter|RestrictNamespaces)=", text, re.M
    ), template
