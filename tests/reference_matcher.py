"""An obviously-correct reference CDA for property tests: flat lists, brute force, no heaps.

Same mechanism as market.engine (see its docstring): price-time priority over every zone's
quotes by effective price (fees included), the supplier behind everyone at its price, trades at
the resting limit, capacities cut trades to headroom, resting own orders met at the top of a
zone are cancelled, IOC rests nothing, FOK all or nothing, replace keeps priority only for
same price and no growth. Escrow cover is not modelled: tests give everyone ample escrow.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

SUPPLIER_SEQ = 1 << 62
UNLIMITED = 1 << 62


@dataclass
class Rest:
    sender: str
    oid: str
    side: str
    slot: int
    zone: str
    price: int
    left: int
    seq: int
    expires_at: int | None


class ReferenceMarket:
    def __init__(self, config, zones_of: dict[str, str]) -> None:
        self.config = config
        self.zones_of = zones_of
        self.points = config.topology.points
        self.all_zones = config.topology.all_zones()
        self.resting: list[Rest] = []
        self.prices: dict = {}
        self.headroom: dict = {}
        self.seq = 0
        self.trades: list[tuple] = []
        self.clock = 0

    def _gate(self, slot):
        return slot * 900 - self.config.gate_closure_s

    def advance(self, now):
        self.clock = max(self.clock, now)
        self.resting = [r for r in self.resting if r.left > 0 and now < self._gate(r.slot)
                        and (r.expires_at is None or r.expires_at > now)]

    def fee(self, i, j, slot):
        total = 0
        for p in self.points:
            ch = p.flow_change_permille(i, j)
            if ch:
                total += self.prices.get((p.name, slot, "import" if ch > 0 else "export"), 0)
        return total

    def cap(self, i, j, slot):
        c = UNLIMITED
        for p in self.points:
            ch = p.flow_change_permille(i, j)
            if ch:
                h = self.headroom.get((p.name, slot, "import" if ch > 0 else "export"))
                if h is not None:
                    c = min(c, h * 1000 // abs(ch))
        return c

    def use(self, i, j, slot, wh):
        for p in self.points:
            ch = p.flow_change_permille(i, j)
            if ch:
                k = (p.name, slot, "import" if ch > 0 else "export")
                if k in self.headroom:
                    self.headroom[k] = max(self.headroom[k] - (-(-wh * abs(ch) // 1000)), 0)

    def post(self, point, slot, direction, price, capacity):
        self.prices[(point, slot, direction)] = price
        if capacity is None:
            self.headroom.pop((point, slot, direction), None)
        else:
            self.headroom[(point, slot, direction)] = capacity

    def _match(self, inc: Rest):
        buying = inc.side == "buy"
        tariff = self.config.tariff
        while inc.left > 0:
            best = None
            for zone in self.all_zones:
                sz, bz = (zone, inc.zone) if buying else (inc.zone, zone)
                c = self.cap(sz, bz, inc.slot)
                if c <= 0:
                    continue
                f = self.fee(sz, bz, inc.slot)
                while True:  # the zone's top order; an own order there is cancelled
                    opp = [r for r in self.resting if r.left > 0 and r.slot == inc.slot
                           and r.zone == zone and r.side != inc.side]
                    if not opp:
                        top = None
                        break
                    top = min(opp, key=lambda r: ((r.price if buying else -r.price), r.seq))
                    if top.sender != inc.sender:
                        break
                    top.left = 0
                cands = [] if top is None else [(top.price, top.seq, top)]
                if zone == self.config.topology.upstream:
                    cands.append(((tariff.retail(inc.slot) if buying
                                   else tariff.feed_in_price(inc.slot)), SUPPLIER_SEQ, None))
                for price, seq, r in cands:
                    eff = price + f if buying else price - f
                    key = ((eff if buying else -eff), seq)
                    if best is None or key < best[0]:
                        best = (key, eff, price, f, zone, r, c)
            if best is None:
                return
            _, eff, price, f, zone, r, c = best
            if (buying and inc.price < eff) or (not buying and inc.price > eff):
                return
            q = min(inc.left, r.left if r else UNLIMITED, c)
            sz, bz = (zone, inc.zone) if buying else (inc.zone, zone)
            counter = (r.sender, r.oid) if r else (self.config.supplier, "")
            buyer, seller = ((inc.sender, inc.oid), counter) if buying else (counter,
                                                                             (inc.sender, inc.oid))
            self.trades.append((inc.slot, buyer, seller, bz, sz, q,
                                price if buying else price - f, f, inc.side))
            inc.left -= q
            if r:
                r.left -= q
            self.use(sz, bz, inc.slot, q)

    def order(self, now, sender, oid, side, slot, price, qty, tif="gtc", expires_at=None):
        self.advance(now)
        self.seq += 1
        inc = Rest(sender, oid, side, slot, self.zones_of[sender], price, qty, self.seq,
                   expires_at)
        if tif == "fok":
            trial = copy.deepcopy(self)
            trial_inc = copy.deepcopy(inc)
            trial._match(trial_inc)
            if trial_inc.left > 0:
                return
        self._match(inc)
        if inc.left > 0 and tif == "gtc":
            self.resting.append(inc)

    def cancel(self, now, sender, oid):
        self.advance(now)
        for r in self.resting:
            if r.sender == sender and r.oid == oid and r.left > 0:
                r.left = 0
                return True
        return False

    def replace(self, now, sender, oid, qty, price):
        self.advance(now)
        for r in self.resting:
            if r.sender == sender and r.oid == oid and r.left > 0:
                if price == r.price and qty <= r.left:
                    r.left = qty
                    return True
                r.left = 0
                self.seq += 1
                new = Rest(sender, oid, r.side, r.slot, r.zone, price, qty, self.seq,
                           r.expires_at)
                self._match(new)
                if new.left > 0:
                    self.resting.append(new)
                return True
        return False
