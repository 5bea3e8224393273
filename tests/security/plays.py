"""Runs the project's playbooks against the controller itself (local connection) and reads the result.

The security tests use it to prove that the roles refuse default credentials before changing
anything, and that no secret reaches Ansible's output. Secrets go in through a JSON extra-vars file
(never the command line). `systemd=True` runs the playbook behind a first play that gathers the
controller's facts and records `service_mgr: systemd`, with fact gathering otherwise off: the roles'
"systemd is the init system" check then passes on a controller without systemd, and check mode goes
on through install and configuration as it would on a managed host.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.grafana.render import example_vars
from tests.molecule.test_scenarios import RECAP, fake_rt_archive, molecule_env
from tests.support.inventories import inventory_relaxed
from tests.support.paths import REPO, versions

ANSIBLE_PLAYBOOK = str(REPO / ".venv" / "bin" / "ansible-playbook")
TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.+?)\] \**$")
FAILED = re.compile(r"^(?:fatal|failed): \[(?P<host>[^\]]+)\]")
ORIGIN = re.compile(r"^Origin: (?P<path>\S+?):\d+:\d+$")

# Distinctive values that pass every preflight; a test that finds one in some output has found a leak.
SECRETS = {
    "questdb_http_password": "tw-sec-Qhttp-7f3a91",
    "questdb_pg_password": "tw-sec-Qpg-19be04",
    "questdb_pg_readonly_password": "tw-sec-Qro-55c1d2",
    "collector_questdb_password": "tw-sec-Qhttp-7f3a91",
    "backup_questdb_http_password": "tw-sec-Qhttp-7f3a91",
    "backup_repository_password": "tw-sec-Brepo-6e0d2c41",
    "grafana_admin_password": "tw-sec-Gadmin-0a9d77",
    "grafana_secret_key": "tw-sec-Gkey-4471aa90c3",
    "grafana_questdb_pg_password": "tw-sec-Qro-55c1d2",
    "grafana_smtp_password": "tw-sec-Gsmtp-88e2",
    "grafana_telegram_bot_token": "123456:tw-sec-Gtelegram-3c1f",
    "grafana_discord_webhook_url": "https://discord.example.invalid/api/webhooks/1/tw-sec-Gdiscord-a0b1",
}

QUESTDB_PASSWORDS = ["questdb_http_password", "questdb_pg_password", "questdb_pg_readonly_password"]

FACTS_PLAY = """\
- name: The controller's facts, with systemd as its init system
  hosts: all
  gather_facts: true
  tasks:
    - name: Record systemd as the service manager
      ansible.builtin.set_fact:
        service_mgr: systemd
        cacheable: true
"""


@dataclass
class PlayRun:
    returncode: int
    output: str

    @property
    def recap(self) -> dict[str, int]:
        """ok/changed/failed summed over the hosts of PLAY RECAP."""
        total = {"ok": 0, "changed": 0, "failed": 0}
        for match in RECAP.finditer(self.output):
            for key in total:
                total[key] += int(match[key])
        return total

    def failures(self) -> list[tuple[str, str, str]]:
        """(task name, origin file, the task's output) of every failed task, in order."""
        found: list[tuple[str, str, str]] = []
        task, origin, start = "", "", 0
        lines = self.output.splitlines()
        for index, line in enumerate(lines):
            if match := TASK.match(line):
                task, origin, start = match["name"], "", index
            elif match := ORIGIN.match(line):
                origin = match["path"]
            elif FAILED.match(line) and (not found or found[-1][0] != task):
                end = next(
                    (i for i in range(index, len(lines)) if TASK.match(lines[i]) or "PLAY RECAP" in lines[i]),
                    len(lines),
                )
                found.append((task, origin, "\n".join(lines[start:end])))
        return found

    def ran(self, task: str) -> bool:
        return any(m["name"] == task for m in map(TASK.match, self.output.splitlines()) if m)

    def leaked(self, secrets: dict[str, str] | None = None) -> list[str]:
        """Names of the secrets whose value appears in the output."""
        values = SECRETS if secrets is None else secrets
        return sorted(name for name, value in values.items() if value and value in self.output)


def run_playbook(
    tmp_path: Path,
    playbook: Path,
    hosts: dict[str, list[str]],
    extra_vars: dict[str, Any],
    *,
    check: bool = True,
    diff: bool = False,
    verbosity: int = 0,
    systemd: bool = False,
    inventory_files: dict[str, str] | None = None,
    timeout: int = 900,
) -> PlayRun:
    """`ansible-playbook` on the controller: `hosts` maps each (local) host to its groups;
    `inventory_files` adds files to the inventory folder (e.g. group_vars/all/main.yml)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    inventory = tmp_path / "inventory"
    inventory.mkdir(exist_ok=True)
    groups: dict[str, dict[str, Any]] = {}
    for host, member_of in hosts.items():
        for group in member_of:
            groups.setdefault(group, {"hosts": {}})["hosts"][host] = {}
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (inventory / "hosts.yml").write_text(json.dumps({"all": {"children": groups, "vars": local}}))
    for relative, text in (inventory_files or {}).items():
        (inventory / relative).parent.mkdir(parents=True, exist_ok=True)
        (inventory / relative).write_text(text)
    variables = tmp_path / "extra-vars.json"
    variables.write_text(json.dumps({"ansible_become": False, **extra_vars}))
    variables.chmod(0o600)
    env = molecule_env()
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp_path / "ansible-tmp")
    env["ANSIBLE_RETRY_FILES_ENABLED"] = "0"
    if systemd:
        wrapper = tmp_path / "with-systemd-facts.yml"
        wrapper.write_text(
            "---\n" + FACTS_PLAY + f"- name: The playbook\n  ansible.builtin.import_playbook: {playbook}\n"
        )
        playbook = wrapper
        env["ANSIBLE_GATHERING"] = "explicit"
    cmd = [ANSIBLE_PLAYBOOK, "-i", str(inventory), "-e", f"@{variables}"]
    cmd += ["--check"] if check else []
    cmd += ["--diff"] if diff else []
    cmd += ["-" + "v" * verbosity] if verbosity else []
    cmd.append(str(playbook))
    result = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return PlayRun(result.returncode, result.stdout + result.stderr)


def assert_refused(run: PlayRun, task: str, variables: list[str], role: str) -> None:
    """The run failed in exactly `task` of the role's preflight, that task's output names every one of
    `variables`, nothing changed, and no secret of SECRETS was printed."""
    failures = run.failures()
    assert run.returncode != 0, run.output
    assert [name for name, _, _ in failures] == [f"{role} : {task}"], run.output
    _, origin, text = failures[0]
    assert origin == str(REPO / "roles" / role / "tasks" / "preflight.yml"), origin
    for variable in variables:
        assert variable in text, f"{variable} not named by the failed task:\n{text}"
    assert run.recap["changed"] == 0 and run.recap["failed"] == 1, run.recap
    assert run.leaked() == [], f"secrets in the output: {run.leaked()}"


# ---- Settings that pass the preflights ------------------------------------------------------------
def questdb_vars(tmp_path: Path, env: str, **overrides: Any) -> dict[str, Any]:
    """Settings that pass the questdb preflight up to the host checks (a tiny stand-in artifact)."""
    pinned = versions()
    archive, sha256 = fake_rt_archive(tmp_path, pinned["QUESTDB_VERSION"], f"{pinned['JAVA_MAJOR']}.0.1")
    base = {k: SECRETS[k] for k in QUESTDB_PASSWORDS}
    # QuestDB on loopback only: no TLS needed in prod and staging (tests/security/test_tls_* cover TLS)
    loopback = {"questdb_http_bind_address": "127.0.0.1", "questdb_pg_bind_address": "127.0.0.1"}
    return {
        **base,
        **loopback,
        **env_vars("questdb", env),
        "questdb_archive_path": str(archive),
        "questdb_archive_sha256": sha256,
        **overrides,
    }


def grafana_vars(env: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The example environment of tests/grafana/envs (staging: prod's) with distinctive secrets."""
    base = example_vars("dev" if env == "dev" else "prod")
    secrets = {k: v for k, v in SECRETS.items() if k.startswith("grafana_") and k in base}
    if env != "dev":
        secrets["grafana_secret_key"] = SECRETS["grafana_secret_key"]
    return {**base, **secrets, **env_vars("grafana", env), **overrides}


# ---- Many hosts in one run ----------------------------------------------------------------------
# One check-mode run per role with one inventory host per case (each its own bad value as host vars
# over shared valid group vars) costs what a single case costs. Control hosts carry valid settings
# only: a check that refused a bad host must pass on one of them, so no case passes because the
# shared settings were broken anyway.
CONTROLS: dict[str, dict[str, Any]] = {"control": {}}


def env_vars(role: str, env: str) -> dict[str, Any]:
    """`<role>_env` and `<role>_env_relaxed` as the shared inventory wiring sets them for `env`."""
    return {f"{role}_env": env, f"{role}_env_relaxed": inventory_relaxed(env)}


ARGSPEC = "Validating arguments against arg spec"
LINE = re.compile(r"^(?P<status>ok|changed|skipping|fatal|failed): \[(?P<host>[^\]\s]+)(?: -> [^\]]+)?\]")
HOST_RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=(?P<failed>\d+)"
)


@dataclass(frozen=True)
class Refusal:
    """A bad host: its host vars, the variables its failure must name, and (if given) the task that must
    refuse it; without a task, any task of the role's argument validation or preflight.yml."""

    overrides: dict[str, Any]
    names: tuple[str, ...]
    task: str = ""


@dataclass
class Event:
    task: str
    status: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class HostsRun:
    returncode: int
    output: str
    events: dict[str, list[Event]]  # host -> what happened to it, in order
    recap: dict[str, tuple[int, int]]  # host -> (changed, failed)
    controls: set[str]


def parse_hosts(returncode: int, output: str, controls: set[str]) -> HostsRun:
    """Needs ANSIBLE_CALLBACK_RESULT_FORMAT=json: each result on its line."""
    events: dict[str, list[Event]] = {}
    recap: dict[str, tuple[int, int]] = {}
    task, in_recap = "", False
    for line in output.splitlines():
        if match := TASK.match(line):
            task = match["name"]
        elif line.startswith("PLAY RECAP"):
            in_recap = True
        elif in_recap and (match := HOST_RECAP.match(line)):
            recap[match["host"]] = (int(match["changed"]), int(match["failed"]))
        elif match := LINE.match(line):
            _, arrow, text = line.partition(" => ")
            result = json.loads(text) if arrow and text.startswith("{") else {}
            events.setdefault(match["host"], []).append(Event(task, match["status"], result))
    return HostsRun(returncode, output, events, recap, controls)


def task_pattern(role: str, name: str) -> str:
    """A regular expression for the header of the role's task `name`; a templated part matches anything
    (Ansible renders it with the first host's variables)."""
    return ".+".join(map(re.escape, re.split(r"\{\{.*?\}\}", f"{role} : {name}")))


def preflight_tasks(role: str) -> re.Pattern[str]:
    """Matches '<role> : <name>' of every task of the role's preflight.yml, blocks included."""
    names: list[str] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            names.append(task_pattern(role, item["name"]))
            for key in ("block", "rescue", "always"):
                walk(item.get(key, []))

    walk(yaml.safe_load((REPO / "roles" / role / "tasks" / "preflight.yml").read_text()))
    return re.compile("|".join(f"(?:{name})" for name in names))


def run_hosts(
    tmp_path: Path,
    playbook: str,
    group: str,
    settings: dict[str, Any],
    cases: dict[str, Refusal],
    controls: dict[str, dict[str, Any]] = CONTROLS,
    tags: str = "",
) -> HostsRun:
    """`playbooks/<playbook>` in check mode on the controller, every host in `group`. `tags` (a phase
    tag, under which the preflight runs too) keeps the control hosts from going through the whole role."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    hosts = {**controls, **{name: case.overrides for name, case in cases.items()}}
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        json.dumps({"all": {"vars": {**local, **settings}, "children": {group: {"hosts": hosts}}}})
    )
    inventory.chmod(0o600)
    env = molecule_env() | {
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_FORKS": str(len(hosts)),
    }
    cmd = [ANSIBLE_PLAYBOOK, "-i", str(inventory), "--check", "-e", "ansible_become=false"]
    cmd += ["--tags", tags] if tags else []
    cmd.append(str(REPO / "playbooks" / playbook))
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    return parse_hosts(result.returncode, result.stdout + result.stderr, set(controls))


def named(event: Event) -> str:
    """The failed check's own text: argument errors, the assertion, the message, the loop item (not the
    role's argument spec, which lists every variable)."""
    return json.dumps([event.result.get(key, "") for key in ("argument_errors", "assertion", "msg", "item")])


def check_refusals(run: HostsRun, role: str, cases: dict[str, Refusal], secrets: dict[str, str]) -> None:
    """Each bad host failed in one task of the role's argument validation or preflight.yml (`task` when
    given) that names every variable of its case, ran nothing after it and changed nothing; every such
    task passed on a control host and failed on none; then: no value of `secrets` in the output."""
    preflight = preflight_tasks(role)
    problems: list[str] = []
    failed_tasks: set[str] = set()
    for case, refusal in cases.items():
        events = run.events.get(case, [])
        failed = [e for e in events if e.status in ("fatal", "failed")]
        if not failed:
            problems.append(f"{case}: accepted")
            continue
        task = failed[0].task
        failed_tasks.add(task)
        if refusal.task and not re.fullmatch(task_pattern(role, refusal.task), task):
            problems.append(f"{case}: failed in {task!r}, not in {refusal.task!r}")
        if not preflight.fullmatch(task) and not task.startswith(f"{role} : {ARGSPEC}"):
            problems.append(f"{case}: failed in {task!r}, not in the argument validation or the preflight")
        if any(e.task != task for e in events[events.index(failed[0]) :]):
            problems.append(f"{case}: went on after {task!r}")
        for name in refusal.names:
            if not any(name in named(e) for e in failed):
                problems.append(f"{case}: {task!r} does not name {name}: {[e.result for e in failed]}")
        if run.recap.get(case) != (0, 1):
            problems.append(f"{case}: recap (changed, failed) = {run.recap.get(case)}")
    for task in sorted(failed_tasks):
        statuses = {h: {e.status for e in run.events.get(h, []) if e.task == task} for h in run.controls}
        if {"ok"} not in statuses.values() or any(s & {"fatal", "failed"} for s in statuses.values()):
            problems.append(f"the control hosts got {statuses} in {task!r}")
    assert problems == [], "\n".join(problems) + "\n\n" + run.output[-20000:]
    leaked = [name for name, value in secrets.items() if value and value in run.output]
    assert leaked == [], f"secrets in the output: {leaked}"


# ---- Role templates, rendered on the controller -------------------------------------------------
RENDER_PLAY = """\
- name: Render the roles' templates with distinctive secrets
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files: {vars_files}
  tasks:
    - name: Render
      ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', item.src) }}}}"
        dest: "{{{{ out }}}}/{{{{ item.name }}}}"
        mode: "0600"
      loop: {templates}
      no_log: true
"""


def render_role_templates(
    tmp_path: Path,
    templates: dict[str, str],
    roles: tuple[str, ...],
    variables: dict[str, Any],
    var_files: tuple[Path, ...] = (),
) -> tuple[Path, str]:
    """Render `templates` (output name -> path under roles/) with the defaults and vars of `roles`,
    `variables` (JSON extra vars) and `var_files` (extra-vars files, e.g. secrets tagged !unsafe);
    return the output folder and Ansible's output (at -v)."""
    vars_files = [str(REPO / "roles" / r / p / "main.yml") for r in roles for p in ("defaults", "vars")]
    items = [{"name": name, "src": str(REPO / "roles" / src)} for name, src in templates.items()]
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        "---\n" + RENDER_PLAY.format(vars_files=json.dumps(vars_files), templates=json.dumps(items))
    )
    out = tmp_path / "out"
    out.mkdir()
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({**variables, "out": str(out)}))
    env = molecule_env() | {"ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-e", f"@{extra}", "-v"]
    for path in var_files:
        cmd += ["-e", f"@{path}"]
    cmd += ["-e", f"ansible_python_interpreter={sys.executable}", str(playbook)]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return out, output


def unsafe_vars_file(path: Path, values: dict[str, str]) -> Path:
    """A YAML vars file holding `values` as an operator's vault does: each tagged !unsafe, so Ansible
    never evaluates a '{{' inside a secret."""
    lines = [f"{name}: !unsafe {json.dumps(value, ensure_ascii=False)}" for name, value in values.items()]
    path.write_text("---\n" + "\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path
