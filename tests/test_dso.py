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
