"""Benchmark: does the DSO keep the transformer within its rating, and at what cost?

Run from the repo root after the README set-up:  .venv/bin/python benchmarks/congestion.py
Two 2030-green-high days (184 homes, MILP-planned; EVs plugged in overnight, so the second day
carries the first night's charging into its morning) on a 200 kVA transformer, three times:
without the DSO; with the USEF plan/validate price loop (dso/usef.py); and with the DSO buying
flexibility home by home day ahead (dso/flex.py: FlexRequest → FlexOffer → FlexOrder, 5 %
margin under the rating), paid on chain after delivery. With prices and with flexibility the DSO
also activates flexibility in operation where the metered flow still overloads
(dso/operate.py), settled as energy-transfer corrections it pays the supplier for. Reports
metered overloaded slots (import and export) over both days, the rounds, what customers paid in
congestion fees, the DSO's cost per day (flexibility bought + corrections), and the annuity of
the reinforcement it stands in for (a 400 kVA unit), per day. Then the same street on the
preset's own 160 kVA, where the day-ahead prognosis overloads too, all three ways
(``detail.transformer_160_kva``).
Last line: {"overloaded_slots_baseline": …, "overloaded_slots_with_prices": …, "dso_cost_eur": …,
"reinforcement_annuity_eur": …, "rounds": …, "overloaded_slots_with_flex": …}
"""

from __future__ import annotations

import json
import time

import numpy as np

from sim.kpi import summarise
from sim.profiles import simbench_profiles
from sim.runner import run_simulation
from sim.scenario import preset_scenario

DAYS = 2
CAPEX_EUR = 30_000  # 400 kVA unit and works, replacing the 200 (or 160) kVA one
LIFE_YEARS = 40
RATE = 0.04


def annuity(capex: float, years: int, rate: float) -> float:
    return capex * rate / (1 - (1 + rate) ** -years)


MODES = (("baseline", 0, False), ("with_prices", 8, False), ("with_flex", 3, True))


def measure(transformer_kva: float, profiles) -> dict:
    """The street on ``transformer_kva`` without the DSO, with prices and with flexibility."""
    out = {}
    for name, rounds, flex in MODES:
        sc = preset_scenario("2030-green-high", days=DAYS, transformer_kva=transformer_kva)
        sc.validation_rounds = rounds
        sc.dso_buys_flexibility = flex
        sc.dso_operates = name != "baseline"
        t0 = time.perf_counter()
        result = run_simulation(sc, profiles)
        s = summarise(result, audit_replay=False)
        flow = np.concatenate([d.transformer_flow_wh for d in result.days])
        limit = sc.grid.transformer_limit_wh
        out[name] = {
            "overloaded_slots": s["transformer"]["overloaded_slots"],
            "overloaded_slots_per_day": [
                int((np.abs(d.transformer_flow_wh) > limit).sum()) for d in result.days],
            "overloaded_import_slots": int((flow > limit).sum()),
            "overloaded_export_slots": int((flow < -limit).sum()),
            "prognosed_overloaded_slots": s["transformer"]["prognosed_overloaded_slots"],
            "flex_orders": s["market"]["flex_orders"],
            "flex_bought_kwh": round(s["market"]["flex_bought_kwh"], 1),
            "flex_paid_by_dso_eur": round(s["market"]["flex_paid_by_dso_eur"], 2),
            "flex_paid_by_dso_eur_per_day": round(s["market"]["flex_paid_by_dso_eur"] / DAYS, 2),
            "operate_activated_kwh": round(s["market"]["operate_activated_kwh"], 1),
            "operate_corrections_eur": round(
                s["market"]["operate_corrections_paid_by_dso_eur"], 2),
            "dso_cost_eur_per_day": round(s["market"]["dso_cost_eur"] / DAYS, 2),
            "peak_import_kw": round(s["transformer"]["peak_import_kw"], 1),
            "fees_to_dso_eur": round(s["market"]["congestion_fees_eur"], 2),
            "bills_eur": round(s["bills"]["total_eur"], 2),
            "homes_worse_off": s["bills"]["homes_worse_off"],
            "overloaded_per_round": result.validation_rounds[0] if result.validation_rounds
            else [],
            "wall_s": round(time.perf_counter() - t0, 1),
        }
    return out


def main() -> None:
    profiles = simbench_profiles()
    out = measure(200.0, profiles)
    # the same street on the preset's own 160 kVA: overloaded far more, day ahead too
    heavy = measure(160.0, profiles)
    out["transformer_160_kva"] = heavy
    yearly = annuity(CAPEX_EUR, LIFE_YEARS, RATE)
    print(json.dumps({
        "overloaded_slots_baseline": out["baseline"]["overloaded_slots"],
        "overloaded_slots_with_prices": out["with_prices"]["overloaded_slots"],
        "overloaded_slots_with_flex": out["with_flex"]["overloaded_slots"],
        "dso_cost_eur": out["with_flex"]["dso_cost_eur_per_day"],
        "dso_cost_unit": "EUR per day, mean of the simulated days",
        "dso_cost_with_prices_eur": out["with_prices"]["dso_cost_eur_per_day"],
        "customer_congestion_and_capacity_fees_eur": out["with_prices"]["fees_to_dso_eur"],
        "reinforcement_annuity_eur": round(yearly, 2),
        "reinforcement_annuity_per_day_eur": round(yearly / 365, 2),
        "rounds": len(out["with_prices"]["overloaded_per_round"]) - 1,
        "rounds_flex": len(out["with_flex"]["overloaded_per_round"]) - 1,
        "detail": out,
    }))


if __name__ == "__main__":
    main()
