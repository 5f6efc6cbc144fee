"""Homes planning side by side in worker processes: the same plans, trades and balances as one
after another, and a home without a feasible plan answered as such, not as a crash."""

from __future__ import annotations

import os
import signal

import numpy as np

from node.assets import ElectricVehicle
from node.milp import HomeAssets, PlanInfeasible, plan_home
from sim import plan_pool
from sim.plan_pool import PlanPool

T = 96
BUY = np.full(T, 280_000.0)
SELL = np.full(T, 50_000.0)
LOAD = np.full(T, 150.0)


def test_the_pool_answers_each_call_in_order_and_an_infeasible_home_as_such():
    ev = ElectricVehicle(arrival=80, departure=96, energy_wh=12_000, charger_w=7400)
    greedy = ElectricVehicle(arrival=90, departure=96, energy_wh=60_000, charger_w=3700)
    calls = [((LOAD * (1 + k / 10), np.zeros(T), HomeAssets(ev=ev), BUY, SELL), {})
             for k in range(5)]
    calls.insert(2, ((LOAD, np.zeros(T), HomeAssets(ev=greedy), BUY, SELL), {}))
    pool = PlanPool(workers=2)
    out = pool.map(calls)
    assert isinstance(out[2], PlanInfeasible)
    for (args, kwargs), got in zip(calls[:2] + calls[3:], out[:2] + out[3:], strict=True):
        alone = plan_home(*args, **kwargs)
        assert np.array_equal(got.net_wh, alone.net_wh) and got.cost_ueur == alone.cost_ueur
    assert pool.plans == 6 and pool.wall_s > 0
    assert pool.stages.keys() == {"other"} and pool.stages["other"][0] == 6


def test_a_pool_starts_its_workers_when_made_not_at_its_first_round():
    """The workers start (and load HiGHS) while the simulation sets up, so the first round's
    wall time, counted as the homes' planning, holds plans only."""
    import time

    pool = PlanPool(workers=3)  # a size no other test uses: a new pool
    processes = plan_pool._POOLS[3]._processes
    assert len(processes) == 3
    deadline = time.monotonic() + 30
    while plan_pool._POOLS[3]._pending_work_items and time.monotonic() < deadline:
        time.sleep(0.05)  # the warm-up plans done
    assert not plan_pool._POOLS[3]._pending_work_items
    calls = [((LOAD * (1 + k / 10), np.zeros(T), HomeAssets(), BUY, SELL), {}) for k in range(3)]
    assert [p.cost_ueur for p in pool.map(calls)] == [plan_home(*a, **kw).cost_ueur
                                                      for a, kw in calls]
    assert set(plan_pool._POOLS[3]._processes) == set(processes)  # the same workers


def test_a_worker_killed_between_rounds_is_replaced_and_the_round_planned():
    calls = [((LOAD * (1 + k / 10), np.zeros(T), HomeAssets(), BUY, SELL), {}) for k in range(4)]
    pool = PlanPool(workers=2)
    pool.map(calls)  # the workers are up
    victim = next(iter(plan_pool._POOLS[2]._processes.values()))
    os.kill(victim.pid, signal.SIGKILL)
    victim.join()
    out = pool.map(calls)
    assert [p.cost_ueur for p in out] == [plan_home(*a, **kw).cost_ueur for a, kw in calls]


def test_a_street_planned_on_two_workers_trades_and_settles_as_on_one():
    """2030-green-high, 12 homes, 2 days, intraday prices and re-plans: every plan of a round
    (validation rounds, intraday and periodic re-plans, the no-market counterfactual) made on
    two worker processes gives the very trades, bills and on-chain balances of one process."""
    from sim.kpi import summarise
    from sim.profiles import synthetic_profiles
    from sim.runner import run_simulation
    from sim.scenario import preset_scenario

    def run(workers: int):
        sc = preset_scenario("2030-green-high", homes=12, days=2, seed=7, transformer_kva=20.0)
        result = run_simulation(sc, synthetic_profiles(7), plan_workers=workers)
        summary = summarise(result, audit_replay=False)
        return result, summary

    (one, s1), (two, s2) = run(1), run(2)
    assert one.plans == two.plans > 100  # measured: 236, 51 of them intraday re-plans
    # the no-market counterfactual's plans, counted apart from the agents' own
    assert 0 < one.counterfactual_plans == two.counterfactual_plans < one.plans
    # and by stage of the day, every plan counted once
    stages = {name: n for name, (n, _) in one.planning_stages.items()}
    assert stages == {name: n for name, (n, _) in two.planning_stages.items()}
    assert sum(stages.values()) == one.plans
    assert sum(n for name, n in stages.items()
               if name.startswith("counterfactual")) == one.counterfactual_plans
    assert {"day-ahead", "validation", "intraday re-plans", "periodic re-plans"} <= set(stages)
    assert one.plans_stood == two.plans_stood > 0  # measured: 29 the plans the homes had answered
    assert [t.model_dump() for t in one.trades] == [t.model_dump() for t in two.trades]
    assert s1["bills"] == s2["bills"]
    assert s1["settlement"] == s2["settlement"]
    assert all(v is not False for v in s2["invariants"].values())
