"""The daemon's data models, in their public shape (the real ones are frozen pydantic models)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class Venue(str, Enum):  # noqa: UP042 - as the daemon's (str() differs from StrEnum's)
    BINANCE = "BINANCE"
    BYBIT = "BYBIT"
    HYPERLIQUID = "HYPERLIQUID"


class Side(str, Enum):  # noqa: UP042
    LONG = "LONG"
    SHORT = "SHORT"


@dataclass(frozen=True)
class OpenInterest:
    timestamp: datetime
    symbol: str
    venue: Venue
    open_interest: float
    open_interest_value: float


@dataclass(frozen=True)
class FundingRate:
    timestamp: datetime
    symbol: str
    venue: Venue
    funding_rate: float
    next_funding_time: datetime | None = None
    predicted_rate: float | None = None


@dataclass(frozen=True)
class Liquidation:
    timestamp: datetime
    symbol: str
    venue: Venue
    side: Side
    quantity: float
    price: float
    value: float
