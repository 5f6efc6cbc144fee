"""Benchmark: the default one-day simulation (184 homes, SimBench profiles, embedded chain).

Run from the repo root after the README set-up:  .venv/bin/python benchmarks/sim_day.py
Last line: {"sim_day_s": …, "peak_rss_mb": …, …}; ``plans``/``planning_s``: the homes' MILP plans
and the wall time spent on them, in one process.
"""

from __future__ import annotations

import json
import resource
import time

from sim.kpi import summarise
from sim.profiles import simbench_profiles
from sim.runner import run_simulation
from sim.scenario import default_scenario


def main() -> None:
    phases: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        phases[phase] = round(phases.get(phase, 0.0) + now - last[0], 3)
        last[0] = now

    t0 = time.perf_counter()
    profiles = simbench_profiles()
    t1 = time.perf_counter()
    last[0] = t1
    result = run_simulation(default_scenario(), profiles, progress=progress)
    t2 = time.perf_counter()
    summary = summarise(result, audit_replay=True)
    t3 = time.perf_counter()
    figures = {
        "sim_day_s": round(t2 - t1, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "profiles_load_s": round(t1 - t0, 3),
        "audit_s": round(t3 - t2, 3),
        "phases_s": phases,
        "plans": result.plans,
        "planning_s": round(result.planning_s, 3),
        "homes": summary["scenario"]["homes"],
        "trades": summary["market"]["trades"],
        "messages": summary["market"]["accepted_messages"],
        "settle_gas_per_entry": round(summary["settlement"]["gas_per_entry"]),
        "invariants_hold": all(v is not False for v in summary["invariants"].values()),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
