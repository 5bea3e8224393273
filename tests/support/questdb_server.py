"""A real QuestDB server for tests, run from the project's offline `rt` artifact.

The server gets its own temporary root and free loopback ports, the same JVM flags the role puts
in the systemd unit (roles/questdb/vars/main.yml), HTTP basic auth and a read-only PG user.
"""

from __future__ import annotations

import base64
import json
import random
import re
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.tradewatch.stack.plugins.filter.secrets import java_properties_value

from tests.support.paths import REPO, cache_dir, questdb_archive


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port nothing listens on, below the range the kernel draws outgoing connections' ports from.

    A port found by binding to 0 comes from that range, so a client's connection could take it before
    the server binds it (QuestDB then exits 55: "could not bind socket", seen in CI)."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12_000), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port below {low} on 127.0.0.1")


def _role_file(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "roles" / "questdb" / name / "main.yml").read_text()))


def jvm_flags(java_major: str) -> list[str]:
    return list(_role_file("vars")["_questdb_jvm_flags_by_java"][java_major])


def storage_settings() -> dict[str, str]:
    """The role's server.conf keys that shape storage (``cairo.*``: page sizes, Parquet compression,
    WAL by default) at the role's defaults, so every test server stores data as a deploy does."""
    defaults = _role_file("defaults")
    out = {}
    for key, template in _role_file("vars")["_questdb_server_conf"].items():
        if key.startswith("cairo."):
            var = re.fullmatch(r"\{\{ (questdb_\w+) \}\}", str(template))
            value = defaults[var.group(1)] if var else template
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def unpack_runtime(archive: Path) -> Path:
    """Unpack the artifact once per content into the cache; return the runtime folder."""
    digest_file = archive.with_name(archive.name + ".sha256")
    digest = digest_file.read_text().split()[0][:16]
    target = cache_dir() / "runtime" / digest
    if not (target / "bin" / "java").exists():
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="tar")
        (inner,) = list(tmp.iterdir())
        shutil.rmtree(target, ignore_errors=True)
        inner.rename(target)
        shutil.rmtree(tmp)
    return target


def java_major(runtime: Path) -> str:
    for line in (runtime / "release").read_text().splitlines():
        if line.startswith("JAVA_VERSION="):
            return line.split("=", 1)[1].strip('"').split(".")[0]
    raise RuntimeError(f"no JAVA_VERSION in {runtime / 'release'}")


@dataclass
class QuestDBServer:
    """One QuestDB process. Use start()/stop(); exec() runs SQL over the REST API."""

    root: Path
    http_port: int = field(default_factory=free_port)
    pg_port: int = field(default_factory=free_port)
    min_port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    http_user: str = "tw_admin"
    http_password: str = "tw-admin-test-password"
    pg_user: str = "tw_admin"
    pg_password: str = "tw-admin-test-password"
    ro_user: str = "tw_reader"
    ro_password: str = "tw-reader-test-password"
    heap: str = "-Xmx1g"
    # Lines appended to the generated server.conf (a later key wins), e.g. a role-rendered excerpt.
    extra_conf: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def ilp_conf(self) -> str:
        """A questdb client configuration string for ILP over HTTP."""
        return (
            f"http::addr={self.host}:{self.http_port};username={self.http_user};"
            f"password={self.http_password};"
        )

    def pg_dsn(self, readonly: bool = False) -> str:
        user, password = (self.ro_user, self.ro_password) if readonly else (self.pg_user, self.pg_password)
        return f"host={self.host} port={self.pg_port} user={user} password={password} dbname=qdb"

    def write_config(self) -> None:
        conf = self.root / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        settings = {
            "http.net.bind.to": f"{self.host}:{self.http_port}",
            "http.min.net.bind.to": f"{self.host}:{self.min_port}",
            "http.min.worker.count": "1",
            "http.health.check.authentication.required": "false",
            "pg.net.bind.to": f"{self.host}:{self.pg_port}",
            "line.tcp.enabled": "false",
            "line.udp.enabled": "false",
            "telemetry.enabled": "false",
            "metrics.enabled": "true",
            "http.user": self.http_user,
            "http.password": self.http_password,
            "pg.user": self.pg_user,
            "pg.password": self.pg_password,
            "pg.readonly.user.enabled": "true",
            "pg.readonly.user": self.ro_user,
            "pg.readonly.password": self.ro_password,
            "shared.worker.count": "2",
            **storage_settings(),
        }
        # Escaped as the questdb role writes server.conf (one filter for both).
        lines = (f"{k}={java_properties_value(v)}\n" for k, v in settings.items())
        (conf / "server.conf").write_text("".join(lines) + self.extra_conf, encoding="ascii")

    def start(self, timeout: float = 60.0) -> None:
        runtime = unpack_runtime(questdb_archive())
        self.write_config()
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        cmd = [str(runtime / "bin" / "java"), self.heap, f"-Djava.io.tmpdir={self.root / 'tmp'}"]
        cmd += [f"-Dquestdb.libs.dir={runtime / 'lib'}"]
        cmd += jvm_flags(java_major(runtime))
        if (runtime / "lib" / "questdb.jar").exists():
            cmd += ["-p", str(runtime / "lib" / "questdb.jar")]
        cmd += ["-m", "io.questdb/io.questdb.ServerMain", "-d", str(self.root)]
        log = (self.root / "stdout.log").open("ab")
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.wait_healthy(timeout)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.min_port}/status", timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"QuestDB exited with {self.process.returncode}; see {self.root}/stdout.log"
                )
            if self.healthy():
                return
            time.sleep(0.2)
        raise TimeoutError(f"QuestDB not healthy after {timeout}s; see {self.root}/stdout.log")

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL with kill=True) and wait for the process to end."""
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def exec(self, sql: str, timeout: float = 30.0) -> dict[str, Any]:
        """Run one SQL statement through /exec; raise RuntimeError with QuestDB's message on error."""
        url = f"{self.http_url}/exec?" + urllib.parse.urlencode({"query": sql})
        token = base64.b64encode(f"{self.http_user}:{self.http_password}".encode()).decode()
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return dict(json.load(resp))
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            raise RuntimeError(f"QuestDB rejected {sql!r}: {err.code} {body}") from err

    def rows(self, sql: str) -> list[list[Any]]:
        return list(self.exec(sql).get("dataset", []))

    def wait_wal(self, table: str, timeout: float = 30.0) -> None:
        """Wait until every WAL transaction of `table` is applied (writerTxn == sequencerTxn)."""
        deadline = time.monotonic() + timeout
        sql = f"SELECT writerTxn, sequencerTxn FROM wal_tables() WHERE name = '{table}'"
        while time.monotonic() < deadline:
            result = self.rows(sql)
            if result and result[0][0] == result[0][1]:
                return
            time.sleep(0.05)
        raise TimeoutError(f"WAL of {table} not applied after {timeout}s")
