"""Active latency probes: time an HTTP GET of a configured URL per exchange, in the background."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collector.config import ProbeConfig

log = logging.getLogger("collector.probe")


def http_probe(url: str, timeout: float) -> float:
    """Milliseconds for a GET of ``url`` until the status line and headers arrive; raises on failure."""
    started = time.perf_counter()
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "tradewatch-collector"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read(1)
    return (time.perf_counter() - started) * 1000.0


@dataclass(frozen=True)
class ProbeResult:
    latency_ms: float
    at: float  # monotonic


class LatencyProber:
    """Probes every configured URL at its interval on one thread; ``latest()`` never blocks."""

    def __init__(
        self,
        probes: Sequence[ProbeConfig],
        *,
        probe: Callable[[str, float], float] = http_probe,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probes = list(probes)
        self._probe = probe
        self._monotonic = monotonic
        self._results: dict[str, ProbeResult] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def latest(self, exchange: str) -> float | None:
        """The last latency of ``exchange`` if measured within three of its intervals."""
        with self._lock:
            result = self._results.get(exchange)
        config = next((p for p in self.probes if p.exchange == exchange), None)
        if result is None or config is None:
            return None
        if self._monotonic() - result.at > 3 * config.interval_seconds:
            return None
        return result.latency_ms

    def probe_once(self, config: ProbeConfig) -> None:
        try:
            latency = self._probe(config.url, config.timeout_seconds)
        except (OSError, urllib.error.URLError, ValueError) as err:
            log.warning(
                "latency probe failed",
                extra={"exchange": config.exchange, "url": config.url, "error": str(err)},
            )
            with self._lock:
                self._results.pop(config.exchange, None)
            return
        with self._lock:
            self._results[config.exchange] = ProbeResult(latency, self._monotonic())

    def start(self) -> None:
        if self.probes and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tradewatch-probe", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        due = {p.exchange: 0.0 for p in self.probes}
        while not self._stop.is_set():
            now = self._monotonic()
            for config in self.probes:
                if now >= due[config.exchange]:
                    self.probe_once(config)
                    due[config.exchange] = now + config.interval_seconds
            self._stop.wait(max(0.05, min(due.values()) - self._monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
