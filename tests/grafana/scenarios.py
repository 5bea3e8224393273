"""Fault and healthy scenarios of the alert rules, each in its own time slice of the test database.

Scenario k is evaluated at T_k = BASE + k * 2 days. Its data covers [T_k - span, T_k]; as no rule looks
back more than 24 hours, slices never see each other. Every fault is scripted relative to T_k. The
"healthy" scenarios sit just on the safe side of the thresholds of the example environment (prod).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tests.grafana.datagen import D, Fault, H, M, S, Simulation

BASE = 1_577_880_000 * S  # 2020-01-01T12:00:00Z


@dataclass(frozen=True)
class Scenario:
    name: str
    rule: str | None  # None: the baseline, in which no rule may fire
    fires: bool
    faults: Callable[[int], list[Fault]] = field(default=lambda t: [])
    span: int = 30 * M
    step: int = 10 * S
    base_error_count: int = 0


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("baseline", None, False),
    # daemon down: no healthy report for 2 minutes
    Scenario(
        "daemon-down/silent-5m", "daemon-down", True, lambda t: [Fault("silent", "daemon-2", t - 5 * M)]
    ),
    Scenario(
        "daemon-down/not-running-4m",
        "daemon-down",
        True,
        lambda t: [Fault("not_running", "daemon-1", t - 4 * M)],
    ),
    Scenario(
        "daemon-down/nothing-for-25h",
        "daemon-down",
        True,
        lambda t: [Fault("silent", h, t - 25 * H) for h in ("daemon-1", "daemon-2")],
        span=26 * H,
        step=15 * M,
    ),
    Scenario(
        "daemon-down/silent-90s", "daemon-down", False, lambda t: [Fault("silent", "daemon-2", t - 90 * S)]
    ),
    # error rate: more than half of an exchange's requests failed in the window
    Scenario(
        "error-rate/all-requests-failing",
        "error-rate",
        True,
        lambda t: [Fault("errors", "binance", t - 10 * M, value=1.0)],
    ),
    Scenario(
        "error-rate/40-percent",
        "error-rate",
        False,
        lambda t: [Fault("errors", "binance", t - 10 * M, value=0.4)],
    ),
    Scenario(
        "error-rate/counter-reset-on-restart",
        "error-rate",
        False,
        lambda t: [Fault("restart", "daemon-1", t - 3 * M), Fault("errors", "binance", t - 3 * M, value=0.3)],
        base_error_count=5000,
    ),
    # exchange disconnected longer than 5 minutes
    Scenario(
        "exchange-disconnected/7m",
        "exchange-disconnected",
        True,
        lambda t: [Fault("disconnect", "okx", t - 7 * M)],
    ),
    Scenario(
        "exchange-disconnected/4m",
        "exchange-disconnected",
        False,
        lambda t: [Fault("disconnect", "okx", t - 4 * M)],
    ),
    # latency above 500 ms
    Scenario(
        "exchange-latency/900ms",
        "exchange-latency",
        True,
        lambda t: [Fault("latency", "bybit", t - 10 * M, value=900)],
    ),
    Scenario(
        "exchange-latency/450ms",
        "exchange-latency",
        False,
        lambda t: [Fault("latency", "bybit", t - 10 * M, value=450)],
    ),
    Scenario(
        "pipeline-latency/800ms",
        "pipeline-latency",
        True,
        lambda t: [Fault("pipeline_latency", "dydx", t - 10 * M, value=800)],
    ),
    Scenario(
        "pipeline-latency/480ms",
        "pipeline-latency",
        False,
        lambda t: [Fault("pipeline_latency", "dydx", t - 10 * M, value=480)],
    ),
    # connected but silent stream (120 s)
    Scenario(
        "exchange-stream-stale/4m",
        "exchange-stream-stale",
        True,
        lambda t: [Fault("stream_stale", "binance", t - 4 * M)],
    ),
    Scenario(
        "exchange-stream-stale/90s",
        "exchange-stream-stale",
        False,
        lambda t: [Fault("stream_stale", "binance", t - 90 * S)],
    ),
    # stale open interest (660 s) and funding (7500 s): each by its own limit
    Scenario(
        "stale-data/oi-15m", "stale-data", True, lambda t: [Fault("pipeline_stale", "okx/oi", t - 15 * M)]
    ),
    Scenario(
        "stale-data/oi-8m", "stale-data", False, lambda t: [Fault("pipeline_stale", "okx/oi", t - 8 * M)]
    ),
    Scenario(
        "stale-data/funding-90m-hourly-fetch",
        "stale-data",
        False,
        lambda t: [Fault("pipeline_stale", "okx/funding", t - 90 * M)],
        span=2 * H,
        step=M,
    ),
    # daemon memory (2048 MiB for 5 minutes)
    Scenario(
        "daemon-memory/3GiB",
        "daemon-memory",
        True,
        lambda t: [Fault("memory", "daemon-2", t - 8 * M, value=3072)],
    ),
    Scenario(
        "daemon-memory/1.5GiB",
        "daemon-memory",
        False,
        lambda t: [Fault("memory", "daemon-2", t - 8 * M, value=1536)],
    ),
    # gaps in the last 5 minutes
    Scenario(
        "pipeline-gap/2m-ago",
        "pipeline-gap",
        True,
        lambda t: [Fault("gap", "bybit/oi/ETH/USDT:USDT", t - 2 * M, value=30)],
    ),
    Scenario(
        "pipeline-gap/8m-ago",
        "pipeline-gap",
        False,
        lambda t: [Fault("gap", "bybit/oi/ETH/USDT:USDT", t - 8 * M, value=30)],
    ),
    # collector backlog (spool age 120 s)
    Scenario(
        "collector-backlog/growing",
        "collector-backlog",
        True,
        lambda t: [Fault("backlog", "daemon-2", t - 6 * M)],
    ),
    Scenario(
        "collector-backlog/steady-60s",
        "collector-backlog",
        False,
        lambda t: [Fault("spool_age", "daemon-2", t - 20 * M, value=60)],
    ),
    # dropped or rejected rows (any, within 10 minutes)
    Scenario(
        "collector-data-loss/3m-ago",
        "collector-data-loss",
        True,
        lambda t: [Fault("loss", "daemon-1", t - 3 * M, value=3)],
    ),
    Scenario(
        "collector-data-loss/15m-ago",
        "collector-data-loss",
        False,
        lambda t: [Fault("loss", "daemon-1", t - 15 * M, value=3)],
    ),
    Scenario(
        "collector-data-loss/counter-reset",
        "collector-data-loss",
        False,
        lambda t: [
            Fault("loss", "daemon-1", t - 25 * M, value=50),
            Fault("collector_restart", "daemon-1", t - 4 * M),
        ],
    ),
)


def at(index: int) -> int:
    """Evaluation time of scenario `index` (nanoseconds)."""
    return BASE + index * 2 * D


def simulations(env: str) -> list[Simulation]:
    sims = []
    for index, scenario in enumerate(SCENARIOS):
        t = at(index)
        sims.append(
            Simulation(
                env,
                t - scenario.span,
                t + 1,
                scenario.step,
                scenario.faults(t),
                base_error_count=scenario.base_error_count,
            )
        )
    return sims
