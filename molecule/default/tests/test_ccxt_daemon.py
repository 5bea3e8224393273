"""The CCXT daemon (the stand-in unit, every venue unreachable) feeding the collector service through the
status channel of its hook: the production path, with the daemon holding no QuestDB credentials."""

from __future__ import annotations

from typing import Any

from stackinfra import Report, main_pid, secrets_of, wait_until

DAEMON = "ccxt-standin"
CHANNEL = "/var/lib/tradewatch-status"
VENUES = ["binance", "bybit", "hyperliquid"]


def test_the_daemon_runs_as_its_own_user_in_the_channels_group(host: Any) -> None:
    service = host.service(DAEMON)
    assert service.is_enabled and service.is_running
    assert host.user("ccxt").groups.count("tradewatch-status") == 1
    channel = host.file(CHANNEL)
    owner = (channel.user, channel.group, channel.mode)
    assert owner == ("tradewatch-collector", "tradewatch-status", 0o2770)
    hook = host.file("/etc/tradewatch/daemon-hook.yml")
    assert (hook.user, hook.group, hook.mode) == ("root", "tradewatch-status", 0o640)


def test_the_daemons_process_holds_no_questdb_credential(host: Any, settings: dict[str, Any]) -> None:
    pid = main_pid(host, DAEMON)
    environment = host.run(f"tr '\\0' '\\n' < /proc/{pid}/environ").stdout
    hook = host.file("/etc/tradewatch/daemon-hook.yml").content_string
    secrets = secrets_of(settings)
    assert not [s for s in secrets if s in environment or s in hook]
    # and it cannot read the collector's credentials
    assert host.run("runuser -u ccxt -- cat /etc/tradewatch-collector/credentials.env").rc != 0


def test_every_venue_reports_disconnected_with_its_failed_requests(host: Any, questdb: Any) -> None:
    instance = host.check_output("hostname")
    query = (
        "SELECT exchange, connected, request_count, error_count, disconnected_at IS NOT NULL "
        f"FROM exchange_status WHERE host = '{instance}' LATEST ON timestamp PARTITION BY exchange "
        "ORDER BY exchange"
    )

    def every_venue_asked() -> list[list[Any]]:
        rows = questdb.rows(query)
        return rows if len(rows) == 3 and all(row[2] for row in rows) else []

    rows = wait_until(every_venue_asked, 60)
    Report.add(f"exchange_status of the CCXT daemon on {instance}: {rows}")
    assert [r[0] for r in rows] == VENUES
    for exchange, connected, requests, errors, disconnected in rows:
        assert (connected, disconnected) == (False, True), exchange
        assert errors == requests > 0, exchange


def test_the_daemon_is_running_and_its_status_arrives_within_seconds(host: Any, questdb: Any) -> None:
    instance = host.check_output("hostname")
    query = (
        "SELECT running, error_count, datediff('s', timestamp, now()) FROM daemon_metrics "
        f"WHERE host = '{instance}' LATEST ON timestamp PARTITION BY host"
    )
    rows = questdb.poll_rows(query)
    assert rows and rows[0][0] is True and rows[0][1] > 0, rows
    assert rows[0][2] <= 10, f"the latest daemon row is {rows[0][2]} s old"
    waiting = host.run(f"find {CHANNEL} -name '*.json' | wc -l").stdout.strip()
    assert int(waiting) < 10, f"{waiting} documents wait in the channel: the collector does not drain it"
