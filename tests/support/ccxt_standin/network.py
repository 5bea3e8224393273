"""The simulated network between the stand-in daemon and its venues.

By default nothing is reachable, as on our machines: connects fail, and the fetchers then raise the
real fetchers' "not connected" error; the liquidation streams fail to connect and back off. A venue
made reachable answers after ``latency_s`` and its stream delivers ``liquidations_per_s`` per symbol.
The environment variable TRADEWATCH_STANDIN_REACHABLE ("binance:0.05:2,bybit") sets the reachable
venues of a process (venue[:latency seconds[:liquidations per second]]).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass
class Reachable:
    latency_s: float = 0.02
    liquidations_per_s: float = 0.0


@dataclass
class Network:
    venues: dict[str, Reachable] = field(default_factory=dict)

    def reachable(self, venue: str) -> Reachable | None:
        return self.venues.get(venue.lower())

    @classmethod
    def from_env(cls, text: str | None) -> Network:
        venues: dict[str, Reachable] = {}
        for item in (text or "").split(","):
            if not item.strip():
                continue
            name, *numbers = item.strip().split(":")
            values = [float(n) for n in numbers]
            venues[name.lower()] = Reachable(*values)
        return cls(venues)


NETWORK = Network.from_env(os.environ.get("TRADEWATCH_STANDIN_REACHABLE"))
