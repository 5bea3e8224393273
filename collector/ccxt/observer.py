"""Watch a ccxt_pipeline ``DaemonRunner`` from inside its process, without changing its code.

What is relied on (collector/README.md, "Monitor your CCXT pipeline", lists it for operators):

- ``runner.get_status()`` (public): the flat status dict (collector.ccxt.flat);
- ``runner._orchestrator`` (set by ``start()``, None after ``stop()``) and its public ``fetchers`` dict
  (venue -> fetcher), whose public async ``connect()``, ``fetch_open_interest(symbol)`` and
  ``fetch_funding_rate(symbol)`` are wrapped on the instance: each call records its venue, symbol,
  outcome and latency;
- ``runner._liquidation_manager`` (set by ``start()``) and its public ``callback``, wrapped to count
  liquidations per venue and symbol; its ``_streams`` and each stream's public ``venue`` and private
  ``_ws`` (the open websocket, if any) are read on every poll for the stream's state;
- ``runner._symbols`` for the liquidation series.

The runner's class is swapped for a subclass whose ``__setattr__`` wraps a new orchestrator or stream
manager the moment ``start()`` assigns it, so the first fetch (inside ``start()``) is observed too; this
also covers a stop and a later start. Where the class cannot be swapped, the poll wraps what it finds.
A missing attribute (another version of the daemon) is a warning, logged once, never an error: the
status then lacks what it would have given. No wrapper lets an error of its own reach the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from collector.ccxt.ledger import Connect, Ledger, Message, Request
from collector.models import utc_now

log = logging.getLogger("collector.ccxt")
FETCHES = {"fetch_open_interest": "oi", "fetch_funding_rate": "funding"}
_MARK = "__tradewatch_observer__"
_MISSING = object()


def venue_name(value: Any) -> str:
    """A venue as the status names it: the daemon's name (enum value or string) in lower case."""
    return str(getattr(value, "value", value)).lower()


def _is_open(ws: Any) -> bool:
    """Whether a websocket connection object is open (websockets' new ``state`` or legacy ``open``)."""
    if ws is None:
        return False
    state = getattr(ws, "state", None)
    if state is not None:
        return getattr(state, "name", str(state)).upper() == "OPEN"
    return bool(getattr(ws, "open", False))


class DaemonObserver:
    """Records what the runner's exchanges do into a :class:`Ledger`; ``poll()`` samples the streams."""

    def __init__(self, runner: Any, ledger: Ledger, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.runner = runner
        self.ledger = ledger
        self._clock = clock
        self._wrapped: dict[int, Any] = {}  # id -> object whose methods we replaced (kept alive)
        self._replaced: list[tuple[Any, str, Any]] = []  # (object, attribute, its own value or _MISSING)
        self._streams_ws: dict[str, int] = {}
        self._warned: set[str] = set()
        self._original_class: type | None = None  # set when this observer swapped the class
        self._watching = False  # assignments are seen as they happen (class swapped)
        self._swap_class()
        self.wrap_current()

    # --- installation ----------------------------------------------------------------------------
    def _swap_class(self) -> None:
        cls: type[Any] = type(self.runner)
        existing = getattr(cls, _MARK, None)
        if existing is not None:  # attached before: take over
            existing[0] = self
            self._watching = True
            return
        holder: list[DaemonObserver] = [self]
        set_attribute = cast(Callable[[Any, str, Any], None], cls.__setattr__)  # the class's own

        def __setattr__(obj: Any, name: str, value: Any) -> None:
            set_attribute(obj, name, value)
            if value is not None and name in ("_orchestrator", "_liquidation_manager"):
                holder[0].wrap_current()

        namespace = {"__setattr__": __setattr__, _MARK: holder, "__module__": cls.__module__}
        try:
            self.runner.__class__ = type(cls.__name__, (cls,), namespace)
        except TypeError as err:
            self.warn_once("class", f"cannot watch {cls.__name__} assignments ({err}); polling for them")
            return
        self._original_class = cls
        self._watching = True

    def close(self) -> None:
        """Put the runner back as it was: its class, and the fetchers' and manager's own methods."""
        if self._original_class is not None:
            with contextlib.suppress(TypeError):
                self.runner.__class__ = self._original_class
        for obj, name, own in reversed(self._replaced):
            with contextlib.suppress(AttributeError, TypeError):
                if own is _MISSING:
                    delattr(obj, name)
                else:
                    setattr(obj, name, own)
        self._replaced.clear()
        self._wrapped.clear()

    def _replace(self, obj: Any, name: str, value: Any) -> None:
        """Set ``obj.name`` to our wrapper, remembering what ``close()`` must put back."""
        self._replaced.append((obj, name, getattr(obj, "__dict__", {}).get(name, _MISSING)))
        setattr(obj, name, value)

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("ccxt daemon: %s", message)

    # --- wrapping --------------------------------------------------------------------------------
    def wrap_current(self) -> None:
        """Wrap the runner's current orchestrator and stream manager (each once)."""
        orchestrator = self._attr(self.runner, "_orchestrator")
        if orchestrator is not None:
            fetchers = self._attr(orchestrator, "fetchers")
            if isinstance(fetchers, dict):
                for key, fetcher in list(fetchers.items()):
                    self._wrap_fetcher(venue_name(getattr(fetcher, "venue_name", key)), fetcher)
        manager = self._attr(self.runner, "_liquidation_manager")
        if manager is not None and id(manager) not in self._wrapped:
            self._wrap_callback(manager)
            self._wrapped[id(manager)] = manager

    def _attr(self, obj: Any, name: str) -> Any:
        if not hasattr(obj, name):
            self.warn_once(
                name, f"{type(obj).__name__} has no attribute {name!r}; its part of the status is missing"
            )
            return None
        return getattr(obj, name)

    def _wrap_fetcher(self, venue: str, fetcher: Any) -> None:
        if id(fetcher) in self._wrapped:
            return
        self._wrapped[id(fetcher)] = fetcher
        for method, data_type in FETCHES.items():
            original = getattr(fetcher, method, None)
            if original is None:
                self.warn_once(method, f"the {venue} fetcher has no {method}(); no {data_type} series for it")
                continue
            self._replace(fetcher, method, self._timed(original, venue, data_type))
        connect = getattr(fetcher, "connect", None)
        if connect is not None:
            self._replace(fetcher, "connect", self._connect(connect, venue))

    def _timed(self, original: Callable[..., Any], venue: str, data_type: str) -> Callable[..., Any]:
        observe, clock = self.ledger.observe, self._clock

        async def wrapper(symbol: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                result = await original(symbol, *args, **kwargs)
            except asyncio.CancelledError:
                raise
            except BaseException:
                _record(
                    observe, Request, venue, str(symbol), data_type, False, time.perf_counter() - start, clock
                )
                raise
            _record(observe, Request, venue, str(symbol), data_type, True, time.perf_counter() - start, clock)
            return result

        setattr(wrapper, _MARK, True)
        return wrapper

    def _connect(self, original: Callable[..., Any], venue: str) -> Callable[..., Any]:
        observe, clock = self.ledger.observe, self._clock

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await original(*args, **kwargs)
            except asyncio.CancelledError:
                raise
            except BaseException:
                _record(observe, Connect, venue, False, clock)
                raise
            _record(observe, Connect, venue, True, clock)
            return result

        setattr(wrapper, _MARK, True)
        return wrapper

    def _wrap_callback(self, owner: Any) -> None:
        original = getattr(owner, "callback", None)
        if original is None or getattr(original, _MARK, False):
            if original is None:
                self.warn_once(
                    "callback", "the liquidation stream manager has no callback; no liquidation counts"
                )
            return
        observe, clock = self.ledger.observe, self._clock

        def callback(liquidation: Any, *args: Any, **kwargs: Any) -> Any:
            try:  # noqa: SIM105 - a plain try costs the daemon's callback less than suppress()
                observe(Message(venue_name(liquidation.venue), str(liquidation.symbol), clock()))
            except Exception:  # a liquidation of another shape: count nothing, never fail the daemon
                pass
            return original(liquidation, *args, **kwargs)

        setattr(callback, _MARK, True)
        self._replace(owner, "callback", callback)
        for stream in getattr(owner, "_streams", None) or ():  # attached after start(): the streams too
            self._wrap_callback(stream)

    # --- per poll --------------------------------------------------------------------------------
    def poll(self, now: datetime) -> None:
        """Wrap what start() created (when the class swap was not possible) and sample the streams."""
        if not self._watching:
            self.wrap_current()
        manager = getattr(self.runner, "_liquidation_manager", None)
        if manager is None:
            return
        streams = getattr(manager, "_streams", None)
        if streams is None:
            self.warn_once("_streams", "the liquidation stream manager has no _streams; no stream state")
            return
        for stream in list(streams):
            venue = venue_name(getattr(stream, "venue", "unknown"))
            ws = getattr(stream, "_ws", None)
            is_open = _is_open(ws)
            new = is_open and self._streams_ws.get(venue) != id(ws)
            if is_open:
                self._streams_ws[venue] = id(ws)
            self.ledger.stream(venue, is_open, new, now)


def _record(observe: Callable[[Any], None], kind: Any, *fields: Any) -> None:
    """Append one observation; the clock is the last field (called here, after the fact)."""
    try:
        *values, clock = fields
        observe(kind(*values, clock()))
    except Exception:  # never let the bookkeeping fail the daemon's call
        pass
