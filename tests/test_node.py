from __future__ import annotations

import numpy as np
import pytest

from market.engine import Exchange
from node.bidder import Bidder
from node.forecast import mean_absolute_error, same_slot_mean, same_slot_spread, seasonal_naive
from node.home import Battery, HomeConfig, self_consumption
from node.planner import plan_day
from protocol.messages import Cancel, EscrowUpdate, Order
from protocol.tariff import two_rate_tariff


def test_battery_respects_power_capacity_and_efficiency():
    bat = Battery(capacity_wh=2000, power_w=2000, round_trip_efficiency=0.81, initial_soc=0.0)
    net = np.array([-800] * 6 + [900] * 6)
    out, soc = self_consumption(net, bat, 0.0)
    assert np.all(np.abs(out) <= bat.max_slot_wh)
    charged = out[out > 0].sum()
    discharged = -out[out < 0].sum()
    assert charged * 0.9 <= 2000 + 1  # never stores more than the capacity
    assert discharged <= charged * 0.81 + 1  # round trip loses energy
    assert soc >= -1e-9
    assert np.all((out <= 0) | (net < 0)) and np.all((out >= 0) | (net > 0))  # never fights net


def test_forecasts_from_own_history():
    days = np.array([[100] * 96, [200] * 96, [300] * 96])
    assert seasonal_naive(days).tolist() == [300] * 96
    assert same_slot_mean(days).tolist() == [200] * 96
    assert same_slot_spread(days)[0] == 67
    assert mean_absolute_error(np.zeros(3), np.array([1, -2, 3])) == 2.0
    with pytest.raises(ValueError):
        seasonal_naive(np.zeros((1, 10)))


def test_plan_firm_part_is_the_net_shrunk_by_uncertainty():
    home = HomeConfig("h", "f1", 3500, "H0-A")
    load = np.full(96, 300)
    pv = np.zeros(96, dtype=np.int64)
    pv[40:60] = 800
    plan = plan_day(home, 0, load, pv, 0.0, uncertainty_wh=np.full(96, 200))
    assert plan.net_wh[0] == 300 and plan.firm_wh[0] == 100
    assert plan.net_wh[50] == -500 and plan.firm_wh[50] == -300
    small = plan_day(home, 0, np.full(96, 100), np.zeros(96), 0.0, np.full(96, 200))
    assert not small.firm_wh.any()


def test_bidder_quotes_mid_then_sends_remainder_at_reservation(config, directory, keys):
    ex = Exchange(config, directory)
    slot = 1_000_000
    t = slot * 900 - 7200
    ex.submit(keys["operator"].sign(EscrowUpdate(
        sender="operator", nonce=1, participant="a", escrow_ueur=10**9,
        settled_through_slot=0)), t)
    bidder = Bidder("a", "f1", keys["a"], config.tariff)
    (opening,) = bidder.opening_orders(slot, [400])
    assert isinstance(opening.message, Order)
    mid = (config.tariff.retail(slot) + config.tariff.feed_in) // 2
    assert opening.message.price == mid and opening.message.side == "buy"
    assert ex.submit(opening, t).accepted
    cancel, rest = bidder.gate_orders(slot, 400, ex.fee)
    assert isinstance(cancel.message, Cancel)
    assert rest.message.quantity_wh == 400
    assert rest.message.price == config.tariff.retail(slot)
    assert ex.submit(cancel, t + 1).accepted
    ack = ex.submit(rest, t + 1)
    assert [tr.seller for tr in ack.trades] == ["supplier"]


def test_orders_use_only_own_identity(keys):
    bidder = Bidder("a", "f1", keys["a"], two_rate_tariff())
    envs = bidder.opening_orders(0, [100, -50, 0, 30])
    assert len(envs) == 3
    assert {e.message.sender for e in envs} == {"a"}
    assert {e.message.zone for e in envs} == {"f1"}
    nonces = [e.message.nonce for e in envs]
    assert nonces == sorted(set(nonces))
