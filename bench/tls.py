"""ILP over TLS against plain HTTP (issue 14): the collector's MetricsClient sending the same R-shaped
rows to the same QuestDB directly over http (the baseline, same run) and through nginx over https, as
the questdb role deploys it on a host (tests/support/tls_proxy.py: Debian's nginx, a certificate of a
throwaway CA that the collector verifies). Runs alternate; medians and their ratio are reported."""

from __future__ import annotations

import gc
from pathlib import Path

from bench.common import BenchQuestDB, Progress, Result, fmt_rate, median, say
from bench.ingest import count_rows, run_client, truncate
from bench.workload import windows
from collector.models import MetricModel
from tests.support.tls_proxy import CertificateAuthority, TlsProxy


def bench_tls(server: BenchQuestDB, rows: int, repeats: int, workdir: Path) -> list[Result]:
    say(f"tls: {rows:,} rows x {repeats} runs over http and over https (nginx)")
    ca = CertificateAuthority.create("tradewatch bench CA")
    ca_file = ca.write(workdir / "bench-ca.pem")
    samples: list[list[MetricModel]] = list(windows(rows, "bench-host"))
    seconds: dict[str, list[float]] = {"http": [], "https": []}
    problems = []
    with TlsProxy(workdir / "tls-nginx", ca, server.http_port) as proxy:
        transports = {
            "http": None,
            "https": {"transport": "https", "addr": proxy.addr, "tls_ca": str(ca_file)},
        }
        gc.collect()
        gc.freeze()
        try:
            with Progress("tls runs", repeats * 2, "runs") as bar:
                for _ in range(repeats):
                    for name, questdb in transports.items():
                        truncate(server)
                        seconds[name].append(run_client(server, samples, workdir, questdb=questdb))
                        landed = count_rows(server)
                        if landed != rows:
                            problems.append(f"{name}: {landed} of {rows} rows in QuestDB")
                        bar.advance()
        finally:
            gc.unfreeze()
    plain, tls = rows / median(seconds["http"]), rows / median(seconds["https"])
    return [
        Result(
            "TLS", "MetricsClient over http (baseline, same run)", fmt_rate(plain), note="; ".join(problems)
        ),
        Result(
            "TLS",
            "MetricsClient over https (nginx in front of QuestDB)",
            f"{fmt_rate(tls)} ({tls / plain:.2f}x of http)",
            met=False if problems else None,
        ),
    ]
