"""The poll loop: every interval, poll each source, run the collectors, hand the rows to the sink."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from collector.collectors.base import CollectContext, Collected, Collector
from collector.models import Env, MetricModel, ValidationContext
from collector.sink.selfmetrics import CollectorMetrics
from collector.sources.base import Snapshot, StatusSource
from collector.sources.status import StatusError

log = logging.getLogger("collector.poller")
MAX_LOGGED_ERRORS = 5
MAX_DRAIN = 1000  # documents read from one source in one tick (a source's backlog after a restart)


class Sink(Protocol):
    def add_many(self, samples: Iterable[MetricModel]) -> int: ...


class Poller:
    def __init__(
        self,
        sources: Sequence[StatusSource],
        collectors: Sequence[Collector],
        sink: Sink,
        *,
        env: Env,
        host: str,
        validation: Callable[[], ValidationContext],
        metrics: CollectorMetrics,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = list(sources)
        self.collectors = list(collectors)
        self.sink = sink
        self.env: Env = env
        self.host = host
        self._validation = validation
        self.metrics = metrics
        self._monotonic = monotonic
        self._last_seen: dict[str, datetime] = {}
        self._keys_seen: set[tuple[str, str, str]] = set()

    @property
    def exhausted(self) -> bool:
        return all(source.exhausted for source in self.sources)

    def poll_once(self) -> int:
        """Poll every source once (and again while it has a backlog, up to MAX_DRAIN documents);
        return the number of rows handed to the sink."""
        added = 0
        for source in self.sources:
            for _ in range(MAX_DRAIN):
                if source.exhausted:
                    break
                added += self._poll_source(source)
                if not getattr(source, "backlog", 0):
                    break
        return added

    def _poll_source(self, source: StatusSource) -> int:
        try:
            result = source.poll()
        except StatusError as err:
            self.metrics.polls.labels(source.name, "invalid").inc()
            log.warning("invalid status document", extra={"source": source.name, "error": str(err)})
            return 0
        except Exception:
            self.metrics.polls.labels(source.name, "error").inc()
            log.exception("status source failed", extra={"source": source.name})
            return 0
        if result is None:
            return 0
        if isinstance(result, Snapshot):
            if self._last_seen.get(source.name) == result.status.timestamp:
                self.metrics.polls.labels(source.name, "unchanged").inc()
                source.commit()
                return 0  # the same document again: its rows are already spooled
            self._meta(source.name, result.status.meta)
            outcome = "ok"
        else:
            outcome = "unreachable"
            log.warning("daemon status unavailable", extra={"source": source.name, "error": result.error})
        ctx = CollectContext(self._validation(), self.env, self.host)
        collected = Collected()
        for collector in self.collectors:
            try:
                collected.extend(collector.collect(result, ctx))
            except Exception:
                log.exception("collector failed", extra={"source": source.name, "table": collector.table})
        self._report(source.name, collected)
        added = self.sink.add_many(collected.samples)
        source.commit()
        if isinstance(result, Snapshot):
            self._last_seen[source.name] = result.status.timestamp
        self.metrics.polls.labels(source.name, outcome).inc()
        return added

    def _meta(self, source: str, meta: dict[str, object]) -> None:
        """What the hook in the daemon's process reports of itself: drops and its status' keys."""
        dropped = meta.get("dropped_before")
        if type(dropped) is int and dropped > 0:
            self.metrics.status_dropped.labels(source).inc(dropped)
            log.warning(
                "the daemon's hook dropped status documents", extra={"source": source, "dropped": dropped}
            )
        for kind in ("missing", "unknown"):
            counts = meta.get(f"{kind}_keys")
            if not isinstance(counts, dict):
                continue
            for key in counts:
                if (source, kind, key) not in self._keys_seen:
                    self._keys_seen.add((source, kind, key))
                    self.metrics.status_keys.labels(source, kind, str(key)).inc()
                    log.warning(
                        f"the daemon's status has {'no' if kind == 'missing' else 'an unknown'} key",
                        extra={"source": source, "key": key},
                    )

    def _report(self, source: str, collected: Collected) -> None:
        if not collected.errors:
            return
        for error in collected.errors:
            self.metrics.invalid_samples.labels(error.table, error.field).inc()
        log.warning(
            "invalid status entries skipped",
            extra={
                "source": source,
                "invalid": len(collected.errors),
                "errors": [str(e) for e in collected.errors[:MAX_LOGGED_ERRORS]],
            },
        )

    def run(
        self,
        stop: threading.Event,
        interval: float,
        *,
        on_tick: Callable[[], None] | None = None,
        exit_when_exhausted: bool = False,
    ) -> None:
        """Poll on a monotonic schedule until ``stop`` is set; missed intervals are skipped."""
        due = self._monotonic()
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:  # never let one bad poll end the loop
                log.exception("poll failed")
            if on_tick is not None:
                on_tick()
            if exit_when_exhausted and self.exhausted:
                log.info("all sources exhausted")
                return
            due += interval
            now = self._monotonic()
            if due < now:
                due = now
            stop.wait(due - now)
