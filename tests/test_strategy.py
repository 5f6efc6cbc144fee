from __future__ import annotations

import random

import pytest

from node.strategy import TICK, AdaptiveZip, TruthfulRequote, ZeroIntelligence


@pytest.mark.parametrize("side, limit", [("buy", 200_000), ("sell", 90_000)])
def test_no_strategy_quotes_beyond_its_limit(side, limit):
    rng = random.Random(1)
    strategies = [ZeroIntelligence(50_000, 280_000, random.Random(2)), TruthfulRequote(80_000),
                  AdaptiveZip(80_000)]
    for s in strategies:
        for k in range(10):
            last = rng.choice([None, 60_000, 150_000, 300_000])
            q = s.quote(side, limit, k, 10, last)
            assert q <= limit if side == "buy" else q >= limit


def test_every_strategy_but_zic_is_truthful_at_the_gate():
    for s in (TruthfulRequote(80_000), AdaptiveZip(80_000)):
        assert s.quote("buy", 200_000, 9, 10, 150_000) == 200_000
        assert s.quote("sell", 90_000, 9, 10, 150_000) == 90_000


def test_requote_concedes_monotonically():
    s = TruthfulRequote(100_000)
    quotes = [s.quote("sell", 90_000, k, 6, None) for k in range(6)]
    assert quotes == sorted(quotes, reverse=True) and quotes[0] == 190_000


def test_adaptive_learns_the_market_and_never_deadlocks():
    buyer = AdaptiveZip(100_000)
    first = buyer.quote("buy", 200_000, 0, 10, None)
    learned = [buyer.quote("buy", 200_000, k, 10, 150_000) for k in range(1, 8)]
    assert learned[-1] == pytest.approx(151_000, abs=3 * TICK)  # just inside the last trade
    assert all(abs(b - a) >= TICK or b == 151_000 for a, b in zip([first, *learned], learned,
                                                                    strict=False))
    stuck = AdaptiveZip(0, price=149_000)  # one tick from the target: still moves
    assert stuck.quote("buy", 200_000, 1, 10, 149_000) == 150_000
