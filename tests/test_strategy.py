from __future__ import annotations

import random

import numpy as np
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


def test_bidder_quotes_with_its_strategy_within_its_limit_and_sees_the_last_trade(keys):
    """Rounds 0 and 1 are the strategy's (a fresh one per slot), within one µ€ inside the
    supplier's quote; the re-quote moves even for an unchanged position."""
    from node.bidder import Bidder
    from node.strategy import quoting_strategy
    from protocol.tariff import two_rate_tariff

    tariff = two_rate_tariff()
    slot = 1_000_000
    bidder = Bidder("a", "f1", keys["a"], tariff,
                    strategy=quoting_strategy("zip", tariff, seed=0, home=0))
    (opening,) = bidder.opening_orders(slot, [-400])
    spread = tariff.retail(slot) - tariff.feed_in_price(slot)
    assert (bidder.limit(slot, "sell") < opening.message.price
            <= bidder.limit(slot, "sell") + spread // 2)
    cancel, requote = bidder.requote(slot, -400, last_trade=tariff.feed_in_price(slot) + 40_000)
    assert cancel.message.order_id == opening.message.order_id
    assert bidder.limit(slot, "sell") <= requote.message.price < opening.message.price
    for name in ("zic", "truthful"):
        b = Bidder("b", "f1", keys["b"], tariff,
                   strategy=quoting_strategy(name, tariff, seed=0, home=1))
        (o,) = b.opening_orders(slot, [400])
        assert tariff.feed_in_price(slot) <= o.message.price <= b.limit(slot, "buy")
    assert quoting_strategy("local", tariff, 0, 0) is None
    with pytest.raises(ValueError, match="unknown quoting strategy"):
        quoting_strategy("greedy", tariff, 0, 0)


@pytest.mark.parametrize("name", ["zic", "truthful", "zip"])
def test_a_street_of_strategy_agents_trades_locally_and_conserves(name):
    """12 homes, one day, each quoting strategy driving every agent: neighbours trade, every
    invariant holds, and no pre-gate quote went beyond the agent's limit."""
    from protocol.messages import Order
    from sim.kpi import summarise
    from sim.profiles import synthetic_profiles
    from sim.runner import run_simulation
    from sim.scenario import default_scenario

    sc = default_scenario(homes=12, days=1, seed=2)
    sc.strategy = name
    result = run_simulation(sc, synthetic_profiles(2))
    summary = summarise(result, audit_replay=False)
    assert all(v is not False for v in summary["invariants"].values())
    assert summary["energy"]["traded_locally_kwh"] > 0
    tariff = sc.tariff
    quotes = [env.message for _, env in result.exchange.journal.envelopes()
              if isinstance(env.message, Order) and env.message.order_id.startswith("o")]
    assert quotes
    for o in quotes:
        lo, hi = tariff.feed_in_price(o.slot) + 1, tariff.retail(o.slot) - 1
        assert (o.price <= hi) if o.side == "buy" else (o.price >= lo)


def test_a_strategy_quotes_no_further_than_the_plans_marginal_value(keys):
    """A battery planned to charge from a neighbour's surplus values that Wh at what the plan
    expected to pay, not at retail: every round, the gate included, stays within it; a seller
    takes no less than its value. Without a strategy the gate order is at the reservation price,
    as before, and a value outside the supplier's quotes changes nothing."""
    from node.bidder import Bidder
    from node.planner import Plan
    from node.strategy import quoting_strategy
    from protocol.tariff import two_rate_tariff

    tariff = two_rate_tariff()
    slot = 1_000_000
    retail, feed_in = tariff.retail(slot), tariff.feed_in_price(slot)
    value = feed_in + (retail - feed_in) // 4  # worth a quarter of the way up to retail
    no_fee = lambda *_: 0  # noqa: E731
    for name in ("zic", "truthful", "zip"):
        buyer = Bidder("a", "f1", keys["a"], tariff,
                       strategy=quoting_strategy(name, tariff, seed=0, home=0))
        assert buyer.limit(slot, "buy", value) == value
        assert buyer.limit(slot, "buy", retail + 50_000) == retail - 1
        (o,) = buyer.opening_orders(slot, [400], values=[value])
        assert o.message.price <= value
        (*_, r) = buyer.requote(slot, 400, last_trade=retail - 10_000, value=value)
        assert r.message.price <= value
        (*_, g) = buyer.gate_orders(slot, 400, no_fee, value)
        assert g.message.price == value
        seller = Bidder("b", "f1", keys["b"], tariff,
                        strategy=quoting_strategy(name, tariff, seed=0, home=1))
        assert seller.limit(slot, "sell", value) == value
        assert seller.limit(slot, "sell", feed_in - 50_000) == feed_in + 1
        (o,) = seller.opening_orders(slot, [-400], values=[value])
        assert o.message.price >= value
        (*_, g) = seller.gate_orders(slot, -400, no_fee, value)
        assert g.message.price == value
    local = Bidder("c", "f1", keys["a"], tariff)  # quoting at the local price: no strategy
    (g,) = local.gate_orders(slot, 400, no_fee, value)
    assert g.message.price == retail - 1
    plan = Plan(0, *(np.zeros(2, np.int64),) * 5,
                marginal_value=np.array([float(value), np.nan]))
    assert (plan.value(0), plan.value(1)) == (value, None)


def test_adaptive_agents_leave_no_home_worse_off_than_without_the_market():
    """The default street (184 homes, SimBench profiles) with every agent quoting by ZIP:
    individual rationality holds for each home. Before the quotes were bounded by the plan's
    marginal values, 13 battery homes paid neighbours near retail for energy their plan had
    counted on at the local price (up to 0.23 € each above their no-market bill)."""
    from sim.kpi import summarise
    from sim.profiles import simbench_profiles
    from sim.runner import run_simulation
    from sim.scenario import default_scenario

    sc = default_scenario()
    sc.strategy = "zip"
    result = run_simulation(sc, simbench_profiles())
    summary = summarise(result, audit_replay=False)
    savings = [b["saving_eur"] for b in summary["bills"]["per_home"].values()]
    assert len(savings) == 184 and min(savings) >= 0
    assert summary["energy"]["traded_locally_kwh"] > 0 and result.rejected_messages == []
    assert all(v is not False for v in summary["invariants"].values())
