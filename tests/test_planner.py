"""The MILP home planner: every asset's physics holds, and the plan is cheaper than naive."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from node.assets import Appliance, ElectricVehicle, HeatPump
from node.home import Battery
from node.milp import HomeAssets, PlanInfeasible, plan_home

T = 96
NIGHT, DAY, FEED_IN = 180_000, 280_000, 50_000
BUY = np.array([DAY if 32 <= t < 92 else NIGHT for t in range(T)], float)
SELL = np.full(T, FEED_IN, float)
LOAD = np.full(T, 120.0)
PV = np.array([max(0.0, 900 * np.sin(np.pi * (t - 24) / 48)) if 24 <= t < 72 else 0.0
               for t in range(T)])
EV = ElectricVehicle(arrival=72, departure=96, energy_wh=15_000, charger_w=7400)
HP = HeatPump()
DISHWASHER = Appliance("dishwasher", (400, 400, 300, 100), earliest=76, latest_finish=96)
WASHER = Appliance("washer", (500, 500, 200, 200), earliest=30, latest_finish=70)
ALL = HomeAssets(battery=Battery(10_000, 5_000, initial_soc=0.3), ev=EV, heat_pump=HP,
                 appliances=(DISHWASHER, WASHER))


@pytest.fixture(scope="module")
def plan():
    return plan_home(LOAD, PV, ALL, BUY, SELL, marginal_values=True)


def test_energy_balance_holds_in_every_slot(plan):
    consumption = LOAD + plan.battery_wh + plan.ev_wh + plan.heat_pump_wh + plan.appliance_wh
    assert np.allclose(plan.import_wh - plan.export_wh, consumption - plan.pv_used_wh, atol=1e-6)
    assert np.all(plan.pv_used_wh <= PV + 1e-6)


def test_battery_stays_within_its_limits(plan):
    bat = ALL.battery
    assert np.all(plan.soc_wh >= -1e-6) and np.all(plan.soc_wh <= bat.capacity_wh + 1e-6)
    assert np.all(np.abs(plan.battery_wh) <= bat.max_slot_wh + 1e-6)
    assert plan.soc_wh[-1] >= bat.capacity_wh * bat.initial_soc - 1e-6


def test_ev_gets_its_energy_only_while_plugged(plan):
    assert np.all(plan.ev_wh[:EV.arrival] == 0)
    assert plan.ev_wh.sum() * EV.efficiency >= EV.energy_wh - 1e-6
    assert np.all(plan.ev_wh <= EV.charger_w / 4 + 1e-6)


def test_heat_pump_keeps_the_comfort_band(plan):
    assert np.all(plan.indoor_c >= HP.comfort_min_c - 1e-6)
    assert np.all(plan.indoor_c <= HP.comfort_max_c + 1e-6)
    assert plan.heat_pump_wh.sum() > 0  # 8 °C outside: it has to heat


def test_appliances_run_once_inside_their_windows_at_the_cheapest_time(plan):
    for app in (DISHWASHER, WASHER):
        start = plan.appliance_starts[app.name]
        assert app.earliest <= start and start + len(app.profile_wh) <= app.latest_finish
    assert plan.appliance_wh.sum() == sum(DISHWASHER.profile_wh) + sum(WASHER.profile_wh)
    assert plan.appliance_starts["dishwasher"] >= 92  # waits for the night rate
    # runs on the day's PV: in each of its slots the sun covers the base load and the washer
    # (which slot of the sunny hours is one of several equally cheap plans)
    washer = plan.appliance_starts["washer"]
    running = slice(washer, washer + len(WASHER.profile_wh))
    assert np.all(PV[running] >= LOAD[running] + np.array(WASHER.profile_wh))


def test_plan_is_cheaper_than_naive_control(plan):
    naive = plan_home(LOAD, PV, HomeAssets(
        ev=EV, heat_pump=HP,
        appliances=tuple(Appliance(a.name, a.profile_wh, a.earliest,
                                   a.earliest + len(a.profile_wh)) for a in (DISHWASHER, WASHER))),
        BUY, SELL)
    assert plan.cost_ueur < naive.cost_ueur


def test_marginal_values_lie_between_selling_and_buying(plan):
    assert np.all(plan.marginal_value >= FEED_IN * 0.8 - 1)
    assert np.all(plan.marginal_value <= DAY + 1)


def test_peak_charge_flattens_the_peak():
    flat = plan_home(LOAD, PV, HomeAssets(ev=EV), BUY, SELL)
    capped = plan_home(LOAD, PV, HomeAssets(ev=EV), BUY, SELL, peak_price_per_kw=400_000)
    assert capped.peak_wh < flat.peak_wh * 0.6
    assert capped.ev_wh.sum() == pytest.approx(flat.ev_wh.sum())


def test_the_battery_ends_the_day_where_tomorrow_starts_it_when_asked():
    """Without a terminal value the battery ends where it started (3 kWh); asked to leave
    tomorrow 8 kWh it charges the difference, at the cheapest slots, and pays for it."""
    bat = Battery(10_000, 5_000, initial_soc=0.3)
    free = plan_home(LOAD, PV, HomeAssets(battery=bat), BUY, SELL)
    kept = plan_home(LOAD, PV, HomeAssets(battery=bat, battery_end_min_wh=8_000), BUY, SELL)
    assert free.soc_wh[-1] == pytest.approx(3_000, abs=1.0)
    assert kept.soc_wh[-1] >= 8_000 - 1e-6
    assert kept.cost_ueur > free.cost_ueur
    # a floor below the start changes nothing: the day still keeps what it started with
    low = plan_home(LOAD, PV, HomeAssets(battery=bat, battery_end_min_wh=1_000), BUY, SELL)
    assert low.soc_wh[-1] >= 3_000 - 1e-6


def test_impossible_demands_are_a_clear_error():
    greedy_ev = ElectricVehicle(arrival=90, departure=96, energy_wh=50_000, charger_w=3700)
    with pytest.raises(PlanInfeasible):
        plan_home(LOAD, PV, HomeAssets(ev=greedy_ev), BUY, SELL)
    with pytest.raises(PlanInfeasible):
        plan_home(LOAD, PV, HomeAssets(appliances=(Appliance("x", (1,) * 10, 90, 96),)),
                  BUY, SELL)


def test_community_optimum_nets_neighbours_and_respects_the_limit():
    from node.milp import plan_community

    pv_home = (np.full(T, 50.0), PV, HomeAssets(), None, None)
    ev_home = (LOAD, np.zeros(T), HomeAssets(ev=EV), None, None)
    alone = sum(plan_home(load, pv, assets, BUY, SELL).cost_ueur
                for load, pv, assets, _, _ in (pv_home, ev_home))
    together = plan_community([pv_home, ev_home], BUY, SELL, limit_wh=10_000)
    assert together.cost_ueur <= alone + 1e-6  # acting as one never costs more
    tight = plan_community([pv_home, ev_home], BUY, SELL, limit_wh=1_000)
    assert np.all(np.abs(tight.flow_wh) <= 1_000 + 1e-6)
    assert tight.cost_ueur >= together.cost_ueur - 1e-6  # a tighter grid cannot be cheaper
    with pytest.raises(PlanInfeasible):
        plan_community([pv_home, ev_home], BUY, SELL, limit_wh=100)


def test_community_optimum_pays_each_homes_capacity_charge_when_asked():
    """With the capacity tariff the centralised plan pays each home's own 15-minute import peak
    (the homes' tariff, not the street's): its EV charges flatter, the peak charge is in its
    cost, and the energy alone costs no less than the plan blind to the tariff."""
    from node.milp import plan_community

    homes = [(LOAD, np.zeros(T), HomeAssets(ev=EV), None, None),
             (np.full(T, 50.0), PV, HomeAssets(), None, None)]
    blind = plan_community(homes, BUY, SELL, limit_wh=10_000)
    priced = plan_community(homes, BUY, SELL, limit_wh=10_000, peak_price_per_kw=120_000)
    peaks = [max(float(n.max()), 0.0) for n in priced.net_wh]
    assert priced.capacity_ueur == pytest.approx(sum(peaks) * 4 * 120_000 / 1000, rel=1e-6)
    assert blind.capacity_ueur == 0
    assert sum(peaks) < sum(max(float(n.max()), 0.0) for n in blind.net_wh) - 1
    assert priced.cost_ueur - priced.capacity_ueur >= blind.cost_ueur - 1e-6
    # billed at no less than a floor (Flanders' 2.5 kW), each home pays at least the floor's
    floored = plan_community(homes, BUY, SELL, limit_wh=10_000, peak_price_per_kw=120_000,
                             peak_floor_wh=625)
    billed = [max(float(n.max()), 625.0) for n in floored.net_wh]
    assert floored.capacity_ueur == pytest.approx(sum(billed) * 4 * 120_000 / 1000, rel=1e-6)
    assert floored.capacity_ueur >= 2 * 625 * 4 * 120_000 / 1000 - 1e-6


def test_community_optimum_with_integer_starts_runs_each_appliance_once():
    """Relaxed, the capacity-priced optimum runs a washer as fractions of itself at many starts,
    adding little to the home's peak; with integer starts it starts once, as a home can, and
    costs no less, the solver's bound lying between the two."""
    from node.milp import plan_community

    homes = [(LOAD, np.zeros(T), HomeAssets(appliances=(WASHER,)), None, None)]
    args = (homes, np.full(T, float(DAY)), SELL)
    relaxed = plan_community(*args, limit_wh=10_000, peak_price_per_kw=120_000)
    whole = plan_community(*args, limit_wh=10_000, peak_price_per_kw=120_000,
                           integer_starts=True)
    weights = whole.schedules[0].start_weights[0]
    assert np.allclose(np.sort(weights)[-1], 1) and np.allclose(np.sort(weights)[:-1], 0)
    assert max(relaxed.schedules[0].start_weights[0]) < 0.5  # smeared
    assert float(relaxed.net_wh[0].max()) < LOAD[0] + 500 - 100
    assert float(whole.net_wh[0].max()) == pytest.approx(LOAD[0] + 500, abs=1e-6)
    assert relaxed.bound_ueur == pytest.approx(relaxed.cost_ueur)
    assert relaxed.cost_ueur - 1e-6 <= whole.bound_ueur <= whole.cost_ueur + 1e-6
    assert whole.cost_ueur > relaxed.cost_ueur + 1_000  # the peak the relaxation hid


def test_replanning_during_the_day_keeps_the_past_and_answers_new_prices(plan):
    """At slot 60 an import fee appears on slots 86–96: the home keeps its first 60 slots as
    they were and re-optimises the rest; its new plan is at least as good at the new prices."""
    fee = np.zeros(T)
    fee[86:] = 300_000
    buy = BUY + fee
    replanned = plan_home(LOAD, PV, ALL, buy, SELL, keep=plan, keep_until=60)
    for field in ("battery_wh", "ev_wh", "heat_pump_wh", "pv_used_wh", "appliance_wh"):
        assert np.allclose(getattr(replanned, field)[:60], getattr(plan, field)[:60], atol=1e-6)
    assert np.allclose(replanned.soc_wh[:60], plan.soc_wh[:60], atol=1e-6)
    assert replanned.appliance_starts["washer"] == plan.appliance_starts["washer"]  # at 41
    assert plan.import_wh[86:].sum() > 5_000  # measured: the EV and dishwasher late at night
    assert replanned.import_wh[86:].sum() < plan.import_wh[86:].sum() / 4
    assert replanned.ev_wh.sum() == pytest.approx(plan.ev_wh.sum(), rel=1e-6)  # still charged

    def cost(p):
        return float(buy @ p.import_wh - SELL @ p.export_wh) / 1000
    assert cost(replanned) < cost(plan)
    # an appliance not started by then cannot start in the past
    late = plan_home(LOAD, PV, ALL, buy, SELL, keep=plan, keep_until=80)
    assert late.appliance_starts["dishwasher"] >= 80


def test_given_appliance_starts_are_kept_and_cost_no_less_than_the_free_choice(plan):
    """``appliance_starts`` fixes the starts (the rest is still optimised); a start the plan
    would not choose can only cost more, and an unknown appliance name changes nothing."""
    free = plan.appliance_starts
    moved = {"dishwasher": 80, "washer": free["washer"], "dryer": 12}
    fixed = plan_home(LOAD, PV, ALL, BUY, SELL, appliance_starts=moved)
    assert fixed.appliance_starts == {"dishwasher": 80, "washer": free["washer"]}
    assert fixed.cost_ueur >= plan.cost_ueur - 1e-3
    same = plan_home(LOAD, PV, ALL, BUY, SELL, appliance_starts=free)
    assert same.appliance_starts == free
    assert same.cost_ueur == pytest.approx(plan.cost_ueur, abs=1e-3)


def test_an_anchored_replan_keeps_the_traded_net_where_another_plan_gains_nothing():
    """A battery home with more PV surplus than room can store it in many slots at the same
    cost. Two plans of that same cost: ``early`` exports first and stores late (planned where
    early exports were worth a hair more), and the default one. Re-planned on the true prices
    with ``early`` as the plan it traded, the anchor keeps ``early``'s net to the Wh at no
    extra expected cost; a real gain (a neighbour paying more for noon export) still moves
    the plan."""
    assets = HomeAssets(battery=Battery(10_000, 5_000, initial_soc=0.3))
    default = plan_home(LOAD, PV, assets, BUY, SELL)
    early = plan_home(LOAD, PV, assets, BUY, SELL + 10.0 * (T - np.arange(T)))
    assert np.abs(early.net_wh - default.net_wh).sum() > 1_000  # a different plan …

    def cost(p, sell=SELL):
        return float(BUY @ p.import_wh - sell @ p.export_wh) / 1000
    assert cost(early) == pytest.approx(cost(default), abs=1.0)  # … of the same cost (µ€)
    churned = plan_home(LOAD, PV, assets, BUY, SELL, keep=early, keep_until=30)
    assert np.abs(churned.net_wh - early.net_wh).sum() > 1_000  # without the anchor it swaps
    kept = plan_home(LOAD, PV, assets, BUY, SELL, keep=early, keep_until=30,
                     anchor_ueur_per_wh=5.0)
    assert np.allclose(kept.net_wh, early.net_wh, atol=1.0)
    assert kept.cost_ueur == pytest.approx(cost(early), abs=1.0)  # the anchor is not a cost
    noon = (np.arange(T) >= 44) & (np.arange(T) < 52)
    bonus = SELL + np.where(noon, 150_000.0, 0.0)
    moved = plan_home(LOAD, PV, assets, BUY, bonus, keep=early, keep_until=30,
                      anchor_ueur_per_wh=5.0)
    assert moved.export_wh[noon].sum() > early.export_wh[noon].sum() + 500
    assert cost(moved, bonus) < cost(early, bonus)


def test_an_anchored_replan_skips_the_presolve_and_finds_the_same_optimum(monkeypatch):
    """Every LP of an anchored re-plan (its start search's too) runs without HiGHS's presolve,
    and a plan without a kept past keeps it; the re-plan is as cheap as with the presolve, the
    anchor's moves included, and keeps the kept slots."""
    from node import milp

    asked = []
    real = milp._highs

    def spy(*args, presolve=True, **kwargs):
        asked.append(presolve)
        return real(*args, presolve=presolve, **kwargs)

    monkeypatch.setattr(milp, "_highs", spy)
    day = plan_home(LOAD, PV, ALL, BUY, SELL)
    assert asked and all(asked)
    asked.clear()
    later = BUY + np.where(np.arange(T) >= 70, 40_000.0, 0.0)
    kwargs = dict(keep=day, keep_until=40, anchor_ueur_per_wh=5.0, marginal_values=True)
    fast = plan_home(LOAD * 1.2, PV * 0.8, ALL, later, SELL, **kwargs)
    assert asked and not any(asked)
    monkeypatch.setattr(milp, "PRESOLVE_ANCHORED", True)
    slow = plan_home(LOAD * 1.2, PV * 0.8, ALL, later, SELL, **kwargs)

    def objective(p):  # the re-plan's own objective: cost plus the anchor's moves
        return p.cost_ueur + 5.0 * float(np.abs(p.net_wh - day.net_wh)[40:].sum())
    assert objective(fast) == pytest.approx(objective(slow), rel=1e-7, abs=1e-3)
    assert np.allclose(fast.battery_wh[:40], day.battery_wh[:40], atol=1e-6)
    assert fast.appliance_starts == slow.appliance_starts


def test_community_replan_keeps_what_ran_and_binds_the_limit_only_ahead():
    """Re-planned at slot 40, the centralised plan runs each home's assets as given before it
    — the battery as it really ran, the appliance starts' weights — and plans the rest again:
    no slot before 40 is held to the rating (its flow is what it was), every later one is."""
    from node.milp import plan_community

    homes = [(LOAD, PV, ALL, 3_000.0, None), (np.full(T, 50.0), PV, HomeAssets(), None, None)]
    day_ahead = plan_community(homes, BUY, SELL, limit_wh=10_000)
    ran = np.where(np.arange(T) < 40, 0.0, day_ahead.schedules[0].battery_wh)  # battery idle
    keep = [replace(day_ahead.schedules[0], battery_wh=ran), day_ahead.schedules[1]]
    sunnier = [(LOAD, PV * 1.5, *homes[0][2:]), (np.full(T, 50.0), PV * 1.5, *homes[1][2:])]
    replanned = plan_community(sunnier, BUY, SELL, limit_wh=800, keep=keep, keep_until=40)
    mine = replanned.schedules[0]
    assert np.allclose(mine.battery_wh[:40], 0.0, atol=1e-6)
    assert np.allclose(replanned.soc_wh[0][:40], 3_000.0, atol=1e-6)
    assert np.allclose(mine.heat_pump_wh[:40], day_ahead.schedules[0].heat_pump_wh[:40])
    for before, after, app in zip(day_ahead.schedules[0].start_weights, mine.start_weights,
                                  ALL.appliances, strict=True):
        early = [k for k, s in enumerate(range(app.earliest, T)) if s < 40][: len(before)]
        assert np.allclose(after[early], before[early], atol=1e-9)
        assert after.sum() == pytest.approx(1.0)
    assert np.all(np.abs(replanned.flow_wh[40:]) <= 800 + 1e-6)
    assert np.abs(replanned.flow_wh[:40]).max() > 1_000  # as it ran: no plan could change it


def test_a_peak_below_the_billed_minimum_costs_nothing_more():
    """Flanders bills at least 2.5 kW (625 Wh a quarter hour). Without that floor a battery home
    spreads its night charging flat to keep its peak low; with it, flattening below the floor
    is worth nothing, the plan's billed peak is the floor, and it costs the same energy plus
    the floor's charge."""
    from protocol.tariff import FLANDERS_MIN_PEAK_WH

    home = HomeAssets(battery=Battery(10_000, 5_000, initial_soc=0.3))
    args = (LOAD, np.zeros(T), home, BUY, SELL)
    free = plan_home(*args, peak_price_per_kw=120_000)
    floored = plan_home(*args, peak_price_per_kw=120_000, peak_floor_wh=FLANDERS_MIN_PEAK_WH)
    night = BUY < DAY
    assert free.peak_wh < FLANDERS_MIN_PEAK_WH - 200  # flat: its night imports all alike
    assert np.ptp(free.import_wh[night]) < 1e-6
    assert floored.peak_wh == pytest.approx(FLANDERS_MIN_PEAK_WH)
    assert floored.import_wh.max() <= FLANDERS_MIN_PEAK_WH + 1e-6
    assert floored.import_wh.max() > free.peak_wh + 200  # no longer held down
    charge = 4 * 120_000 / 1000  # µ€ per Wh of billed peak
    energy = free.cost_ueur - free.peak_wh * charge
    assert floored.cost_ueur == pytest.approx(energy + FLANDERS_MIN_PEAK_WH * charge, abs=1.0)


def test_flexibility_is_what_the_assets_can_move_at_what_it_costs():
    """A battery home (10 kWh, 5 kW, no PV) at one flat price: in a midday slot its net can rise
    by a full slot of charging and fall by a full slot of discharging (exported), each at a
    cost — the stored energy left over, or the losses of charging it back by the day's end. A
    home of inflexible load alone has none. In the full home every figure is a real move: the
    EV's planned charge can be deferred, and going all the way never costs less than nothing."""
    flat = np.full(T, 200_000.0)
    bat = Battery(10_000, 5_000, initial_soc=0.3)
    mp = plan_home(LOAD, np.zeros(T), HomeAssets(battery=bat), flat, np.full(T, 50_000.0),
                   flexibility=True)
    f = mp.flexibility
    assert f.up_wh[48] == pytest.approx(bat.max_slot_wh - mp.battery_wh[48], abs=1e-3)
    assert f.down_wh[48] == pytest.approx(bat.max_slot_wh + mp.battery_wh[48], abs=1e-3)
    assert f.up_cost_ueur[48] > 0 and f.down_cost_ueur[48] > 0
    rigid = plan_home(LOAD, np.zeros(T), HomeAssets(), flat, np.full(T, 50_000.0),
                      flexibility=True).flexibility
    assert np.allclose(rigid.up_wh, 0, atol=1e-6) and np.allclose(rigid.down_wh, 0, atol=1e-6)
    assert plan_home(LOAD, PV, ALL, BUY, SELL).flexibility is None
    full = plan_home(LOAD, PV, ALL, BUY, SELL, flexibility=True)
    g = full.flexibility
    for arr in (g.up_wh, g.down_wh, g.up_cost_ueur, g.down_cost_ueur):
        assert np.all(arr >= 0) and np.all(np.isfinite(arr))
    charging = np.flatnonzero(full.ev_wh > 1)
    assert len(charging)
    deferrable = charging[charging < charging.max()]  # a later slot can take it
    assert np.all(g.down_wh[deferrable] >= full.ev_wh[deferrable] - 1e-3)


def test_a_programme_s_matrix_is_built_once_per_shape_and_plans_the_same(plan):
    """plan_home keeps the matrices it built (node.milp._MATRICES): a plan from a kept matrix
    is the plan from a fresh one, and what changes the matrix — other assets, limits on other
    slots, neighbours' offers, a re-plan's anchor — is a shape of its own."""
    import node.milp as milp

    limit = np.where(np.arange(T) >= 70, 1500.0, np.inf)
    offer = (np.full(T, 150_000.0), np.full(T, 300.0))
    variants = [dict(), dict(import_limit_wh=limit, limit_penalty=1e5),
                dict(import_limit_wh=np.roll(limit, -10), limit_penalty=1e5),
                dict(local_import=offer), dict(keep=plan, keep_until=40, anchor_ueur_per_wh=0.5),
                dict(keep=plan, keep_until=60, anchor_ueur_per_wh=0.5),  # the same as before
                dict(soc_wh=7000.0)]  # the same shape as the first: only a bound moves
    milp._MATRICES.clear()
    kept = [plan_home(LOAD, PV, ALL, BUY, SELL, **kw) for kw in variants]
    assert len(milp._MATRICES) == 5
    no_battery = replace(ALL, battery=None)
    plan_home(LOAD, PV, no_battery, BUY, SELL)
    assert len(milp._MATRICES) == 6
    for kw, got in zip(variants, kept, strict=True):
        milp._MATRICES.clear()
        fresh = plan_home(LOAD, PV, ALL, BUY, SELL, **kw)
        assert np.array_equal(fresh.net_wh, got.net_wh) and fresh.cost_ueur == got.cost_ueur


def test_the_thread_s_one_solver_plans_as_a_new_one_would(plan):
    """plan_home solves on its thread's one HiGHS instance, cleared for each programme
    (node.milp._quiet_highs): a plan made after others is the plan a new instance makes, bit
    for bit, and its time limit counts from its own start, not the instance's first solve."""
    import node.milp as milp

    offer = (np.full(T, 150_000.0), np.full(T, 300.0))
    calls = [dict(marginal_values=True), dict(keep=plan, keep_until=40, anchor_ueur_per_wh=0.5),
             dict(local_import=offer), dict(soc_wh=7000.0), dict(flexibility=True)]

    def planned(kw):
        p = plan_home(LOAD, PV, ALL, BUY, SELL, **kw)
        return (p.net_wh, p.cost_ueur, p.appliance_starts, p.basis, p.marginal_value,
                None if p.flexibility is None else p.flexibility.up_wh)

    first = []
    for kw in calls:
        milp._SOLVER.model = None  # a new instance for each
        first.append(planned(kw))
    again = [planned(kw) for kw in calls[::-1]][::-1]  # each after the others, on one instance
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]
        assert np.array_equal(a[4], b[4], equal_nan=True)
        assert a[5] is None or np.array_equal(a[5], b[5])
    model = milp._quiet_highs()
    ran = model.getRunTime()
    assert ran > 0  # the clock runs on over programmes
    milp._limit_time(model, 2.0)
    assert model.getOptionValue("time_limit")[1] == pytest.approx(ran + 2.0)
