"""questdb_table: argument spec, its validation by Ansible, and its agreement with DOCUMENTATION."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.tradewatch.stack.plugins.doc_fragments.questdb import ModuleDocFragment
from ansible_collections.tradewatch.stack.plugins.modules import questdb_table

SPEC = questdb_table.argument_spec()


def validate(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    result = ArgumentSpecValidator(SPEC).validate(params)
    return result.validated_parameters, [str(err) for err in result.errors]


def with_fragments(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with the options and attributes of its doc fragments merged in, as ansible-doc shows it."""
    assert doc["extends_documentation_fragment"] == [
        "tradewatch.stack.questdb",
        "tradewatch.stack.questdb.attributes",
    ]
    merged = dict(doc)
    for var in ("DOCUMENTATION", "ATTRIBUTES"):
        fragment = yaml.safe_load(getattr(ModuleDocFragment, var))
        for key in ("options", "attributes"):
            shared = fragment.get(key) or {}
            assert not set(shared) & set(doc.get(key) or {}), f"{key} documented twice"
            merged[key] = {**shared, **(merged.get(key) or {})}
    return merged


DOC = with_fragments(yaml.safe_load(questdb_table.DOCUMENTATION))


def test_documentation_yaml() -> None:
    assert DOC["module"] == "questdb_table"
    assert DOC["attributes"]["check_mode"]["support"] == "full"
    assert DOC["attributes"]["diff_mode"]["support"] == "full"
    assert yaml.safe_load(questdb_table.EXAMPLES)
    ret = yaml.safe_load(questdb_table.RETURN)
    assert set(ret) == {"queries", "state", "diff"}


def _check_options(doc_options: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    assert set(doc_options) == set(spec), where
    for name, arg in spec.items():
        doc = doc_options[name]
        assert doc["type"] == arg.get("type", "str"), f"{where}.{name} type"
        assert doc.get("default") == arg.get("default"), f"{where}.{name} default"
        assert doc.get("choices") == arg.get("choices"), f"{where}.{name} choices"
        assert bool(doc.get("required")) == bool(arg.get("required")), f"{where}.{name} required"
        assert doc.get("aliases") == arg.get("aliases"), f"{where}.{name} aliases"
        assert doc.get("elements") == arg.get("elements"), f"{where}.{name} elements"
        if "options" in arg:
            _check_options(doc["suboptions"], arg["options"], f"{where}.{name}")


def test_documentation_matches_argument_spec() -> None:
    _check_options(DOC["options"], SPEC, "options")


def test_password_is_no_log() -> None:
    assert SPEC["password"]["no_log"] is True


def test_defaults() -> None:
    params, errors = validate({"name": "t"})
    assert errors == []
    assert params["url"] == "http://127.0.0.1:9000"
    assert params["state"] == "present"
    assert params["force"] is False
    assert params["dedup_upsert_keys"] == []
    assert params["columns"] == []
    assert params["timeout"] == 30.0
    assert params["validate_certs"] is True
    assert params["ttl"] is None
    assert params["partition_by"] is None
    assert params["wal"] is None


def test_role_style_arguments_validate() -> None:
    params, errors = validate(
        {
            "url": "http://127.0.0.1:9000",
            "user": "admin",
            "password": "secret",
            "name": "daemon_metrics",
            "timestamp": "timestamp",
            "partition_by": "DAY",
            "wal": True,
            "dedup_upsert_keys": ["timestamp", "host"],
            "ttl": 0,
            "columns": [{"name": "host", "type": "SYMBOL", "capacity": "256", "cache": "yes"}],
        }
    )
    assert errors == []
    assert params["ttl"] == "0"
    assert params["columns"][0] == {
        "name": "host",
        "type": "SYMBOL",
        "capacity": 256,
        "cache": True,
        "index": None,
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "missing required arguments: name"),
        ({"name": "t", "state": "gone"}, "value of state must be one of: present, absent"),
        ({"name": "t", "partition_by": "DECADE"}, "value of partition_by must be one of"),
        ({"name": "t", "wal": "maybe"}, "wal"),
        ({"name": "t", "columns": [{"name": "a"}]}, "missing required arguments: type"),
        ({"name": "t", "columns": [{"name": "a", "type": "LONG", "colour": "red"}]}, "colour"),
        ({"name": "t", "columns": [{"name": "a", "type": "SYMBOL", "capacity": "lots"}]}, "capacity"),
        ({"name": "t", "nope": 1}, "nope"),
    ],
)
def test_invalid_arguments(params: dict[str, Any], message: str) -> None:
    _, errors = validate(params)
    assert any(message in err for err in errors), errors
