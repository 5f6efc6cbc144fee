"""A plan that still stands (node.standing): where a re-plan's new prices rise only on energy
the plan does not move, or moves the least it could, the plan is proven optimal without solving;
solving again finds nothing cheaper. Any other difference plans again."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from node.assets import Appliance, ElectricVehicle, HeatPump
from node.home import Battery
from node.milp import HomeAssets, plan_home
from node.standing import plan_stands

T = 96
NIGHT, DAY, FEED_IN = 180_000, 280_000, 50_000
BUY = np.array([DAY if 32 <= t < 92 else NIGHT for t in range(T)], float)
SELL = np.full(T, FEED_IN, float)
LOAD = 150.0 + 100.0 * np.sin(np.arange(T) / 7.0) ** 2
PV = np.array([max(0.0, 900 * np.sin(np.pi * (t - 24) / 48)) if 24 <= t < 72 else 0.0
               for t in range(T)])
EV = ElectricVehicle(arrival=72, departure=96, energy_wh=12_000, charger_w=7400)
DISHWASHER = Appliance("dishwasher", (400, 400, 300, 100), earliest=76, latest_finish=96)
WASHER = Appliance("washer", (500, 500, 200, 200), earliest=30, latest_finish=70)
ANCHOR = 5.0
HOMES = {
    "ev and appliances": HomeAssets(ev=EV, appliances=(DISHWASHER, WASHER)),
    "battery and heat pump": HomeAssets(battery=Battery(10_000, 5_000, initial_soc=0.3),
                                        heat_pump=HeatPump()),
    "everything": HomeAssets(battery=Battery(10_000, 5_000, initial_soc=0.3), ev=EV,
                             heat_pump=HeatPump(), appliances=(DISHWASHER,)),
}
OPTIONS = {"outdoor_c": np.full(T, 8.0), "peak_price_per_kw": 110_000.0}


def _replan(mp, until: int, **extra) -> dict:
    """A re-plan's options: ``mp`` kept before ``until`` and anchored to, its starts fixed."""
    return {**OPTIONS, "keep": mp, "keep_until": until, "anchor_ueur_per_wh": ANCHOR,
            "appliance_starts": mp.appliance_starts, **extra}


def _cost_at(mp, buy, sell, base_buy=BUY, base_sell=SELL) -> float:
    """What ``mp`` (planned at ``base_buy``/``base_sell``) costs at ``buy``/``sell`` (µ€)."""
    return mp.cost_ueur + float((buy - base_buy) @ mp.import_wh
                                - (sell - base_sell) @ mp.export_wh) / 1000


@pytest.fixture(scope="module")
def plans():
    return {name: plan_home(LOAD, PV, assets, BUY, SELL, **OPTIONS)
            for name, assets in HOMES.items()}


def test_a_plan_stands_where_fees_rise_only_on_energy_it_does_not_move(plans):
    """An import fee on slots where the plan imports nothing (an export fee where it exports
    nothing) leaves it optimal; solving again finds nothing cheaper. A fee on energy it could
    move, or a price that falls, is not claimed — and does move it."""
    assets, plan = HOMES["everything"], plans["everything"]
    idle_import, idle_export = plan.import_wh < 1e-9, plan.export_wh < 1e-9
    assert idle_import.sum() > 10 and idle_export.sum() > 10  # measured: a day with both
    buy = BUY + np.where(idle_import, 150_000.0, 0.0)
    sell = SELL - np.where(idle_export, 40_000.0, 0.0)
    assert plan_stands(plan, (LOAD, PV, assets, buy, sell), OPTIONS)
    again = plan_home(LOAD, PV, assets, buy, sell, **OPTIONS)
    assert again.cost_ueur >= plan.cost_ueur - 1e-4 * abs(plan.cost_ueur)  # the MIP's gap
    busy = int(np.argmax(plan.import_wh))
    assert plan.import_wh[busy] > 100 and not plan.standing.least_import[busy]
    raised = buy.copy()
    raised[busy] += 150_000.0
    assert not plan_stands(plan, (LOAD, PV, assets, raised, sell), OPTIONS)
    moved = plan_home(LOAD, PV, assets, raised, sell, **OPTIONS)
    assert moved.import_wh[busy] < plan.import_wh[busy]  # and it does move
    cheaper = BUY - np.where(idle_import, 100_000.0, 0.0)
    assert not plan_stands(plan, (LOAD, PV, assets, cheaper, SELL), OPTIONS)


def test_a_plan_stands_where_it_already_imports_the_least_it_could(plans):
    """A home whose appliances keep their starts and whose EV charges only at night can import
    no less by day than its base load: a fee there leaves its re-plan where it was. A home
    with a battery that could discharge more there is not claimed."""
    assets, plan = HOMES["ev and appliances"], plans["ev and appliances"]
    least = plan.standing.least_import
    day = np.arange(T)
    base = (day < 72) & (plan.import_wh > 1) & (plan.appliance_wh == 0)
    assert base.sum() > 20 and least[base].all()  # no asset draws there: the least import
    assert not least[plan.ev_wh > 1].any()  # the EV could charge later instead
    buy = BUY + np.where((day >= 40) & (day < 72), 100_000.0, 0.0)
    options = _replan(plan, 40)
    assert plan_stands(plan, (LOAD, PV, assets, buy, SELL), options)
    again = plan_home(LOAD, PV, assets, buy, SELL, **options)
    assert np.allclose(again.net_wh, plan.net_wh, atol=1e-6)
    assert again.cost_ueur == pytest.approx(_cost_at(plan, buy, SELL), abs=1e-3)
    stored = plans["battery and heat pump"]
    discharging = (stored.import_wh > 1) & (stored.battery_wh < -1)
    assert discharging.any() and not stored.standing.least_import[discharging].any()


@pytest.mark.parametrize("name", sorted(HOMES))
def test_solving_again_never_beats_a_plan_that_stands(plans, name):
    """Random fee rises and falls on random slots, re-plans from random slots on: wherever
    ``plan_stands`` says the plan stands, solving finds nothing cheaper (the re-plan's cost
    with its anchor is the plan's at the new prices, to a µ€); and it said so often."""
    assets, plan = HOMES[name], plans[name]
    rng = np.random.default_rng(7)
    # half the draws raise fees where the plan imports nothing or the least it could (so it
    # may stand), the other half anywhere
    still = np.flatnonzero(plan.standing.least_import | (plan.import_wh < 1e-9))
    stood = 0
    for _ in range(40):
        buy, sell = BUY.copy(), SELL.copy()
        slots = rng.choice(still if rng.random() < 0.5 else T, int(rng.integers(1, 12)))
        buy[slots] += rng.choice([10_000.0, 50_000.0, 300_000.0])
        if rng.random() < 0.3:
            sell[rng.choice(T, 6, replace=False)] -= 20_000.0
        if rng.random() < 0.1:
            buy[rng.integers(T)] -= 1_000.0
        options = _replan(plan, int(rng.integers(0, 80)))
        if not plan_stands(plan, (LOAD, PV, assets, buy, sell), options):
            continue
        stood += 1
        again = plan_home(LOAD, PV, assets, buy, sell, **options)
        moved = float(np.abs(again.net_wh - plan.net_wh)[options["keep_until"]:].sum())
        assert again.cost_ueur + ANCHOR * moved >= _cost_at(plan, buy, sell) - 1e-3
    assert stood >= 5


def test_any_other_difference_plans_again(plans):
    """The same prices, but another forecast, option, state, kept plan, fewer kept slots, a
    weaker anchor, no anchor for an anchored plan, marginal values, or other starts: not
    claimed."""
    assets, plan = HOMES["ev and appliances"], plans["ev and appliances"]
    args = (LOAD, PV, assets, BUY, SELL)
    assert plan_stands(plan, args, OPTIONS)
    assert plan_stands(plan, args, _replan(plan, 30))
    assert not plan_stands(plan, (LOAD + 1, PV, assets, BUY, SELL), OPTIONS)
    assert not plan_stands(plan, (LOAD, PV * 0.9, assets, BUY, SELL), OPTIONS)
    assert not plan_stands(plan, (LOAD, PV, replace(assets, ev_owed_wh=1), BUY, SELL), OPTIONS)
    assert not plan_stands(plan, args, {**OPTIONS, "outdoor_c": np.full(T, 9.0)})
    assert not plan_stands(plan, args, {**OPTIONS, "marginal_values": True})
    assert not plan_stands(plan, args, {**OPTIONS, "local_import": (np.full(T, 1.0),
                                                                    np.full(T, 2.0))})
    other = plan_home(LOAD * 1.2, PV, assets, BUY, SELL, **OPTIONS)
    assert not plan_stands(plan, args, _replan(other, 30))  # kept and anchored to another
    ran = replace(plan, ev_wh=np.roll(plan.ev_wh, 1))  # the EV ran otherwise before slot 90
    assert not plan_stands(plan, args, _replan(ran, 90))
    moved = {**plan.appliance_starts, "dishwasher": plan.appliance_starts["dishwasher"] + 1}
    assert not plan_stands(plan, args, _replan(plan, 30, appliance_starts=moved))
    replanned = plan_home(*args, **_replan(plan, 40))
    assert plan_stands(replanned, args, _replan(replanned, 50))
    assert not plan_stands(replanned, args, _replan(replanned, 30))  # fewer slots kept
    assert not plan_stands(replanned, args, _replan(replanned, 50, anchor_ueur_per_wh=1.0))
    assert not plan_stands(replanned, args, OPTIONS)  # its anchor dropped
    assert not plan_stands(replanned, args, _replan(replanned, 50, appliance_starts=None))


def test_a_simulated_street_s_standing_plans_are_optimal_and_not_solved(monkeypatch):
    """2030-green-high, 16 homes on 25 kVA for 2 days (the street of
    ``test_intraday``): re-plans at the DSO's prices — its validation rounds and the intraday
    prices — are answered by the plans the homes have where those stand, unsolved
    (``RunResult.plans_stood``), and solving each of them again finds nothing cheaper."""
    import sim.runner
    from sim.kpi import check_invariants
    from sim.profiles import synthetic_profiles
    from sim.scenario import preset_scenario

    stood = []

    def recorded(mp, args, kwargs):
        if plan_stands(mp, args, kwargs):
            stood.append((mp, args, kwargs))
            return True
        return False

    monkeypatch.setattr(sim.runner, "plan_stands", recorded)
    sc = preset_scenario("2030-green-high", homes=16, days=2, seed=3, transformer_kva=25.0)
    result = sim.runner.run_simulation(sc, synthetic_profiles(3))
    assert check_invariants(result).all_hold()
    assert result.plans_stood == len(stood) >= 5  # measured: 9
    for mp, (load, pv, assets, buy, sell), kwargs in stood:
        again = plan_home(load, pv, assets, buy, sell, **kwargs)
        keep, until = kwargs.get("keep"), kwargs.get("keep_until", 0)
        anchor = kwargs.get("anchor_ueur_per_wh", 0.0) if keep is not None else 0.0
        moved = float(np.abs(again.net_wh - mp.net_wh)[until:].sum())
        # the fees rise on the grid's import only, which is at least the import beyond what
        # the neighbours' offers could meet: the plan costs at least this at the new prices
        grid = [np.maximum(flow - (0.0 if offer is None else offer[1]), 0.0) for flow, offer in
                ((mp.import_wh, kwargs.get("local_import")),
                 (mp.export_wh, kwargs.get("local_export")))]
        at_new = mp.cost_ueur + float((buy - mp.standing.buy) @ grid[0]
                                      - (sell - mp.standing.sell) @ grid[1]) / 1000
        assert again.cost_ueur + anchor * moved >= at_new - 1e-4 * max(abs(at_new), 1e6)
