"""The files the grafana role renders, produced by running the role itself.

`render()` runs tests/grafana/render.yml (the role on localhost, package/plugin/service 'none') with an
example environment from tests/grafana/envs/ and every path pointed into a scratch root owned by the
current user. The tests then read exactly what a deploy would write.
"""

from __future__ import annotations

import getpass
import grp
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.paths import REPO
from tests.support.tls_proxy import CertificateAuthority

HERE = Path(__file__).resolve().parent
ENVS = ("prod", "dev", "local")
SECRET_VARS = (
    "grafana_admin_password",
    "grafana_secret_key",
    "grafana_questdb_pg_password",
    "grafana_smtp_password",
    "grafana_telegram_bot_token",
    "grafana_discord_webhook_url",
)


@dataclass(frozen=True)
class Rendered:
    env: str
    root: Path
    variables: dict[str, Any]

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def dashboards_dir(self) -> Path:
        return self.root / "data" / "dashboards" / "tradewatch"

    def provisioning(self, kind: str) -> dict[str, Any]:
        return dict(yaml.safe_load((self.config_dir / "provisioning" / kind / "tradewatch.yml").read_text()))

    def dashboards(self) -> dict[str, dict[str, Any]]:
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.dashboards_dir.glob("*.json"))}

    def secrets(self) -> dict[str, str]:
        return {k: str(self.variables[k]) for k in SECRET_VARS if str(self.variables.get(k, ""))}


def ansible_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_COLLECTIONS_PATH=f"{REPO / 'collections'}:{REPO / '.ansible' / 'collections'}",
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
    )
    return env


def throwaway_certificate(folder: Path) -> Path:
    """server.crt and server.key (from a throwaway CA) in `folder`, as the tls role leaves them."""
    if not (folder / "server.crt").exists():
        CertificateAuthority.create("tradewatch test CA").issue(folder)
    return folder


def scratch_settings(root: Path) -> dict[str, Any]:
    """The grafana role's settings that keep it off the system: no package, plugin or service, every
    path under `root` (a throwaway certificate beside it, as the tls role leaves one), the current
    user's account."""
    return {
        "grafana_package_source": "none",
        "grafana_questdb_plugin_source": "none",
        "grafana_manage_service": False,
        "grafana_user": getpass.getuser(),
        "grafana_group": grp.getgrgid(os.getgid()).gr_name,
        "grafana_config_dir": str(root / "etc"),
        "grafana_data_dir": str(root / "data"),
        "grafana_logs_dir": str(root / "log"),
        "grafana_tls_dir": str(throwaway_certificate(root.with_name(root.name + "-tls"))),
    }


def run_role(
    root: Path,
    extra_vars: dict[str, Any],
    check: bool = False,
    tags: str = "",
    var_files: tuple[Path, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the role on localhost into `root` with the given variables (JSON extra vars), then the
    extra-vars files `var_files` over them."""
    root.mkdir(parents=True, exist_ok=True)
    overrides = {**scratch_settings(root), "ansible_python_interpreter": sys.executable, **extra_vars}
    cmd = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        "localhost,",
        str(HERE / "render.yml"),
        "-e",
        json.dumps(overrides),
    ]
    for path in var_files:
        cmd += ["-e", f"@{path}"]
    if check:
        cmd.append("--check")
    if tags:
        cmd += ["--tags", tags]
    return subprocess.run(
        cmd, env=ansible_env(root), capture_output=True, text=True, timeout=600, check=False, cwd=REPO
    )


def example_vars(env: str) -> dict[str, Any]:
    return dict(yaml.safe_load((HERE / "envs" / f"{env}.yml").read_text()))


def render(
    env: str, root: Path, extra: dict[str, Any] | None = None, var_files: tuple[Path, ...] = ()
) -> Rendered:
    """The role run with the example variables of `env` (and `extra`, then `var_files`, over them)."""
    variables = {**example_vars(env), **(extra or {})}
    result = run_role(root, variables, var_files=var_files)
    if result.returncode != 0:
        raise RuntimeError(f"rendering the grafana role for {env} failed:\n{result.stdout}\n{result.stderr}")
    return Rendered(env=env, root=root, variables=variables)
