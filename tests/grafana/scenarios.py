"""Fault and healthy scenarios of the alert rules, each in its own time slice of the test database.

Scenario k is evaluated at T_k = BASE + k * 2 days. Its data covers [T_k - span, T_k]; as no rule looks
back more than 24 hours, slices never see each other. Every fault is scripted relative to T_k. The
"healthy" scenarios sit just on the safe side of the thresholds of the example environment (prod).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tests.grafana import notify
from tests.grafana.datagen import D, Fault, H, M, S, Simulation
from tests.grafana.notify import NotifyTime
from tests.grafana.rules import declared_rules

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
    jitter: int = 0


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("baseline", None, False),
    # daemon down: no healthy report for 30 s
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
        "daemon-down/silent-15s", "daemon-down", False, lambda t: [Fault("silent", "daemon-2", t - 15 * S)]
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


SCENARIOS = (
    *SCENARIOS,
    # backup stale: no successful backup of a component for 26 hours (nightly runs at 03:15 UTC; the
    # scenarios are evaluated at 12:00 UTC, so the last night is 8 h 45 min before)
    Scenario(
        "backup-stale/failing-since-last-night",
        "backup-stale",
        True,
        lambda t: [Fault("backup_failing", "grafana", t - 10 * H)],
        span=12 * H,  # stale since 6 h 45 min: the check 12 minutes before the fault does not apply
        step=10 * M,
    ),
    Scenario(
        "backup-stale/rows-stopped-since-last-night",
        "backup-stale",
        True,
        lambda t: [Fault("backup_silent", "questdb", t - 10 * H)],
        span=12 * H,
        step=10 * M,
    ),
    Scenario(
        "backup-stale/a-failed-night-then-a-good-one",
        "backup-stale",
        False,
        lambda t: [Fault("backup_failing", "questdb", t - 34 * H, t - 30 * H)],
    ),
)


# A healthy day: rows stamped up to 2 s late, the daemons and collectors restarting (their counters start
# again). tests/grafana/test_notify_time.py evaluates every rule through it, at every evaluation of its
# group, also while a collector or QuestDB restart holds rows back (HEALTHY_DAY_DELIVERY_GAPS).
HEALTHY_DAY = Scenario(
    "healthy-day",
    None,
    False,
    lambda t: [
        Fault("collector_restart", "daemon-1", t - 20 * H),
        Fault("restart", "daemon-2", t - 15 * H),
        Fault("collector_restart", "daemon-2", t - 6 * H),
        Fault("restart", "daemon-1", t - 3 * H),
    ],
    span=D,
    jitter=2 * S,
)
# (start before the evaluation time of the day, seconds during which rows stamped since the start have not
# reached QuestDB, seconds QuestDB answers no query): a collector restart, QuestDB restarting (then the
# collector's backoff, at most 5 s, before the spooled rows arrive), the other collector restarting.
HEALTHY_DAY_DELIVERY_GAPS: tuple[tuple[int, int, int], ...] = (
    (20 * H, 15, 0),
    (9 * H, 20, 15),
    (6 * H, 15, 0),
)

# The fault each rule with a detection delay or a pending period is checked with at the bound of its
# time to notify: kind, target and the fault's value from the rule's threshold.
BOUND_FAULTS: dict[str, tuple[str, str, Callable[[float], float]]] = {
    "daemon-down": ("silent", "daemon-2", lambda threshold: 0.0),
    "error-rate": ("errors", "binance", lambda threshold: threshold + 0.1),
    "exchange-latency": ("latency", "bybit", lambda threshold: threshold * 1.2),
    "pipeline-latency": ("pipeline_latency", "dydx", lambda threshold: threshold * 1.2),
    "exchange-stream-stale": ("stream_stale", "binance", lambda threshold: 0.0),
    "daemon-memory": ("memory", "daemon-2", lambda threshold: threshold * 1.1),
    "collector-backlog": ("backlog", "daemon-1", lambda threshold: 0.0),
}


def _bound_scenario(time: NotifyTime, threshold: float) -> Scenario:
    """The rule's fault began its detection delay and pending period (plus one report step) before the
    evaluation: the rule fires then, so it notifies within its computed time to notify."""
    kind, target, value = BOUND_FAULTS[time.rule]
    began = int(time.detect + time.pending) * S + 10 * S
    return Scenario(
        f"{time.rule}/at-its-notify-bound",
        time.rule,
        True,
        lambda t: [Fault(kind, target, t - began, value=value(threshold))],
    )


_RECORDS = declared_rules()
SCENARIOS = (
    *SCENARIOS,
    *(
        _bound_scenario(time, float(record["threshold"]))
        for record, time in zip(_RECORDS, notify.from_defaults(_RECORDS), strict=True)
        if time.rule in BOUND_FAULTS
    ),
    HEALTHY_DAY,
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
                jitter=scenario.jitter,
            )
        )
    return sims
