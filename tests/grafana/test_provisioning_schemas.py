"""Everything the role provisions validates against Grafana's own schemas (and ours for the file
envelopes); unknown keys fail."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.grafana import grafana_models as gm
from tests.grafana.render import ENVS, Rendered
from tests.grafana.rules import README, readme_with_table, rule_ids

DASHBOARDS = ("health", "pipeline", "exchange", "trading", "selfhealth", "runbooks")


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows
    return panels


def rules(rendered: Rendered) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(g, r) for g in rendered.provisioning("alerting")["groups"] for r in g["rules"]]


@pytest.mark.parametrize("env", ENVS)
def test_role_renders_every_dashboard(rendered: dict[str, Rendered], env: str) -> None:
    assert set(rendered[env].dashboards()) == set(DASHBOARDS)


@pytest.mark.parametrize("name", DASHBOARDS)
@pytest.mark.parametrize("env", ["prod", "dev"])
def test_dashboard_validates_against_grafana_dashboard_schema(
    rendered: dict[str, Rendered], env: str, name: str
) -> None:
    dashboard = rendered[env].dashboards()[name]
    assert gm.errors(gm.sdk("dashboard"), dashboard) == []
    ids = [p["id"] for p in all_panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}"


@pytest.mark.parametrize("name", DASHBOARDS)
def test_panel_options_validate_against_their_panel_schema(rendered: dict[str, Rendered], name: str) -> None:
    for panel in all_panels(rendered["prod"].dashboards()[name]):
        schema = gm.sdk(gm.PANEL_SCHEMAS[panel["type"]])
        where = f"{name}/{panel['id']} {panel['title']}"
        assert gm.errors(schema, panel.get("options", {}), "Options") == [], where
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if "FieldConfig" in schema["definitions"]:
            assert gm.errors(schema, custom or {}, "FieldConfig") == [], where
        else:
            assert not custom, f"{where}: {panel['type']} has no custom field config"


@pytest.mark.parametrize("name", DASHBOARDS)
def test_panel_targets_are_questdb_queries_on_the_env_datasource(
    rendered: dict[str, Rendered], name: str
) -> None:
    for env in ("prod", "dev"):
        uid = rendered[env].provisioning("datasources")["datasources"][0]["uid"]
        dashboard = rendered[env].dashboards()[name]
        variables = dashboard["templating"]["list"]
        for item in [*all_panels(dashboard), *variables]:
            refs = [t["datasource"] for t in item.get("targets", [])] + [item.get("datasource")]
            for ref in filter(None, refs):
                assert ref == {"type": "questdb-questdb-datasource", "uid": uid}, item.get("title")
            for target in item.get("targets", []):
                assert gm.errors(gm.ours("questdb"), target, "query") == [], item["title"]


@pytest.mark.parametrize("env", ENVS)
def test_datasource_file(rendered: dict[str, Rendered], env: str) -> None:
    doc = rendered[env].provisioning("datasources")
    assert gm.errors(gm.ours("provisioning-datasources"), doc) == []
    (source,) = doc["datasources"]
    assert source["type"] == "questdb-questdb-datasource"
    assert source["uid"] == f"questdb-{rendered[env].variables['grafana_env']}"
    assert gm.errors(gm.ours("questdb"), source["jsonData"], "jsonData") == []
    assert gm.errors(gm.ours("questdb"), source["secureJsonData"], "secureJsonData") == []
    # Grafana expands $VAR in this file and reads '$$' as '$' (provisioning/values.interpolateValue).
    stored = source["secureJsonData"]["password"]
    assert "$" not in stored.replace("$$", "")
    assert stored.replace("$$", "$") == rendered[env].variables["grafana_questdb_pg_password"]
    assert source["jsonData"]["username"] == "reader"


@pytest.mark.parametrize("env", ENVS)
def test_dashboard_provider_file(rendered: dict[str, Rendered], env: str) -> None:
    doc = rendered[env].provisioning("dashboards")
    assert gm.errors(gm.ours("provisioning-dashboards"), doc) == []
    assert doc["providers"][0]["options"]["path"] == str(rendered[env].dashboards_dir)


@pytest.mark.parametrize("env", ENVS)
def test_alerting_file_envelope(rendered: dict[str, Rendered], env: str) -> None:
    assert gm.errors(gm.ours("provisioning-alerting"), rendered[env].provisioning("alerting")) == []


@pytest.mark.parametrize("env", ENVS)
def test_rules_validate_against_grafana_alerting_and_expression_schemas(
    rendered: dict[str, Rendered], env: str
) -> None:
    for group, rule in rules(rendered[env]):
        assert gm.errors(gm.sdk("alerting"), gm.rule_to_api(group, rule), "Rule") == [], rule["uid"]
        for query in rule["data"]:
            assert gm.errors(gm.sdk("alerting"), query, "Query") == [], rule["uid"]
            if query["datasourceUid"] == "__expr__":
                assert gm.errors(gm.sdk("expr"), query["model"]) == [], (rule["uid"], query["refId"])
            else:
                assert gm.errors(gm.ours("questdb"), query["model"], "query") == [], rule["uid"]


@pytest.mark.parametrize("env", ENVS)
def test_contact_points_templates_policies_and_mute_timings_validate(
    rendered: dict[str, Rendered], env: str
) -> None:
    doc = rendered[env].provisioning("alerting")
    settings_schema = gm.ours("contact-settings")
    names = set()
    for contact_point in doc.get("contactPoints", []):
        names.add(contact_point["name"])
        for api in gm.contact_points_to_api(contact_point):
            assert gm.errors(gm.sdk("alerting"), api, "ContactPoint") == [], api["uid"]
            assert gm.errors(settings_schema, api["settings"], api["type"]) == [], api["uid"]
            assert api["disableResolveMessage"] is False  # recovery notifications on
    for template in doc.get("templates", []):
        assert gm.errors(gm.sdk("alerting"), gm.template_to_api(template), "NotificationTemplate") == []
    mute_names = set()
    for mute_time in doc.get("muteTimes", []):
        mute_names.add(mute_time["name"])
        assert gm.errors(gm.sdk("alerting"), gm.mute_time_to_api(mute_time), "MuteTiming") == []
    for policy in doc.get("policies", []):
        api = gm.policy_to_api(policy)
        assert gm.errors(gm.sdk("alerting"), api, "NotificationPolicy") == []
        routes = [api, *api.get("routes", [])]
        assert {r["receiver"] for r in routes} <= names
        assert {m for r in routes for m in r.get("mute_time_intervals", [])} <= mute_names


def test_prod_routes_by_severity_with_storm_control(rendered: dict[str, Rendered]) -> None:
    doc = rendered["prod"].provisioning("alerting")
    (policy,) = doc["policies"]
    assert policy["receiver"] == "tradewatch-prod-telegram"
    assert set(policy["group_by"]) >= {"alertname", "env"}
    by_severity: dict[str, list[dict[str, Any]]] = {}
    for route in policy["routes"]:
        (matcher,) = route["object_matchers"]
        assert matcher[:2] == ["severity", "="]
        by_severity.setdefault(matcher[2], []).append(route)
    assert [r["receiver"] for r in by_severity["critical"]] == [
        "tradewatch-prod-telegram",
        "tradewatch-prod-discord",
        "tradewatch-prod-email",
    ]
    assert [r["continue"] for r in by_severity["critical"]] == [True, True, False]
    for severity, routes in by_severity.items():
        for route in routes:
            wait, interval, repeat = (
                gm.duration_seconds(route[k]) for k in ("group_wait", "group_interval", "repeat_interval")
            )
            assert wait <= interval <= repeat, severity
            assert interval >= 60 and repeat >= 3600, f"{severity}: notifications would storm"
    assert by_severity["info"][0]["mute_time_intervals"] == ["tradewatch-weekends"]


def test_environments_differ_where_the_inventory_says(rendered: dict[str, Rendered]) -> None:
    prod, dev, local = (rendered[e].provisioning("alerting") for e in ("prod", "dev", "local"))
    assert len(prod["contactPoints"]) == 3 and len(dev["contactPoints"]) == 1
    assert "contactPoints" not in local and local["resetPolicies"] == [1]

    def threshold(doc: dict[str, Any], uid_suffix: str) -> float:
        rule = next(r for g in doc["groups"] for r in g["rules"] if r["uid"].endswith(uid_suffix))
        return float(rule["data"][2]["model"]["conditions"][0]["evaluator"]["params"][0])

    assert threshold(prod, "exchange-latency") == 500 and threshold(dev, "exchange-latency") == 1000
    dev_gap = next(r for g in dev["groups"] for r in g["rules"] if r["uid"] == "tw-dev-pipeline-gap")
    assert dev_gap["labels"]["severity"] == "info"
    assert {r["uid"].split("-", 2)[1] for _, r in rules(rendered["dev"])} == {"dev"}


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_every_rule_has_severity_summary_runbook_and_a_panel(rendered: dict[str, Rendered], env: str) -> None:
    dashboards = {d["uid"]: d for d in rendered[env].dashboards().values()}
    runbooks = {p["id"]: p for p in dashboards["tradewatch-runbooks"]["panels"]}
    datasource_uid = rendered[env].provisioning("datasources")["datasources"][0]["uid"]
    found = rules(rendered[env])
    assert sorted(rule["uid"].removeprefix(f"tw-{env}-") for _, rule in found) == sorted(rule_ids())
    for _, rule in found:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        runbook = rule["annotations"]["runbook_url"]
        root = rendered[env].variables["grafana_root_url"].rstrip("/")
        assert runbook.startswith(f"{root}/d/tradewatch-runbooks/")
        panel_id = int(runbook.rsplit("panel-", 1)[1])
        assert runbooks[panel_id]["title"] == rule["title"]
        panels = {p["id"] for p in all_panels(dashboards[rule["dashboardUid"]])}
        assert rule["panelId"] in panels
        assert rule["data"][0]["datasourceUid"] == datasource_uid
        assert rule["execErrState"] in {"KeepLast", "Alerting"}  # test_alert_rules.py says which


UNKNOWN = {"surprise": True}


def test_unknown_keys_fail_everywhere(rendered: dict[str, Rendered]) -> None:
    """The validation is strict: one stray key anywhere is an error."""
    dashboard = rendered["prod"].dashboards()["health"]
    broken = copy.deepcopy(dashboard)
    broken["panels"][0]["gridPos"].update(UNKNOWN)
    assert gm.errors(gm.sdk("dashboard"), broken)
    options = {**dashboard["panels"][0]["options"], **UNKNOWN}
    assert gm.errors(gm.sdk("stat"), options, "Options")
    target = {**dashboard["panels"][0]["targets"][0], **UNKNOWN}
    assert gm.errors(gm.ours("questdb"), target, "query")
    doc = rendered["prod"].provisioning("alerting")
    group, rule = rules(rendered["prod"])[0]
    assert gm.errors(gm.sdk("alerting"), {**gm.rule_to_api(group, rule), **UNKNOWN}, "Rule")
    broken_doc = copy.deepcopy(doc)
    broken_doc["groups"][0]["rules"][0].update(UNKNOWN)
    assert gm.errors(gm.ours("provisioning-alerting"), broken_doc)
    assert gm.errors(gm.sdk("expr"), {**rule["data"][1]["model"], **UNKNOWN})
    api = gm.contact_points_to_api(doc["contactPoints"][0])[0]
    assert gm.errors(gm.ours("contact-settings"), {**api["settings"], **UNKNOWN}, "telegram")
    assert gm.errors(
        gm.sdk("alerting"), {**gm.policy_to_api(doc["policies"][0]), **UNKNOWN}, "NotificationPolicy"
    )
    assert gm.errors(
        gm.ours("provisioning-datasources"), {**rendered["prod"].provisioning("datasources"), **UNKNOWN}
    )


def test_the_readme_lists_the_declared_rules() -> None:
    """roles/grafana/README.md's alert table is derived from files/alert_rules.yml."""
    text = README.read_text()
    assert text == readme_with_table(text), (
        "the README's alert table is behind: python -m tests.grafana.rules"
    )
