from __future__ import annotations

import numpy as np

from dso.grid import LVGrid
from dso.pricing import CongestionPricer, PricingRule
from market.engine import Exchange
from protocol.signing import KeyPair


def test_transformer_flow_is_the_sum_of_home_nets():
    grid = LVGrid(100.0, ("f1", "f2"), {"a": "f1", "b": "f2"})
    flow = grid.transformer_flow_wh({"a": np.array([10, -5]), "b": np.array([3, -40])})
    assert flow.tolist() == [13, -45]
    assert grid.transformer_limit_wh == 25_000
    assert {k: v.tolist() for k, v in grid.feeder_flow_wh(
        {"a": np.array([1]), "b": np.array([2])}).items()} == {"f1": [1], "f2": [2]}


def test_prices_posted_only_for_overloaded_slots_in_their_direction(keys):
    pricer = CongestionPricer("dso", keys["dso"], rule=PricingRule(base=10, slope=100, cap=50))
    envs = pricer.post(500, np.array([900, 1100, -1000, -1300, 2000]), 1000)
    got = [(e.message.slot, e.message.direction, e.message.price) for e in envs]
    assert got == [(501, "import", 20), (503, "export", 40), (504, "import", 50)]
    assert all(e.message.version == 1 for e in envs)


def test_market_accepts_dso_prices_and_refuses_forged_ones(config, directory, keys):
    ex = Exchange(config, directory)
    slot = 1_000_000
    pricer = CongestionPricer("dso", keys["dso"])
    (env,) = pricer.post(slot, np.array([5000]), 1000)
    assert ex.submit(env, slot * 900 - 7200).accepted
    assert ex.fee("upstream", "f1", slot) == env.message.price
    impostor = CongestionPricer("dso", KeyPair.from_seed(b"not the dso"))
    (forged,) = impostor.post(slot + 1, np.array([5000]), 1000)
    ack = ex.submit(forged, slot * 900 - 7200)
    assert not ack.accepted and "bad signature" in ack.reason


def test_validate_loop_prices_until_the_prognosis_fits():
    from dso.usef import validate

    base = np.array([50, 50, 50, 50], float)
    flexible = 120.0  # energy the homes place in the cheapest slots, spread over ties

    def replan(import_fee, export_fee):
        cheapest = import_fee == import_fee.min()
        load = base.copy()
        load[cheapest] += flexible / cheapest.sum()
        return load

    first = np.array([170.0, 50, 50, 50])  # the A-plans bunch in slot 0
    result = validate(first, limit_wh=100, replan=replan, max_rounds=10)
    assert result.within_limits and result.rounds == 1
    assert result.import_price[0] > 0 and (result.import_price[1:] == 0).all()
    assert result.overloaded_per_round[0] > 0 and result.overloaded_per_round[-1] == 0
    assert (result.export_price == 0).all()
    assert np.all(np.abs(result.prognosis_wh) <= 100)


def test_validate_stops_at_the_round_limit_when_nothing_can_move():
    from dso.usef import validate

    stuck = np.array([150.0, 20.0])
    result = validate(stuck, 100, lambda i, e: stuck, max_rounds=3)
    assert result.rounds == 3 and not result.within_limits
    assert result.import_price[0] > 0 and result.import_price[1] == 0
    assert list(result.import_price) == sorted(result.import_price, reverse=True)
