"""Wiring: configuration in, a running collector out (sources → collectors → MetricsClient)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from types import FrameType

import prometheus_client
from prometheus_client import CollectorRegistry

from collector import __version__
from collector.collectors import DaemonCollector, ExchangeCollector, PipelineCollector, TradingCollector
from collector.collectors.base import Collector
from collector.collectors.probe import LatencyProber
from collector.config import (
    SIMULATED_EXCHANGES,
    FileSourceConfig,
    HttpSourceConfig,
    MonitoringConfig,
    QueueSourceConfig,
    SimulateSourceConfig,
)
from collector.models import ValidationContext, utc_now
from collector.service.logs import setup_logging
from collector.service.poller import Poller
from collector.service.selfreport import SelfReporter
from collector.service.systemd import Notifier
from collector.sink.client import MetricsClient
from collector.sink.selfmetrics import CollectorMetrics
from collector.sources.base import StatusSource
from collector.sources.queue import QueueSource
from collector.sources.remote import FileStatusSource, HttpStatusSource
from collector.sources.simulate import Fault, SimulatedDaemon, SimulateSource

log = logging.getLogger("collector.service")


def build_sources(config: MonitoringConfig, *, clock: Callable[[], datetime] = utc_now) -> list[StatusSource]:
    sources: list[StatusSource] = []
    for spec in config.sources:
        if isinstance(spec, HttpSourceConfig):
            sources.append(
                HttpStatusSource(
                    spec.url,
                    name=spec.name,
                    timeout=spec.timeout_seconds,
                    pid_file=spec.pid_file,
                    clock=clock,
                )
            )
        elif isinstance(spec, FileSourceConfig):
            sources.append(
                FileStatusSource(
                    spec.path,
                    name=spec.name,
                    stale_after=spec.stale_after_seconds,
                    pid_file=spec.pid_file,
                    clock=clock,
                )
            )
        elif isinstance(spec, QueueSourceConfig):
            sources.append(
                QueueSource(spec.path, name=spec.name, stale_after=spec.stale_after_seconds, clock=clock)
            )
        elif isinstance(spec, SimulateSourceConfig):
            sources.append(simulate_source(spec, config, clock=clock))
    return sources


def simulate_source(
    spec: SimulateSourceConfig, config: MonitoringConfig, *, clock: Callable[[], datetime] = utc_now
) -> SimulateSource:
    daemon = SimulatedDaemon(
        seed=spec.seed,
        exchanges=spec.exchanges or config.exchanges or SIMULATED_EXCHANGES,
        data_types=spec.data_types or config.data_types,
        symbols_per_exchange=spec.symbols_per_exchange,
        strategies=spec.strategies,
        faults=[Fault.from_config(f) for f in spec.faults],
        start=spec.start,
        tick_seconds=spec.tick_seconds,
        host=spec.host,
        clock=clock,
    )
    return SimulateSource(daemon, name=spec.name, ticks=spec.ticks, state_file=spec.state_file, clock=clock)


def build_collectors(prober: LatencyProber | None = None) -> list[Collector]:
    return [DaemonCollector(), ExchangeCollector(prober), PipelineCollector(), TradingCollector()]


def validation_factory(
    config: MonitoringConfig, clock: Callable[[], datetime] = utc_now
) -> Callable[[], ValidationContext]:
    context = ValidationContext(
        clock=clock,
        max_skew_seconds=config.max_clock_skew_seconds,
        exchanges=frozenset(config.exchanges) if config.exchanges is not None else None,
        data_types=frozenset(config.data_types),
    )
    return lambda: context


class CollectorApp:
    """A configured collector: its MetricsClient, sources, collectors, probes and poll loop."""

    def __init__(
        self,
        config: MonitoringConfig,
        sources: Sequence[StatusSource],
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self.sources = list(sources)
        self.metrics = CollectorMetrics(registry)
        self.client = MetricsClient(config, metrics=self.metrics)
        self.prober = LatencyProber(config.probes)
        self.poller = Poller(
            self.sources,
            build_collectors(self.prober),
            self.client,
            env=config.env,
            host=config.host,
            validation=validation_factory(config, clock),
            metrics=self.metrics,
        )
        self.reporter = SelfReporter(
            self.metrics,
            self.client,
            env=config.env,
            host=config.host,
            interval=config.self_metrics_interval_seconds,
            clock=clock,
        )
        self.stop_event = threading.Event()

    def run(self, on_tick: Callable[[], None] | None = None) -> None:
        """Poll until stop_event is set (or every source is exhausted, if configured)."""
        self.prober.start()
        self.reporter.start()
        self.poller.run(
            self.stop_event,
            self.config.poll_interval_seconds,
            on_tick=on_tick,
            exit_when_exhausted=self.config.service.exit_when_sources_exhausted,
        )

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop polling and probing, close the sources, write a last collector_metrics row, flush;
        True if nothing is left spooled."""
        self.stop_event.set()
        self.prober.stop()
        for source in self.sources:
            try:
                source.close()
            except Exception:
                log.exception("closing a source failed", extra={"source": source.name})
        self.reporter.stop()
        wait = self.config.service.shutdown_timeout_seconds if timeout is None else timeout
        return self.client.close(wait)


def start_metrics_endpoint(config: MonitoringConfig, registry: CollectorRegistry) -> Callable[[], None]:
    """Serve /metrics (Prometheus text format); return a function that stops the server."""
    if not config.metrics.enabled:
        return lambda: None
    host, _, port = config.metrics.listen.rpartition(":")
    server, thread = prometheus_client.start_http_server(int(port), addr=host.strip("[]"), registry=registry)
    log.info("metrics endpoint listening", extra={"listen": config.metrics.listen})

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop


def run_service(config: MonitoringConfig, notifier: Notifier | None = None) -> int:
    """The systemd service: run until SIGTERM/SIGINT, then flush and exit 0."""
    setup_logging(config.logging.level, config.logging.format)
    prometheus_client.disable_created_metrics()
    registry = CollectorRegistry()
    app = CollectorApp(config, build_sources(config), registry=registry)
    notifier = notifier or Notifier()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal received, stopping", extra={"signal": signal.Signals(signum).name})
        app.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop_endpoint = start_metrics_endpoint(config, registry)

    def on_tick() -> None:
        if app.client.sender_alive:  # no watchdog ping if the sender thread died
            notifier.watchdog()

    notifier.ready()
    log.info(
        "collector started",
        extra={
            "version": __version__,
            "env": config.env,
            "host": config.host,
            "sources": [s.name for s in app.sources],
            "questdb": config.questdb.addr,
            "spool": str(config.spool.dir),
        },
    )
    try:
        app.run(on_tick)
    finally:
        notifier.stopping()
        delivered = app.shutdown()
        stop_endpoint()
        log.info("collector stopped", extra={"everything_delivered": delivered})
    return 0
