"""Testinfra helpers shared by the stack scenarios (molecule/default, molecule/two-hosts).

A scenario's tests/conftest.py puts this folder on sys.path and imports from here. Everything that
runs inside an instance is a stdlib-only script of this folder (probe.py, stackprobe.py) executed
with `python3 -c` through testinfra's podman backend.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

SHARED = Path(__file__).resolve().parent
REPO = SHARED.parents[1]
PROBE_SOURCE = (SHARED / "probe.py").read_text()
STACKPROBE_SOURCE = (SHARED / "stackprobe.py").read_text()
# The tables the questdb role creates (generated from the collector's models: collector/schema.py).
SCHEMA = yaml.safe_load((REPO / "roles" / "questdb" / "files" / "schema.yml").read_text())
TABLES = [table["name"] for table in SCHEMA]
# The tables the collector writes (the others: backup_runs, by the backup program).
COLLECTOR_TABLES = [table["name"] for table in SCHEMA if table["writer"] == "collector"]
SECRET_KEYS = (
    "questdb_http_password",
    "questdb_pg_password",
    "questdb_pg_readonly_password",
    "collector_questdb_password",
    "grafana_admin_password",
    "grafana_secret_key",
)
PREFIX_COLLECTOR = "tradewatch_collector"  # of the collector's /metrics (collector/sink/selfmetrics.py)
# Thresholds of `systemd-analyze security` (lower is better) per unit.
EXPOSURE_LIMITS = {"questdb": 5.0, "tradewatch-collector": 3.0}


# ---- Settings -----------------------------------------------------------------------------------
def plain(values: dict[str, Any] | None) -> dict[str, Any]:
    """Variables without Jinja (templated ones are resolved by Ansible, not needed here)."""
    return {k: v for k, v in (values or {}).items() if not (isinstance(v, str) and "{{" in v)}


def load_settings(scenario: Path, host: str | None = None) -> dict[str, Any]:
    """Role defaults (questdb, collector, grafana), overridden by the scenario's group_vars/all/ (the
    shared inventory wiring, then the scenario's own main.yml, in Ansible's order) and
    host_vars/<host>.yml: the plain values the stack was converged with."""
    merged: dict[str, Any] = {}
    for role in ("questdb", "collector", "grafana"):
        merged |= plain(yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()))
    paths = sorted((scenario / "group_vars" / "all").glob("*.yml"))
    if host is not None:
        paths.append(scenario / "host_vars" / f"{host}.yml")
    for path in paths:
        if path.is_file():
            merged |= plain(yaml.safe_load(path.read_text()))
    return merged


def connect_host(address: str) -> str:
    """The address a client on the same host uses for a listener bound to `address`."""
    return "127.0.0.1" if address == "0.0.0.0" else address


# ---- Running the instance-side scripts ----------------------------------------------------------
def run_json(host: Any, source: str, request: dict[str, Any]) -> dict[str, Any]:
    result = host.run(f"python3 -c {shlex.quote(source)} {shlex.quote(json.dumps(request))}")
    assert result.rc == 0, f"probe {request.get('kind') or request.get('action')} failed: {result.stderr}"
    return dict(json.loads(result.stdout))


class QuestDBProbe:
    """Talks to QuestDB from inside `host` (the QuestDB host itself, or a client host) via probe.py.

    `address` is where QuestDB's listeners are reached from `host` (default: the configured bind
    address, loopback for a wildcard)."""

    def __init__(self, host: Any, settings: dict[str, Any], address: str | None = None) -> None:
        self.host = host
        self.settings = settings
        http = address or connect_host(settings["questdb_http_bind_address"])
        minimal = address or connect_host(settings["questdb_http_min_bind_address"])
        self.pg_host = address or connect_host(settings["questdb_pg_bind_address"])
        self.http_base = f"http://{http}:{settings['questdb_http_port']}"
        self.min_base = f"http://{minimal}:{settings['questdb_http_min_port']}"

    def http(self, url: str, *, user: str | None = None, password: str | None = None, **kwargs: Any) -> dict:
        request = {"kind": "http", "url": url, "user": user, "password": password}
        request |= {"method": kwargs.get("method", "GET"), "data": kwargs.get("data")}
        return run_json(self.host, PROBE_SOURCE, request)

    def admin_http(self, url: str, **kwargs: Any) -> dict[str, Any]:
        user, password = self.settings["questdb_http_user"], self.settings["questdb_http_password"]
        return self.http(url, user=user, password=password, **kwargs)

    def sql(self, query: str) -> dict[str, Any]:
        answer = self.admin_http(f"{self.http_base}/exec?{urlencode({'query': query})}")
        assert answer["status"] == 200, f"{query!r} -> {answer}"
        return dict(json.loads(answer["body"]))

    def rows(self, query: str) -> list[list[Any]]:
        return list(self.sql(query).get("dataset", []))

    def pg(self, user: str, password: str, query: str | None = None) -> dict[str, Any]:
        request = {"kind": "pg", "host": self.pg_host, "port": self.settings["questdb_pg_port"]}
        request |= {"user": user, "password": password, "query": query}
        return run_json(self.host, PROBE_SOURCE, request)

    def poll_rows(self, query: str, timeout: float = 30.0) -> list[list[Any]]:
        """Rows of `query` once there are any (WAL tables apply writes asynchronously)."""
        return list(wait_until(lambda: self.rows(query), timeout) or [])

    def stack(self, action: str, **args: Any) -> dict[str, Any]:
        """stackprobe.py on this host (must be the QuestDB host: it reads server.conf)."""
        request = {"action": action, "url": self.http_base, "tables": TABLES}
        request |= {"conf": f"{self.settings['questdb_data_dir']}/conf/server.conf", **args}
        return run_json(self.host, STACKPROBE_SOURCE, request)


def now_us(host: Any) -> int:
    """The instance's clock (shared with every podman instance on the machine) in µs."""
    return int(host.check_output("date +%s%6N"))


def start_time_us(host: Any, unit: str) -> int:
    """When systemd started the unit's current main process (µs since the epoch)."""
    cmd = f"systemctl show {shlex.quote(unit)} --property=ExecMainStartTimestamp --timestamp=us+utc --value"
    stamp = host.check_output(cmd)  # "Sat 2026-11-28 16:04:37.605239 UTC"
    moment = datetime.strptime(stamp.split(" ", 1)[1], "%Y-%m-%d %H:%M:%S.%f %Z").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def restart_and_wait_for_rows(
    collector_host: Any, questdb: QuestDBProbe, unit: str, timeout: float = 10.0
) -> dict[str, Any]:
    """Restart the collector, then poll QuestDB (on its own host) until every table it writes has a row
    timestamped after the new process started; seconds are counted from that start."""
    issued = now_us(collector_host)
    collector_host.check_output(f"systemctl restart {shlex.quote(unit)}")
    started = start_time_us(collector_host, unit)
    answer = questdb.stack("wait_rows", since_us=started, timeout=timeout + 5, tables=COLLECTOR_TABLES)
    answer["stop_and_start_s"] = round((started - issued) / 1e6, 2)
    return answer


# ---- Prometheus text ----------------------------------------------------------------------------
SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_prometheus(text: str) -> list[Sample]:
    samples = []
    for line in text.splitlines():
        if line and not line.startswith("#") and (match := SAMPLE.match(line)):
            labels = dict(LABEL.findall(match["labels"] or ""))
            samples.append(Sample(match["name"], labels, float(match["value"])))
    return samples


def metric_sum(samples: Iterable[Sample], name: str, **labels: str) -> float:
    return sum(
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def collector_metrics(host: Any, settings: dict[str, Any]) -> list[Sample]:
    address = connect_host(settings["collector_metrics_address"])
    url = f"http://{address}:{settings['collector_metrics_port']}/metrics"
    answer = run_json(host, PROBE_SOURCE, {"kind": "http", "url": url})
    assert answer["status"] == 200, answer
    return parse_prometheus(answer["body"])


# ---- Sockets ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Listener:
    proto: str
    address: str
    port: int
    user: str  # owner of the socket (`ss -e`; root in an instance may not read other users' fds)


SOCKET_UID = re.compile(r"\buid:(?P<uid>\d+)")


def listeners(host: Any) -> list[Listener]:
    """Every listening TCP socket and bound UDP socket in the instance, with its owner."""
    names = {}
    for line in host.check_output("getent passwd").splitlines():
        fields = line.split(":")
        names[fields[2]] = fields[0]
    found = []
    for proto, flag in (("tcp", "t"), ("udp", "u")):
        for line in host.check_output(f"ss -H -{flag}lne").splitlines():
            address, _, port = line.split()[3].rpartition(":")
            uid = match["uid"] if (match := SOCKET_UID.search(line)) else "0"
            found.append(Listener(proto, address.strip("[]").split("%")[0], int(port), names.get(uid, uid)))
    return found


def main_pid(host: Any, unit: str) -> int:
    return int(host.check_output(f"systemctl show --property=MainPID --value {shlex.quote(unit)}"))


def pids_of_unit(host: Any, unit: str) -> set[int]:
    """The main process and every other process of the unit's cgroup (v1 or v2 layout)."""
    out = host.run(f"systemctl show --property=ControlGroup --value {shlex.quote(unit)}").stdout.strip()
    pids = host.run(
        f"cat /sys/fs/cgroup/systemd{out}/cgroup.procs /sys/fs/cgroup{out}/cgroup.procs 2>/dev/null"
    )
    return {int(p) for p in pids.stdout.split()} | {main_pid(host, unit)}


def process_owners(host: Any, unit: str) -> set[str]:
    """The users the unit's processes run as."""
    return {host.check_output(f"ps -o user= -p {pid}").strip() for pid in pids_of_unit(host, unit)}


# ---- Files and secrets --------------------------------------------------------------------------
def secrets_of(settings: dict[str, Any]) -> list[str]:
    """The plain (non-empty, untemplated) secret values the stack was converged with."""
    return [str(settings[k]) for k in SECRET_KEYS if settings.get(k)]


def world_readable_files_containing(host: Any, secrets: Iterable[str], roots: Iterable[str]) -> list[str]:
    """Regular files readable by others under `roots` (one file system each) holding any secret."""
    secrets = [s for s in secrets if s]
    assert secrets, "no secret to look for"
    patterns = " ".join(f"-e {shlex.quote(s)}" for s in secrets)
    cmd = (
        f"find {' '.join(shlex.quote(r) for r in roots)} -xdev -type f -perm -o+r -print0 2>/dev/null"
        f" | xargs -0 -r grep -l -F {patterns} 2>/dev/null || true"
    )
    return [line for line in host.check_output(cmd).splitlines() if line]


# ---- Grafana provisioning (package source none: files only, no server) ---------------------------
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
GRAFANA_DATASOURCE = f"{GRAFANA_PROVISIONING}/datasources/tradewatch.yml"
GRAFANA_DASHBOARDS_DIR = "/var/lib/grafana/dashboards/tradewatch"
GRAFANA_DASHBOARDS = ("health", "pipeline", "exchange", "trading", "selfhealth", "runbooks")


def grafana_datasource(host: Any) -> dict[str, Any]:
    """The provisioned QuestDB datasource, '$$' (Grafana's escape of '$' in provisioning) undone."""
    (source,) = yaml.safe_load(host.file(GRAFANA_DATASOURCE).content_string)["datasources"]
    unescape = {k: v.replace("$$", "$") if isinstance(v, str) else v for k, v in source["jsonData"].items()}
    password = source["secureJsonData"]["password"].replace("$$", "$")
    return {**source, "jsonData": unescape, "password": password}


def grafana_dashboard_datasource_uids(host: Any) -> dict[str, set[str]]:
    """Per provisioned dashboard file: the datasource uids its panels and variables query."""
    found: dict[str, set[str]] = {}
    for name in host.check_output(f"ls {GRAFANA_DASHBOARDS_DIR}").split():
        dashboard = json.loads(host.file(f"{GRAFANA_DASHBOARDS_DIR}/{name}").content_string)
        found[name] = set(_datasource_uids(dashboard))
    return found


def _datasource_uids(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict) and isinstance(source.get("uid"), str):
            yield source["uid"]
        for value in node.values():
            yield from _datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            yield from _datasource_uids(value)


def grafana_reads_questdb(host: Any) -> dict[str, Any]:
    """What Grafana's datasource would see, from the Grafana host: a PG login with the provisioned
    address and credentials, the row count of every table, and the answer to a write attempt."""
    source = grafana_datasource(host)
    data = source["jsonData"]
    request = {"kind": "pg", "host": data["server"], "port": data["port"], "user": data["username"]}
    request["password"] = source["password"]
    counts: dict[str, int] = {}
    for table in TABLES:
        answer = run_json(host, PROBE_SOURCE, {**request, "query": f"SELECT count() FROM {table}"})
        assert answer["auth"] and not answer["error"], f"{table}: {answer}"
        counts[table] = int(answer["rows"][0][0])
    write = run_json(host, PROBE_SOURCE, {**request, "query": "CREATE TABLE grafana_write_probe (x INT)"})
    return {"datasource": source, "counts": counts, "write_error": write["error"]}


def check_grafana_provisioning(host: Any, settings: dict[str, Any], questdb_address: str) -> str:
    """The six dashboards query the provisioned datasource only; that datasource reaches QuestDB at
    `questdb_address` as the read-only user, sees rows in every table and cannot write. Returns a
    line for the report."""
    uid = f"questdb-{settings['tradewatch_env']}"
    dashboards = grafana_dashboard_datasource_uids(host)
    assert sorted(dashboards) == sorted(f"{name}.json" for name in GRAFANA_DASHBOARDS)
    for name, uids in dashboards.items():
        assert uids <= {uid, "-- Grafana --"}, f"{name} queries {uids}"
    assert sum(uid in uids for uids in dashboards.values()) >= 5, dashboards
    seen = grafana_reads_questdb(host)
    source = seen["datasource"]
    assert (source["uid"], source["jsonData"]["server"]) == (uid, questdb_address)
    assert source["jsonData"]["username"] == settings["questdb_pg_readonly_user"]
    assert min(seen["counts"].values()) > 0, seen["counts"]
    assert seen["write_error"] and "permission denied" in seen["write_error"].lower(), seen["write_error"]
    return f"grafana datasource {uid} at {questdb_address}: rows seen {seen['counts']}, write refused"


# ---- systemd-analyze security -------------------------------------------------------------------
EXPOSURE = re.compile(r"Overall exposure level for (?P<unit>\S+): (?P<score>\d+(?:\.\d+)?) (?P<verdict>\S+)")


@dataclass(frozen=True)
class Exposure:
    unit: str
    score: float
    verdict: str
    # (setting, description, exposure) of every check that adds to the score, worst first.
    findings: list[tuple[str, str, float]]

    def summary(self) -> str:
        worst = ", ".join(f"{name} {value:.1f}" for name, _, value in self.findings[:12])
        return f"{self.unit}: {self.score:.1f} {self.verdict} (largest contributions: {worst or 'none'})"


def security_exposure(host: Any, unit: str) -> Exposure:
    result = host.run(f"systemd-analyze security --no-pager {shlex.quote(unit)}")
    assert result.rc == 0, result.stderr
    match = EXPOSURE.search(result.stdout)
    assert match, result.stdout
    findings = []
    for line in result.stdout.splitlines():
        # "✗ PrivateNetwork=   Service has access to the host's network   0.5"
        fields = line.split()
        if fields and fields[0] == "✗" and re.fullmatch(r"\d+\.\d+", fields[-1]):
            findings.append((fields[1].rstrip("="), " ".join(fields[2:-1]), float(fields[-1])))
    findings.sort(key=lambda item: -item[2])
    return Exposure(match["unit"], float(match["score"]), match["verdict"], findings)


# ---- Reporting ----------------------------------------------------------------------------------
class Report:
    """Lines a conftest prints in pytest's terminal summary (exposure scores, measured delays)."""

    lines: list[str] = []  # noqa: RUF012 - one report per pytest session, filled by the tests

    @classmethod
    def add(cls, line: str) -> None:
        cls.lines.append(line)

    @classmethod
    def write(cls, terminalreporter: Any) -> None:
        if cls.lines:
            terminalreporter.section("tradewatch stack report")
            for line in cls.lines:
                terminalreporter.write_line(line)


def wait_until(predicate: Any, timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
