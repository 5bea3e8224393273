"""What the hook has seen of the daemon's exchanges, turned into the status document's sections.

The wrappers in the daemon's event loop only append an :class:`Observation` (one deque append, thread
safe, no lock); the hook's own thread folds them into per-venue and per-series state once per poll
and builds the ``exchanges`` mapping and the ``pipeline`` list (collector/README.md, status document).

- exchanges.<venue>: ``connected`` is the outcome of the venue's latest request (or of its latest
  connect when no request was made yet; a venue whose liquidation stream is open counts as connected
  until a request says otherwise), ``latency_ms`` the latest successful request's, ``request_count``
  and ``error_count`` cumulative, ``reconnect_count`` the connects after the first (REST and stream),
  ``last_message_at`` the last time the daemon heard from the venue (a successful request, a
  liquidation, or its stream open at the poll), ``disconnected_at`` when the current failure began.
- pipeline: one entry per (venue, symbol, data type) that had requests in the interval (records: the
  successful ones, errors: the failed ones, latency: their mean, a gap while the latest failed, its
  duration since the last success), and one per liquidation series of a venue with a stream on every
  poll (records: liquidations in the interval; a gap while the stream is closed).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collector.models import MAX_LATENCY_MS

LIQUIDATION = "liquidation"


@dataclass(frozen=True)
class Request:
    venue: str
    symbol: str
    data_type: str
    ok: bool
    latency_s: float
    at: datetime


@dataclass(frozen=True)
class Connect:
    venue: str
    ok: bool
    at: datetime


@dataclass(frozen=True)
class Message:
    venue: str
    symbol: str
    at: datetime


Observation = Request | Connect | Message


@dataclass
class _Venue:
    requests: int = 0
    errors: int = 0
    connects: int = 0
    stream_connects: int = 0
    healthy: bool | None = None  # the latest request's outcome (None: no request yet)
    connect_ok: bool | None = None
    latency_ms: float | None = None
    last_heard: datetime | None = None
    failing_since: datetime | None = None
    stream_open: bool = False
    stream_seen: bool = False


@dataclass
class _Series:
    records: int = 0
    errors: int = 0
    latency_sum_s: float = 0.0
    calls: int = 0
    latest_ok: bool = True
    last_ok: datetime | None = None
    first_failure: datetime | None = None


@dataclass
class Ledger:
    """Observations in, status sections out (``snapshot``)."""

    pending: deque[Observation] = field(default_factory=deque)
    venues: dict[str, _Venue] = field(default_factory=dict)
    _series: dict[tuple[str, str, str], _Series] = field(default_factory=dict)
    _active: set[tuple[str, str, str]] = field(default_factory=set)
    _liquidations: dict[tuple[str, str], int] = field(default_factory=dict)

    # --- from the daemon's event loop (any thread): one append each ------------------------------
    def observe(self, observation: Observation) -> None:
        self.pending.append(observation)

    # --- from the hook's thread -----------------------------------------------------------------
    def stream(self, venue: str, is_open: bool, new_connection: bool, now: datetime) -> None:
        """The state of ``venue``'s liquidation stream at this poll."""
        state = self.venues.setdefault(venue, _Venue())
        state.stream_seen = True
        state.stream_open = is_open
        if new_connection:
            state.stream_connects += 1
        if is_open:
            state.last_heard = now

    def snapshot(
        self, now: datetime, symbols: list[str]
    ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        """Fold the pending observations; the sections of one status document at ``now``."""
        while self.pending:
            self._fold(self.pending.popleft())
        exchanges = {venue: self._exchange(state, now) for venue, state in sorted(self.venues.items())}
        pipeline = [self._series_entry(key, now) for key in sorted(self._active)]
        self._active.clear()
        for venue, state in sorted(self.venues.items()):
            if state.stream_seen:
                heard = sorted({s for v, s in self._liquidations if v == venue} - set(symbols))
                pipeline += [self._liquidation_entry(venue, s, state, now) for s in [*symbols, *heard]]
        self._liquidations.clear()
        return exchanges, pipeline

    def _fold(self, item: Observation) -> None:
        state = self.venues.setdefault(item.venue, _Venue())
        if isinstance(item, Connect):
            state.connects += 1
            state.connect_ok = item.ok
            if not item.ok and state.failing_since is None and state.healthy is not False:
                state.failing_since = item.at
            return
        if isinstance(item, Message):
            key = (item.venue, item.symbol)
            self._liquidations[key] = self._liquidations.get(key, 0) + 1
            state.last_heard = item.at if state.last_heard is None else max(state.last_heard, item.at)
            return
        state.requests += 1
        series = self._series.setdefault((item.venue, item.symbol, item.data_type), _Series())
        series.calls += 1
        series.latency_sum_s += item.latency_s
        series.latest_ok = item.ok
        self._active.add((item.venue, item.symbol, item.data_type))
        if item.ok:
            state.healthy = True
            state.failing_since = None
            state.latency_ms = min(item.latency_s * 1000.0, MAX_LATENCY_MS)
            state.last_heard = item.at if state.last_heard is None else max(state.last_heard, item.at)
            series.records += 1
            series.last_ok = item.at
            series.first_failure = None
        else:
            state.errors += 1
            if state.healthy is not False and state.failing_since is None:
                state.failing_since = item.at
            state.healthy = False
            series.errors += 1
            if series.first_failure is None:
                series.first_failure = item.at

    @staticmethod
    def _exchange(state: _Venue, now: datetime) -> dict[str, Any]:
        if state.healthy is not None:
            connected = state.healthy
        elif state.connect_ok is not None:
            connected = state.connect_ok or state.stream_open
        else:
            connected = state.stream_open
        return {
            "connected": connected,
            "latency_ms": state.latency_ms,
            "request_count": state.requests,
            "error_count": state.errors,
            "reconnect_count": max(0, state.connects - 1) + max(0, state.stream_connects - 1),
            "last_message_at": state.last_heard.isoformat() if state.last_heard else None,
            "disconnected_at": None if connected else (state.failing_since or now).isoformat(),
        }

    def _series_entry(self, key: tuple[str, str, str], now: datetime) -> dict[str, Any]:
        series = self._series[key]
        venue, symbol, data_type = key
        gap = not series.latest_ok
        since = series.last_ok or series.first_failure or now
        entry = {
            "exchange": venue,
            "symbol": symbol,
            "data_type": data_type,
            "records_count": series.records,
            "bytes_written": 0,
            "latency_ms": series.latency_sum_s * 1000.0 / series.calls,
            "error_count": series.errors,
            "gap_detected": gap,
            "gap_duration_seconds": max(0.0, (now - since).total_seconds()) if gap else None,
        }
        series.records = series.errors = series.calls = 0
        series.latency_sum_s = 0.0
        return entry

    def _liquidation_entry(self, venue: str, symbol: str, state: _Venue, now: datetime) -> dict[str, Any]:
        series = self._series.setdefault((venue, symbol, LIQUIDATION), _Series())
        if state.stream_open:
            series.last_ok = now
        gap = not state.stream_open
        since = series.last_ok or series.first_failure
        if gap and since is None:
            series.first_failure = since = now
        return {
            "exchange": venue,
            "symbol": symbol,
            "data_type": LIQUIDATION,
            "records_count": self._liquidations.get((venue, symbol), 0),
            "bytes_written": 0,
            "gap_detected": gap,
            "gap_duration_seconds": (now - since).total_seconds() if gap and since else None,
        }
