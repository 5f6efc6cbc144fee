"""Bidding strategies behind one interface: what price to quote in each re-quoting round.

A strategy knows only its own side and limit (the home's marginal value or cost, µ€/kWh), the
round, and public market data (the last trade price). It never quotes beyond its limit.

* ``ZeroIntelligence`` (ZIC, Gode & Sunder): a uniformly random price on the profitable side of
  the limit — the baseline every strategy must beat.
* ``TruthfulRequote``: starts with a margin that shrinks linearly to zero at the last round
  before the gate, where it quotes its limit.
* ``AdaptiveZip``: a ZIP-like learner (Cliff): moves its price towards the last trade price
  (Widrow–Hoff, rate ``beta``), shading just inside it, never past its limit; a minimum step of
  one tick keeps it from deadlocking at a one-tick spread, and the last round quotes the limit.

``quoting_strategy`` gives the simulator's home agents (``node.bidder.Bidder``) one of them per
slot (``Scenario.strategy``, ``flexmarket simulate --strategy``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from protocol.tariff import Tariff

TICK = 1_000  # µ€/kWh


class Strategy(Protocol):
    def quote(self, side: str, limit: int, round_k: int, rounds: int,
              last_trade: int | None) -> int: ...


@dataclass
class ZeroIntelligence:
    """ZIC: buyers draw from [floor, limit], sellers from [limit, ceiling]."""

    floor: int
    ceiling: int
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def quote(self, side: str, limit: int, round_k: int, rounds: int,
              last_trade: int | None) -> int:
        if side == "buy":
            return self.rng.randint(min(self.floor, limit), limit) // TICK * TICK
        return -(-self.rng.randint(limit, max(self.ceiling, limit)) // TICK) * TICK


@dataclass
class TruthfulRequote:
    """A margin of ``start_margin`` that shrinks to nothing by the last round."""

    start_margin: int

    def quote(self, side: str, limit: int, round_k: int, rounds: int,
              last_trade: int | None) -> int:
        left = max(rounds - 1 - round_k, 0) / max(rounds - 1, 1)
        margin = int(self.start_margin * left)
        return limit - margin if side == "buy" else limit + margin


@dataclass
class AdaptiveZip:
    """ZIP-like: learn the market price from trades, quote just inside it, within the limit."""

    start_margin: int
    beta: float = 0.4
    price: int | None = None

    def quote(self, side: str, limit: int, round_k: int, rounds: int,
              last_trade: int | None) -> int:
        if round_k >= rounds - 1:
            self.price = limit  # at the gate the agent is truthful
            return limit
        if self.price is None:
            self.price = limit - self.start_margin if side == "buy" else limit + self.start_margin
        if last_trade is not None:
            target = last_trade + TICK if side == "buy" else last_trade - TICK
        else:  # no trade yet: concede towards the limit
            target = limit
        step = self.beta * (target - self.price)
        step = max(abs(step), TICK) * (1 if step >= 0 else -1)
        new = int(self.price + step)
        self.price = min(new, limit) if side == "buy" else max(new, limit)
        return self.price


def quoting_strategy(name: str, tariff: Tariff, seed: int, home: int
                     ) -> Callable[[int], Strategy] | None:
    """A home's per-slot quoting strategy from ``Scenario.strategy`` (None: the local price).
    Margins start at half the slot's retail − feed-in spread; ZIC draws are seeded per home
    and slot."""
    def spread(slot: int) -> int:
        return tariff.retail(slot) - tariff.feed_in_price(slot)

    if name == "local":
        return None
    if name == "zic":
        return lambda slot: ZeroIntelligence(tariff.feed_in_price(slot), tariff.retail(slot),
                                             random.Random(f"{seed}/{home}/{slot}"))
    if name == "truthful":
        return lambda slot: TruthfulRequote(spread(slot) // 2)
    if name == "zip":
        return lambda slot: AdaptiveZip(spread(slot) // 2)
    raise ValueError(f"unknown quoting strategy {name!r}: local, zic, truthful or zip")
