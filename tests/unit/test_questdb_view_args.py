"""questdb_materialized_view: argument spec, Ansible's validation of it, agreement with DOCUMENTATION."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.tradewatch.stack.plugins.module_utils.questdb_view import build_view_spec
from ansible_collections.tradewatch.stack.plugins.modules import questdb_materialized_view as module

from tests.support.paths import REPO
from tests.unit.test_questdb_table_args import _check_options, with_fragments

DOC = with_fragments(yaml.safe_load(module.DOCUMENTATION))
SPEC = module.argument_spec()


def validate(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    result = ArgumentSpecValidator(SPEC).validate(params)
    return result.validated_parameters, [str(err) for err in result.errors]


def test_documentation_yaml() -> None:
    assert DOC["module"] == "questdb_materialized_view"
    assert DOC["attributes"]["check_mode"]["support"] == "full"
    assert DOC["attributes"]["diff_mode"]["support"] == "full"
    assert all(
        "tradewatch.stack.questdb_materialized_view" in task for task in yaml.safe_load(module.EXAMPLES)
    )
    assert set(yaml.safe_load(module.RETURN)) == {"queries", "state", "diff"}


def test_documentation_matches_argument_spec() -> None:
    _check_options(DOC["options"], SPEC, "options")


def test_shares_the_connection_options_and_hides_the_password() -> None:
    assert {"url", "user", "password", "timeout", "validate_certs"} <= set(SPEC)
    assert SPEC["password"]["no_log"] is True


def test_defaults() -> None:
    params, errors = validate({"name": "v", "query": "SELECT 1"})
    assert errors == []
    assert params["state"] == "present"
    assert params["refresh"] == "immediate"
    assert params["force"] is False
    assert params["ttl"] is None and params["partition_by"] is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "missing required arguments: name"),
        ({"name": "v", "state": "gone"}, "value of state must be one of: present, absent"),
        ({"name": "v", "partition_by": "NONE"}, "value of partition_by must be one of"),
        ({"name": "v", "refresh": "hourly"}, "value of refresh must be one of"),
        ({"name": "v", "colour": 1}, "colour"),
    ],
)
def test_invalid_arguments(params: dict[str, Any], message: str) -> None:
    _, errors = validate(params)
    assert any(message in err for err in errors), errors


def test_the_role_views_are_valid_declarations() -> None:
    views = yaml.safe_load((REPO / "roles" / "questdb" / "vars" / "main.yml").read_text())["_questdb_views"]
    names = [view["name"] for view in views]
    assert len(names) == len(set(names))
    for view in views:
        _, errors = validate(view)
        assert errors == [], (view["name"], errors)
        declared = build_view_spec(view)
        assert declared.partition_by is not None and declared.ttl is not None, view["name"]
        base = declared.query.split(" FROM ", 1)[1].split()[0]
        assert base in names[: names.index(view["name"])] or base in {
            "pipeline_metrics",
            "exchange_status",
            "daemon_metrics",
            "trading_metrics",
        }, f"{view['name']}: its base {base} must be a table or a view declared before it"
