"""Benchmark: the home planner's speed, and the forecast it plans on.

Run from the repo root after the README set-up:  .venv/bin/python benchmarks/planner.py
``plan_ms``: median time of one 96-slot MILP plan of a home with every asset — PV, battery, EV
with V2H, heat pump, two shiftable appliances, peak charge; ``plan_with_marginal_values_ms``
adds the LP that prices its flexibility; ``plan_with_flexibility_ms``: the plan with its whole
flexibility envelope (``node.milp.Flexibility``: per slot how much more or less net import, and
what going all the way costs; four LPs per slot on one warm-started HiGHS model), on 10 of the
homes.
``day_184_homes_s``: the planning work of all flexible homes of a 2030-green-high day, planned
once. ``simulation_planning_share``: in a whole simulated day (184 homes, the default street and
2030-green-high, SimBench profiles), the share of the simulation's wall time spent planning the
homes (``RunResult.planning_s``) — day-ahead plans, the DSO's validation rounds, intraday
re-plans, and the no-market counterfactual's plans — with the plans and the wall time, planned
in one process; ``simulation_planning_share_parallel``: the same with the homes of each round
planned side by side on the machine's cores (``simulation_planning_share_workers``,
sim/plan_pool.py; the same plans). ``agents_*``: the same without the plans of the no-market
counterfactual, which the simulator makes to bill each home without the market — the homes'
agents' own planning; ``agents_planning_s_per_home``: that per planning (MILP) home — in one
process, the time one home's gateway would spend planning its own day; ``stages``: the plans
and their wall time (s) per stage of the day (``RunResult.planning_stages``), costliest first.
``simulation_planning_share_presets``: the day's wall time, plans and shares (all, and the
agents') of each of the other 11 presets, on the same workers.
``forecast``: mean absolute error (Wh/slot) of the same-slot 7-day mean vs seasonal-naive over a
year of SimBench household and PV profiles. Last line: {"plan_ms": …, …}
"""

from __future__ import annotations

import json
import os
import statistics
import time

import numpy as np

from node.assets import Appliance, ElectricVehicle, HeatPump
from node.forecast import mean_absolute_error, same_slot_mean, seasonal_naive
from node.home import Battery
from node.milp import HomeAssets, plan_home
from protocol.units import SLOTS_PER_DAY
from sim.presets import PRESETS
from sim.profiles import simbench_profiles
from sim.scenario import default_scenario, home_day_wh, outdoor_temperature_c, preset_scenario


def planning_share(name: str, profiles, workers: int = 1) -> dict:
    """One simulated day of scenario ``name`` on ``workers`` planning processes: its wall
    time, the plans made and the wall time spent making them, and that time's share."""
    from sim.runner import run_simulation

    sc = default_scenario() if name == "default" else preset_scenario(name)
    t0 = time.perf_counter()
    result = run_simulation(sc, profiles, plan_workers=workers)
    wall = time.perf_counter() - t0
    agents_s = result.planning_s - result.counterfactual_planning_s
    agents = sum(1 for h in sc.homes if h.flexible or h.battery is not None)
    return {"wall_s": round(wall, 1), "planning_s": round(result.planning_s, 1),
            "plans": result.plans, "plans_stood": result.plans_stood,
            "share": round(result.planning_s / wall, 2),
            "agents_planning_s": round(agents_s, 1),
            "agents_plans": result.plans - result.counterfactual_plans,
            "agents_share": round(agents_s / wall, 2),
            "agents_planning_s_per_home": round(agents_s / max(agents, 1), 3),
            "stages": {name: [n, round(spent, 1)] for name, (n, spent) in sorted(
                result.planning_stages.items(), key=lambda item: -item[1][1])}}


def main() -> None:
    profiles = simbench_profiles()
    sc = default_scenario()
    tariff = sc.tariff
    first = sc.first_slot
    buy = np.array([tariff.retail(first + t) for t in range(SLOTS_PER_DAY)], float)
    sell = np.full(SLOTS_PER_DAY, float(tariff.feed_in))
    full = HomeAssets(
        battery=Battery(10_000, 5_000),
        ev=ElectricVehicle(arrival=72, departure=96, energy_wh=12_000, v2h=True),
        heat_pump=HeatPump(),
        appliances=(Appliance("dishwasher", (400, 400, 300, 100), 76, 96),
                    Appliance("washer", (500, 500, 200, 200), 28, 80)))
    times, times_mv = [], []
    for h in sc.homes[:40]:
        load, pv = home_day_wh(h, profiles, sc.start_day)
        for with_mv, out in ((False, times), (True, times_mv)):
            t0 = time.perf_counter()
            plan_home(load, pv, full, buy, sell, peak_price_per_kw=110_000,
                      outdoor_c=outdoor_temperature_c(sc.start_day), marginal_values=with_mv)
            out.append(time.perf_counter() - t0)
    times_flex = []
    for h in sc.homes[:10]:
        load, pv = home_day_wh(h, profiles, sc.start_day)
        t0 = time.perf_counter()
        plan_home(load, pv, full, buy, sell, peak_price_per_kw=110_000,
                  outdoor_c=outdoor_temperature_c(sc.start_day), flexibility=True)
        times_flex.append(time.perf_counter() - t0)

    pre = preset_scenario("2030-green-high")
    t0 = time.perf_counter()
    flexible = 0
    for h in pre.homes:
        if not (h.flexible or h.battery is not None):
            continue
        flexible += 1
        load, pv = home_day_wh(h, profiles, pre.start_day)
        plan_home(load, pv, HomeAssets(h.battery, h.ev, h.heat_pump, h.appliances), buy, sell,
                  outdoor_c=outdoor_temperature_c(pre.start_day))
    day_s = time.perf_counter() - t0

    cores = os.cpu_count() or 1
    share = {name: planning_share(name, profiles) for name in ("default", "2030-green-high")}
    share_parallel = {name: planning_share(name, profiles, cores)
                      for name in ("default", "2030-green-high")}
    # every other preset, on the same workers: where the planning weighs
    share_presets = {}
    for name in PRESETS:
        if name != "2030-green-high":
            r = planning_share(name, profiles, cores)
            share_presets[name] = {k: r[k] for k in ("wall_s", "plans", "share", "agents_share")}

    naive, mean7, pv_naive, pv_mean7 = [], [], [], []
    for h in sc.homes[:30]:
        days = [home_day_wh(h, profiles, sc.start_day - 200 + d) for d in range(365)]
        loads = np.stack([d[0] for d in days])
        for d in range(7, len(days)):
            naive.append(mean_absolute_error(seasonal_naive(loads[:d]), loads[d]))
            mean7.append(mean_absolute_error(same_slot_mean(loads[:d]), loads[d]))
        if h.pv_kwp:
            pvs = np.stack([d[1] for d in days])
            for d in range(7, len(days)):
                pv_naive.append(mean_absolute_error(seasonal_naive(pvs[:d]), pvs[d]))
                pv_mean7.append(mean_absolute_error(same_slot_mean(pvs[:d]), pvs[d]))

    print(json.dumps({
        "plan_ms": round(statistics.median(times) * 1000, 1),
        "plan_ms_p90": round(sorted(times)[int(0.9 * len(times))] * 1000, 1),
        "plan_with_marginal_values_ms": round(statistics.median(times_mv) * 1000, 1),
        "plan_with_flexibility_ms": round(statistics.median(times_flex) * 1000, 1),
        "day_184_homes_s": round(day_s, 2),
        "flexible_homes_planned": flexible,
        "simulation_planning_share": share,
        "simulation_planning_share_workers": cores,
        "simulation_planning_share_parallel": share_parallel,
        "simulation_planning_share_presets": share_presets,
        "forecast": {
            "load_mae_wh_seasonal_naive": round(float(np.mean(naive)), 1),
            "load_mae_wh_same_slot_mean_7d": round(float(np.mean(mean7)), 1),
            "pv_mae_wh_seasonal_naive": round(float(np.mean(pv_naive)), 1),
            "pv_mae_wh_same_slot_mean_7d": round(float(np.mean(pv_mean7)), 1),
        },
        "goal_plan_ms": 50,
    }))


if __name__ == "__main__":
    main()
