"""The DSO's morning allotment: EV energy moved out of tomorrow morning, cheapest first."""

from __future__ import annotations

import pytest

from dso.allotment import cheapest_cuts

EFF = {"a": 0.9, "b": 0.9, "c": 0.9, "d": 0.9}


def test_the_cheapest_quotes_are_taken_first_and_the_last_in_part():
    quotes = {"a": (4_000, 0.02), "b": (3_000, 0.005), "c": (5_000, 0.03)}
    cut = cheapest_cuts([(["a", "b", "c"], 5_000)], quotes, EFF)  # grid side over by 5 kWh
    # b (cheapest) all its 3,000, then a for the rest: 5,000 × 0.9 − 3,000 EV side
    assert cut == pytest.approx({"b": 3_000, "a": 1_500})
    assert sum(c / 0.9 for c in cut.values()) == pytest.approx(5_000)


def test_a_cut_serves_every_point_above_the_home():
    # the transformer over by 2 kWh over all homes, then f1's cable (a, b) over by 3 kWh
    quotes = {"a": (4_000, 0.02), "b": (1_000, 0.03), "c": (4_000, 0.001)}
    cut = cheapest_cuts([(["a", "b", "c"], 2_000), (["a", "b"], 3_000)], quotes, EFF)
    # the transformer takes c (cheapest) — no help to the cable; the cable then takes a
    assert cut["c"] == pytest.approx(1_800) and cut["a"] == pytest.approx(2_700)
    assert "b" not in cut
    # served first by the cable, the transformer's need is met by its cut already
    cut = cheapest_cuts([(["a", "b"], 3_000), (["a", "b", "c"], 2_000)], quotes, EFF)
    assert cut == pytest.approx({"a": 2_700})


def test_what_no_quote_can_move_stays():
    cut = cheapest_cuts([(["a", "d"], 10_000)], {"a": (900, 0.01)}, EFF)
    assert cut == {"a": 900}


def test_a_street_s_allotment_takes_the_cheapest_quotes_and_pays_their_cost(monkeypatch):
    """2030-green-high, 16 homes on 18 kVA, day-ahead prices: tonight's EVs leave more to
    tomorrow morning than it has room for; the runner's quotes, cuts and payments agree."""
    import sim.runner as runner
    from sim.profiles import synthetic_profiles
    from sim.scenario import preset_scenario

    seen = []

    def spy(needs, quotes, efficiency):
        cut = cheapest_cuts(needs, quotes, efficiency)
        seen.append((needs, quotes, cut))
        return cut

    monkeypatch.setattr(runner, "cheapest_cuts", spy)
    sc = preset_scenario("2030-green-high", homes=16, days=2, seed=3, transformer_kva=18.0)
    result = runner.run_simulation(sc, synthetic_profiles(3))
    assert seen, "the morning never ran out of room"
    (needs, quotes, cut), *_ = seen
    assert cut and all(0 < c <= quotes[h][0] + 1e-6 for h, c in cut.items())
    # no home left out quoted less than one taken, unless that one's need was met already
    taken = max(quotes[h][1] for h in cut)
    assert all(quotes[h][1] >= taken or h in cut for h in quotes if h in needs[-1][0])
    day = result.days[0]
    paid = {o.home: o for o in day.flex_orders if o.home in day.allotment_ueur}
    assert set(paid) <= set(cut) and paid
    for h, order in paid.items():
        assert order.price_ueur == day.allotment_ueur[h] >= 0
        assert order.relief_wh == pytest.approx(cut[h], abs=1.0)
