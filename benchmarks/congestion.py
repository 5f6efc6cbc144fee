"""Benchmark: does DSO congestion pricing keep the transformer within its rating?

Run from the repo root after the README set-up:  .venv/bin/python benchmarks/congestion.py
A 2030-green-high day (184 homes, MILP-planned) on a 250 kVA transformer, once without DSO
prices and once with the USEF plan/validate loop. Reports metered overloaded slots, the loop's
rounds, what customers paid in congestion fees, what the DSO paid for flexibility (nothing yet:
it only charges), and the annuity of the reinforcement the prices stand in for (250 → 400 kVA).
Last line: {"overloaded_slots_baseline": …, "overloaded_slots_with_prices": …, "dso_cost_eur": …,
"reinforcement_annuity_eur": …, "rounds": …}
"""

from __future__ import annotations

import json
import time

from sim.kpi import summarise
from sim.profiles import simbench_profiles
from sim.runner import run_simulation
from sim.scenario import preset_scenario

CAPEX_EUR = 30_000  # 400 kVA unit and works, replacing a 250 kVA one
LIFE_YEARS = 40
RATE = 0.04


def annuity(capex: float, years: int, rate: float) -> float:
    return capex * rate / (1 - (1 + rate) ** -years)


def main() -> None:
    profiles = simbench_profiles()
    out = {}
    for name, rounds in (("baseline", 0), ("with_prices", 8)):
        sc = preset_scenario("2030-green-high", transformer_kva=250.0)
        sc.validation_rounds = rounds
        t0 = time.perf_counter()
        result = run_simulation(sc, profiles)
        s = summarise(result, audit_replay=False)
        out[name] = {
            "overloaded_slots": s["transformer"]["overloaded_slots"],
            "peak_import_kw": round(s["transformer"]["peak_import_kw"], 1),
            "fees_to_dso_eur": round(s["market"]["congestion_fees_eur"], 2),
            "bills_eur": round(s["bills"]["total_eur"], 2),
            "homes_worse_off": s["bills"]["homes_worse_off"],
            "overloaded_per_round": result.validation_rounds[0] if result.validation_rounds
            else [],
            "wall_s": round(time.perf_counter() - t0, 1),
        }
    yearly = annuity(CAPEX_EUR, LIFE_YEARS, RATE)
    print(json.dumps({
        "overloaded_slots_baseline": out["baseline"]["overloaded_slots"],
        "overloaded_slots_with_prices": out["with_prices"]["overloaded_slots"],
        "dso_cost_eur": 0.0,
        "customer_congestion_and_capacity_fees_eur": out["with_prices"]["fees_to_dso_eur"],
        "reinforcement_annuity_eur": round(yearly, 2),
        "reinforcement_annuity_per_day_eur": round(yearly / 365, 2),
        "rounds": len(out["with_prices"]["overloaded_per_round"]) - 1,
        "detail": out,
    }))


if __name__ == "__main__":
    main()
