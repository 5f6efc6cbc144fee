"""Key figures computed from a run's records."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from protocol.messages import Trade
from sim.kpi import slot_efficiency

SLOT = 1_000_000


def _trade(seq: int, slot: int, buyer: str, seller: str, q: int) -> Trade:
    return Trade(seq=seq, slot=slot, buyer=buyer, seller=seller, buy_order_id="b",
                 sell_order_id="s", buyer_zone="f1", seller_zone="f1", quantity_wh=q,
                 price=150_000, fee=0, aggressor="buy")


def test_slot_efficiency_counts_what_the_supplier_carried_both_ways():
    trades = [
        # slot 0: a buys 10 from the supplier while b sells 6 to it — nothing met locally
        _trade(0, SLOT, "a", "supplier", 10), _trade(1, SLOT, "supplier", "b", 6),
        # slot 1: a buys 6 from b and the rest from the supplier — all that could meet did
        _trade(2, SLOT + 1, "a", "b", 6), _trade(3, SLOT + 1, "a", "supplier", 4),
        # slot 2: a buys 5 from b, 5 from the supplier; c sells 1 to the supplier — 5 of 6
        _trade(4, SLOT + 2, "a", "b", 5), _trade(5, SLOT + 2, "a", "supplier", 5),
        _trade(6, SLOT + 2, "supplier", "c", 1),
        # slot 3: only buyers — no local matching was possible, so no figure
        _trade(7, SLOT + 3, "a", "supplier", 3),
        # slot 4: b sold 4 early and bought 4 back: net it brought nothing, so a's 4 had no
        # neighbour to meet — no figure either
        _trade(8, SLOT + 4, "a", "b", 4), _trade(9, SLOT + 4, "b", "supplier", 4),
    ]
    eff = slot_efficiency(SimpleNamespace(trades=trades))
    assert eff.tolist() == pytest.approx([0.0, 1.0, 5 / 6])


def test_the_reinforcement_annuity_the_dso_s_costs_are_weighed_against():
    from dso.reinforcement import Reinforcement

    r = Reinforcement()  # 30 000 € over 40 years at 4 %
    assert r.annuity_eur() == pytest.approx(1515.70, abs=0.01)
    assert r.per_day_eur() == pytest.approx(1515.70 / 365, abs=1e-4)
    assert Reinforcement(36_500, 10, 0.0).per_day_eur() == pytest.approx(10.0)
    # repaid: the annuity's present value over the life is the capital cost
    assert sum(r.annuity_eur() / 1.04 ** (t + 1) for t in range(40)) == pytest.approx(30_000)
    with pytest.raises(ValueError):
        Reinforcement(life_years=0)


def test_a_battery_s_end_surplus_is_worth_feed_in_and_a_shortfall_retail():
    """Neither hoarding nor draining pays: 1 kWh more at the day's end gives back 0.9 kWh sold at
    tomorrow's lowest feed-in; 1 kWh less is 1/0.9 kWh bought at tomorrow's cheapest retail."""
    from node.home import Battery
    from protocol.tariff import two_rate_tariff
    from sim.kpi import stored_value_ueur

    tariff = two_rate_tariff()  # night 180,000, feed-in 50,000 µ€/kWh
    battery = Battery(10_000, 5_000, round_trip_efficiency=0.81)  # one way 0.9
    first = 96 * 20_000
    assert stored_value_ueur(battery, 1_000, tariff, first) == pytest.approx(0.9 * 50_000)
    assert stored_value_ueur(battery, -1_000, tariff, first) == pytest.approx(-180_000 / 0.9)
    assert stored_value_ueur(battery, 0, tariff, first) == 0
