"""What crossed the scenario's network (tcpdump on its bridge since prepare, so converge, the
collection and the backups and restore over SFTP since are in it): neither QuestDB's password, nor the
backup repository's, nor an ILP line nor a table name in clear text. The same search finds the first,
an ILP line and a table name in a capture of one request sent in clear (http:// against the TLS port,
the deliberately insecure setting), so it is a search that can fail."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import QUESTDB_HOST
from stackinfra import TABLES, Report

EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"))
CAPTURE = EPHEMERAL / "two-hosts.pcap"


def clear_text(capture: Path, settings: dict[str, Any]) -> dict[str, bool]:
    """What of the secrets and data a capture holds readably: the password as itself or as HTTP basic
    auth sends it (base64 of user:password), an ILP line, each table's name."""
    data = capture.read_bytes()
    password = settings["questdb_http_password"]
    basic = base64.b64encode(f"{settings['questdb_http_user']}:{password}".encode())
    found = {"password": password.encode() in data or basic in data}
    found["repository password"] = settings["backup_repository_password"].encode() in data
    found["ILP line"] = b"daemon_metrics,host=" in data or b"exchange_status,exchange=" in data
    found |= {f"table {t}": t.encode() in data for t in TABLES}
    return found


def stop(pid_file: Path) -> None:
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGINT)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def test_nothing_crosses_the_network_in_clear_text(db_settings: dict[str, Any]) -> None:
    stop(CAPTURE.with_name(CAPTURE.name + ".pid"))
    size = CAPTURE.stat().st_size
    found = clear_text(CAPTURE, db_settings)
    Report.add(f"capture of converge, collection, backups and restore: {size} bytes; in clear: {found}")
    assert size > 100_000, "the capture holds too little to prove anything"
    assert not any(found.values()), found


def test_the_same_search_finds_a_request_sent_in_clear(
    collector_host: Any, collector_settings: dict[str, Any], db_settings: dict[str, Any]
) -> None:
    bridge = subprocess.run(
        ["podman", "network", "inspect", "tw-two-hosts", "--format", "{{.NetworkInterface}}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    capture = EPHEMERAL / "two-hosts-clear.pcap"
    tcpdump = subprocess.Popen(["tcpdump", "-i", bridge, "-U", "-s", "0", "-w", str(capture), "not arp"],
                               stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(1.0)
    user, password = collector_settings["collector_questdb_user"], db_settings["questdb_http_password"]
    line = "daemon_metrics,host=clear-text-probe,env=dev running=t"
    port = db_settings["questdb_https_port"]
    collector_host.run(
        f"curl -s -m 5 -u '{user}:{password}' --data-binary '{line}' http://{QUESTDB_HOST}:{port}/write"
    )
    time.sleep(1.0)
    tcpdump.send_signal(signal.SIGINT)
    tcpdump.wait(10)
    found = clear_text(capture, db_settings)
    assert found["password"] and found["ILP line"] and found["table daemon_metrics"], found
