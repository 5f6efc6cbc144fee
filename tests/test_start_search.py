"""The appliance starts found by LPs (node.start_search): the MIP's optimum, found faster, and
of starts equally cheap the household's favourite."""

from __future__ import annotations

import numpy as np
import pytest

import node.milp as milp
from node.assets import Appliance, ElectricVehicle, HeatPump
from node.home import Battery
from node.milp import HomeAssets, plan_home

T = 96
DISHWASHER = Appliance("dishwasher", (400, 400, 300, 100), 76, 96)
WASHER = Appliance("washer", (500, 500, 200, 200), 28, 80)


def _day(seed: int):
    """A random home's day: load, PV, assets with both appliances, and prices (µ€/kWh) that
    vary slot by slot, so the cheapest starts are not where a rule would put them."""
    rng = np.random.default_rng(seed)
    load = rng.uniform(80, 400, T)
    pv = np.clip(rng.uniform(3, 8) * 120 * np.sin(np.pi * (np.arange(T) - 26) / 44), 0, None)
    assets = HomeAssets(
        battery=Battery(int(rng.choice([5000, 10_000])), 2500, initial_soc=0.3)
        if rng.random() < 0.6 else None,
        ev=ElectricVehicle(arrival=int(rng.integers(68, 79)), departure=96,
                           energy_wh=int(rng.integers(6, 15)) * 1000)
        if rng.random() < 0.5 else None,
        heat_pump=HeatPump() if rng.random() < 0.4 else None,
        appliances=(DISHWASHER, WASHER))
    buy = 180_000 + 100_000 * rng.random(T)
    sell = buy - 120_000 - 30_000 * rng.random(T)
    return load, pv, assets, buy, sell


def _mip_only(monkeypatch):
    """plan_home as HiGHS's MIP alone plans it: the search gives way at once."""
    monkeypatch.setattr(milp, "search_starts", lambda *args, **kwargs: None)


@pytest.fixture(scope="module")
def searched():
    solves = []
    real = milp.search_starts

    def counting(*args, **kwargs):
        found = real(*args, **kwargs)
        solves.append(None if found is None else found.solves)
        return found
    milp.search_starts = counting
    try:
        plans = [plan_home(*_day(seed), peak_price_per_kw=120_000) for seed in range(24)]
    finally:
        milp.search_starts = real
    return plans, solves


def test_the_search_finds_the_mip_optimum_to_a_millionth(searched, monkeypatch):
    plans, solves = searched
    _mip_only(monkeypatch)
    for seed, plan in enumerate(plans):
        exact = plan_home(*_day(seed), peak_price_per_kw=120_000, mip_rel_gap=1e-9)
        assert plan.cost_ueur == pytest.approx(exact.cost_ueur, rel=1e-6, abs=1e-3), seed
    # the search did search: relaxations with fractional starts, several LPs each (a few of
    # these noisy days need more than MAX_SOLVES: the MIP answered those)
    assert sum(n is not None and n > 1 for n in solves) >= 16


def test_each_start_it_takes_is_one_inside_the_window(searched):
    for plan in searched[0]:
        for app in (DISHWASHER, WASHER):
            start = plan.appliance_starts[app.name]
            assert app.earliest <= start <= app.latest_finish - len(app.profile_wh)
            assert plan.appliance_wh[start] >= app.profile_wh[0]


def test_where_the_search_is_long_the_mip_answers_the_same(monkeypatch):
    day = _day(3)
    searched = plan_home(*day)
    monkeypatch.setattr("node.start_search.MAX_SOLVES", 1)  # every search gives way
    assert plan_home(*day).cost_ueur == pytest.approx(searched.cost_ueur, rel=1e-4)


def test_of_starts_equally_cheap_it_takes_the_household_s_favourite():
    """Flat prices and no other asset: every start costs the same. The run starts where the
    household prefers; a night rate cheaper by far more than the preference's price moves it,
    and the preference is no part of the plan's cost."""
    load, flat = np.full(T, 150.0), np.full(T, 250_000.0)
    for favourite in (30, 51, 76):
        assets = HomeAssets(appliances=(Appliance("washer", WASHER.profile_wh, 28, 80,
                                                   preferred_start=favourite),))
        plan = plan_home(load, np.zeros(T), assets, flat, flat - 200_000)
        assert plan.appliance_starts == {"washer": favourite}
        assert plan.cost_ueur == pytest.approx(float(flat @ plan.import_wh) / 1000, abs=1e-3)
    cheap_late = flat - np.where(np.arange(T) >= 70, 50_000.0, 0.0)
    assets = HomeAssets(appliances=(Appliance("washer", WASHER.profile_wh, 28, 80,
                                               preferred_start=30),))
    assert plan_home(load, np.zeros(T), assets, cheap_late,
                     cheap_late - 200_000).appliance_starts["washer"] >= 70


def test_preset_households_prefer_their_own_starts_inside_the_windows():
    from sim.scenario import preset_scenario

    homes = [h for h in preset_scenario("2030-green-high", homes=60).homes if h.appliances]
    again = [h for h in preset_scenario("2030-green-high", homes=60).homes if h.appliances]
    favourites = {app.name: set() for app in homes[0].appliances}
    for home, same in zip(homes, again, strict=True):
        assert home.appliances == same.appliances  # seeded
        for app in home.appliances:
            assert app.earliest <= app.preferred_start <= app.latest_finish - len(app.profile_wh)
            favourites[app.name].add(app.preferred_start)
    assert all(len(starts) >= 8 for starts in favourites.values())  # spread, not one slot
