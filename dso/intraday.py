"""USEF operate phase, prices: as signed readings arrive, the DSO re-posts the day's later prices.

Day-ahead prices rest on the D-prognosis. Each verified reading adds to the metered flow of its
slot (Wh, + = import through the transformer); once every meter has reported a slot, the slot's
error against the prognosis is known. The DSO corrects the prognosis of every later slot of the
day by the mean error of the last ``window`` complete slots and posts, signed and under a new
version, each later slot's price where it changes: raised where its rule gives the corrected flow
a higher price than the one posted; lifted, back to the day-ahead price, once the corrected flow
is back below ``release`` of the rating. In between it holds: within a congested slot a price
only rises, as in the day-ahead loop, so the error's slot-to-slot noise is not re-posted as
prices that step down and up again, each step a round of re-plans (measured on 2030-green-high:
17 of 44 postings only lowered prices, and 775 of the 1 804 re-plans answered them; with it, 4 of
24 and 212 of 1 024; lifted at 0.95 of the rating 1 168 re-plans, at 1.0 1 460). Day-ahead prices
stay as a floor: the homes' plans already answer them, so lifting them would bring the congestion
back. The exchange applies a posting to matches after it only, and refuses any not signed by the
DSO's key or older than the version it holds. Pure: the caller delivers readings and sends the
postings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dso.pricing import CongestionPricer
from protocol.messages import CongestionPrice, Reading
from protocol.signing import Signed


@dataclass
class IntradayPricer:
    """Re-prices the rest of one day from its readings; see the module docstring."""

    pricer: CongestionPricer
    first_slot: int
    prognosis_wh: np.ndarray
    limit_wh: int
    meters: frozenset[str]
    window: int = 4
    step: int = 10_000  # prices move in steps of 1 c€/kWh (rounded up): no re-posting of noise
    release: float = 0.9  # a raised price is lifted once the corrected flow is below this share
    metered: dict[int, int] = field(default_factory=dict)  # slot → net import (Wh)
    reported: dict[int, set[str]] = field(default_factory=dict)
    posted: dict[tuple[int, str], int] = field(default_factory=dict)  # (slot, dir) → price
    day_ahead: dict[tuple[int, str], int] = field(default_factory=dict)  # the floor
    last_changes: list[tuple[int, str, int]] = field(default_factory=list)  # of the last update
    point: str | None = None  # the congestion point priced; default: the pricer's
    # (the prognosis, limit and meters are then that point's: e.g. a feeder cable's homes)

    @property
    def point_name(self) -> str:
        return self.pricer.point if self.point is None else self.point

    def record_day_ahead(self, postings: list[Signed]) -> None:
        """The prices already posted for the day (their latest version counts)."""
        for env in postings:
            m = env.message
            if isinstance(m, CongestionPrice) and m.point == self.point_name:
                self.posted[(m.slot, m.direction)] = m.price
                self.day_ahead[(m.slot, m.direction)] = m.price

    def fees(self, direction: str) -> np.ndarray:
        """The prices in force for the day's slots in ``direction`` (µ€/kWh)."""
        return np.array([self.posted.get((self.first_slot + k, direction), 0)
                         for k in range(len(self.prognosis_wh))], dtype=np.int64)

    def add(self, reading: Reading) -> None:
        """A reading the oracle's verifier accepted."""
        k = reading.slot - self.first_slot
        if reading.meter_id not in self.meters or not 0 <= k < len(self.prognosis_wh):
            return
        seen = self.reported.setdefault(reading.slot, set())
        if reading.meter_id in seen:
            return
        seen.add(reading.meter_id)
        self.metered[reading.slot] = (self.metered.get(reading.slot, 0) + reading.import_wh
                                      - reading.export_wh)

    def error_wh(self, before_slot: int) -> float | None:
        """Mean metered − prognosed flow over the last complete slots before ``before_slot``."""
        done = sorted(s for s, seen in self.reported.items()
                      if s < before_slot and seen == self.meters)[-self.window:]
        if not done:
            return None
        return float(np.mean([self.metered[s] - self.prognosis_wh[s - self.first_slot]
                              for s in done]))

    def update(self, from_slot: int) -> list[Signed]:
        """Postings for the slots from ``from_slot`` (the first whose gate is still open) to the
        end of the day whose price changes, from the slots metered before it."""
        error = self.error_wh(from_slot)
        if error is None:
            return []
        changes = []
        for slot in range(max(from_slot, self.first_slot),
                          self.first_slot + len(self.prognosis_wh)):
            flow = float(self.prognosis_wh[slot - self.first_slot]) + error
            ratio = abs(flow) / self.limit_wh
            congested = "import" if flow > 0 else "export"
            for direction in ("import", "export"):
                rule = self.pricer.rule.price(ratio, direction) if (
                    direction == congested and ratio > 1) else 0
                rule = -(-rule // self.step) * self.step
                floor = self.day_ahead.get((slot, direction), 0)
                now = self.posted.get((slot, direction), 0)
                clear = direction != congested or ratio < self.release
                want = max(rule, floor) if rule > now or clear else now
                if want != now:
                    changes.append((slot, direction, want))
                    self.posted[(slot, direction)] = want
        self.last_changes = changes
        return self.pricer.repost(changes, self.point_name) if changes else []
