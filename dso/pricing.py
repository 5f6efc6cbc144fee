"""Congestion prices from the DSO's prognosis of the transformer flow.

Rule: in every slot where the prognosis exceeds the rating, post a price on the congested direction
(import or export) that grows with the overload: ``base + slope × (|flow| / limit − 1)``, capped.
Prices are µ€/kWh; postings are signed by the DSO's key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocol.messages import CongestionPrice
from protocol.signing import KeyPair, Signed


@dataclass(frozen=True)
class PricingRule:
    """Base price at the rating, slope per unit of relative overload, cap (all µ€/kWh).

    ``export_cap``: the most an export price may be — what the DSO's own last resort costs it,
    curtailing PV in the operate phase and paying the supplier the feed-in price for it. Above
    it, exporting would cost a home more than the DSO's curtailing it does.
    """

    base: int = 20_000
    slope: int = 100_000
    cap: int = 500_000
    export_cap: int | None = None

    def price(self, overload_ratio: float, direction: str = "import") -> int:
        cap = self.cap if direction == "import" or self.export_cap is None else min(
            self.cap, self.export_cap)
        return int(min(cap, self.base + self.slope * max(0.0, overload_ratio - 1.0)))


@dataclass
class CongestionPricer:
    """The DSO's posting agent for one congestion point."""

    dso_id: str
    key: KeyPair
    point: str = "transformer"
    rule: PricingRule = PricingRule()
    nonce: int = 0
    version: int = 0

    def post_prices(self, first_slot: int, import_price: np.ndarray,
                    export_price: np.ndarray, point: str | None = None) -> list[Signed]:
        """Signed postings of given prices (µ€/kWh) for every slot and direction that has one,
        at ``point`` (default: this pricer's)."""
        self.version += 1
        point = self.point if point is None else point
        out = []
        for direction, prices in (("import", import_price), ("export", export_price)):
            for i, price in enumerate(prices):
                if price <= 0:
                    continue
                self.nonce += 1
                out.append(self.key.sign(CongestionPrice(
                    sender=self.dso_id, nonce=self.nonce, point=point,
                    slot=first_slot + i, direction=direction, price=int(price),
                    version=self.version)))
        return out

    def post(self, first_slot: int, prognosis_wh: np.ndarray, limit_wh: float,
             point: str | None = None) -> list[Signed]:
        """Signed prices for every slot whose prognosed |flow| exceeds ``limit_wh``, at
        ``point`` (default: this pricer's)."""
        self.version += 1
        point = self.point if point is None else point
        out = []
        for i, flow in enumerate(prognosis_wh):
            ratio = abs(float(flow)) / limit_wh
            if ratio <= 1.0:
                continue
            self.nonce += 1
            direction = "import" if flow > 0 else "export"
            msg = CongestionPrice(
                sender=self.dso_id,
                nonce=self.nonce,
                point=point,
                slot=first_slot + i,
                direction=direction,
                price=self.rule.price(ratio, direction),
                version=self.version,
            )
            out.append(self.key.sign(msg))
        return out

    def repost(self, changes: list[tuple[int, str, int]], point: str | None = None
               ) -> list[Signed]:
        """Signed postings, under one new version, of (slot, direction, price µ€/kWh) changes
        at ``point`` (default: this pricer's); a price of 0 lifts an earlier one."""
        self.version += 1
        point = self.point if point is None else point
        out = []
        for slot, direction, price in changes:
            self.nonce += 1
            out.append(self.key.sign(CongestionPrice(
                sender=self.dso_id, nonce=self.nonce, point=point, slot=slot,
                direction=direction, price=int(price), version=self.version)))
        return out
