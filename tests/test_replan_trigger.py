"""A home's periodic re-plan is made only where it has something to answer
(``sim.runner.REPLAN_FORECAST_WH``, ``REPLAN_BATTERY_WH``): its revised forecast moves the net
its plan expects over the next slots, or its battery has run off its plan; its no-market
counterfactual by the same rule, on its own battery."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from node.home import Battery
from protocol.units import SLOTS_PER_DAY
from sim import runner
from sim.runner import REPLAN_BATTERY_WH, REPLAN_FORECAST_WH, REPLAN_LOOKAHEAD, Simulation

T = SLOTS_PER_DAY


def _plan(load, pv):
    return SimpleNamespace(load_wh=np.asarray(load, float), pv_wh=np.asarray(pv, float))


def test_a_forecast_revised_within_the_threshold_over_the_next_slots_asks_no_re_plan():
    load, pv = np.full(T, 300.0), np.zeros(T)
    plan = _plan(load, pv)
    assert not Simulation._forecast_moved(plan, (load, pv, None), 40)
    # just under the threshold, spread over the look-ahead: no re-plan
    step = (REPLAN_FORECAST_WH - 1) / REPLAN_LOOKAHEAD
    assert not Simulation._forecast_moved(plan, (load + step, pv, None), 40)
    # at it: a re-plan — from load or PV alike
    step = REPLAN_FORECAST_WH / REPLAN_LOOKAHEAD
    assert Simulation._forecast_moved(plan, (load + step, pv, None), 40)
    assert Simulation._forecast_moved(plan, (load, pv + step, None), 40)
    # a revision beyond the look-ahead, or in the kept slots, is not answered now
    later = load.copy()
    later[40 + REPLAN_LOOKAHEAD:] += 500.0
    later[:40] += 500.0
    assert not Simulation._forecast_moved(plan, (later, pv, None), 40)


def test_a_battery_that_ran_off_its_plan_asks_a_re_plan_its_counterfactual_by_its_own():
    planned = np.zeros(T)
    planned[:8] = 200.0
    ran = np.rint(planned).astype(np.int64)
    own_ran = ran.copy()
    own_ran[3] += int(REPLAN_BATTERY_WH)
    day = {"delivery": {"battery": {"h": ran}, "own_battery": {"h": own_ran}},
           "milp": {"h": SimpleNamespace(battery_wh=planned)},
           "own": {"h": SimpleNamespace(battery_wh=planned)}}
    sim = SimpleNamespace(homes_by_id={"h": SimpleNamespace(battery=Battery(10_000, 5_000)),
                                       "p": SimpleNamespace(battery=None)})
    assert not Simulation._battery_off_plan(sim, day, "h", 8)
    assert Simulation._battery_off_plan(sim, day, "h", 8, own=True)
    assert not Simulation._battery_off_plan(sim, day, "h", 3, own=True)  # not yet delivered
    assert not Simulation._battery_off_plan(sim, day, "p", 8)  # no battery


def test_a_street_s_periodic_re_plans_are_made_where_asked_and_only_there(monkeypatch):
    """2030-green-high, 12 homes, 2 days: every periodic re-plan made is asked by its home's
    forecast or battery, the homes not re-planned were asked by neither, and some of each."""
    from sim.profiles import synthetic_profiles
    from sim.scenario import preset_scenario

    made, skipped = [], []
    real_turn = Simulation._replan_turn

    def turn(self, index, k):
        day = self.pending[index]
        before = {hid: day["plans"][hid] for hid in day["milp"]}
        off = {hid: Simulation._battery_off_plan(self, day, hid, k + 1) for hid in day["milp"]}
        seen = []
        real_homes = self._replan_homes

        def homes(day_, replans, stage):
            seen.extend(replans)
            return real_homes(day_, replans, stage)
        self._replan_homes = homes
        try:
            real_turn(self, index, k)
        finally:
            del self._replan_homes
        agents = {r.home: r for r in seen if not r.own}
        for r in agents.values():
            made.append(Simulation._forecast_moved(before[r.home], r.forecasts, r.keep_until)
                        or off[r.home])
        if seen:  # a turn that re-planned: the homes it left had nothing to answer
            keep_until, delivered = seen[0].keep_until, seen[0].delivered
            ordered = {o.home for o in day["flex_orders"]}
            for hid in sorted(set(day["milp"]) - set(agents) - ordered):
                if self._held(day["delivery"]["phase"], hid):
                    continue  # the DSO runs its schedule today: it keeps it
                load_fc, pv_fc, spread = day["forecasts"][hid]
                load, pv = day["actual"][hid]
                forecasts = (runner.intraday_update(load_fc, load, delivered),
                             runner.intraday_update(pv_fc, pv, delivered, scale=True), spread)
                skipped.append(
                    Simulation._forecast_moved(before[hid], forecasts, keep_until)
                    or off[hid])
    monkeypatch.setattr(Simulation, "_replan_turn", turn)
    sc = preset_scenario("2030-green-high", homes=12, days=2, seed=7, transformer_kva=20.0)
    runner.run_simulation(sc, synthetic_profiles(7))
    assert made and all(made)
    assert skipped and not any(skipped)
