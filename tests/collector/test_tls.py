"""The collector over TLS, against a real QuestDB behind nginx (as the questdb role sets it up): a
server whose certificate another CA signed is refused - nothing is sent, the failure is counted and
named, the rows stay spooled - and once the right CA is configured every row arrives, once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.models import DaemonMetrics
from collector.sink.client import MetricsClient
from tests.collector.conftest import counts, make_config, wait_for_count
from tests.support.questdb_server import QuestDBServer
from tests.support.tls_proxy import CertificateAuthority, TlsProxy

ROWS = 200


@pytest.fixture(scope="module")
def tls(
    qdb: QuestDBServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TlsProxy, Path, Path]]:
    """nginx with a certificate of CA 'right' in front of the session's QuestDB; both CAs' files."""
    root = tmp_path_factory.mktemp("tls")
    right, wrong = CertificateAuthority.create("right"), CertificateAuthority.create("wrong")
    with TlsProxy(root / "nginx", right, qdb.http_port) as proxy:
        yield proxy, right.write(root / "right.pem"), wrong.write(root / "wrong.pem")


def https_config(tmp_path: Path, qdb: QuestDBServer, proxy: TlsProxy, ca: Path, host: str) -> object:
    return make_config(
        tmp_path,
        qdb,
        host=host,
        questdb={"transport": "https", "addr": proxy.addr, "tls_ca": str(ca), "request_timeout_ms": 2000},
    )


def test_a_server_another_ca_signed_is_refused_then_everything_arrives_once(
    tmp_path: Path,
    qdb: QuestDBServer,
    tls: tuple[TlsProxy, Path, Path],
    host: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, right, wrong = tls
    now = datetime.now(UTC)
    samples = [
        DaemonMetrics(
            timestamp=now - timedelta(milliseconds=i), host=host, env="dev", running=True, fetch_count=i
        )
        for i in range(ROWS)
    ]
    with caplog.at_level(logging.WARNING, logger="collector"):
        refused = MetricsClient(https_config(tmp_path, qdb, proxy, wrong, host))  # type: ignore[arg-type]
        assert refused.add_many(samples) == ROWS
        assert refused.flush(3) is False
        tls_failures = refused.metrics.registry.get_sample_value(
            "tradewatch_collector_flush_retries_total", {"kind": "tls"}
        )
        refused.close(1)
    assert tls_failures and tls_failures >= 1
    (warning,) = [r for r in caplog.records if "TLS certificate is not trusted" in r.getMessage()]
    assert "UnknownIssuer" in warning.error  # type: ignore[attr-defined]  # the client's own reason
    assert counts(qdb, host)["daemon_metrics"] == (0, 0)  # nothing crossed

    with MetricsClient(https_config(tmp_path, qdb, proxy, right, host)) as trusted:  # type: ignore[arg-type]
        assert trusted.spool.pending_rows() == ROWS  # the same spool: the refused rows waited
        assert trusted.flush(30)
    wait_for_count(qdb, f"SELECT count() FROM daemon_metrics WHERE host = '{host}'", ROWS)
    assert counts(qdb, host)["daemon_metrics"] == (ROWS, ROWS)  # 0 lost, 0 duplicated
