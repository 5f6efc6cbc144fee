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
(``detail.transformer_160_kva``). Each mode's metered nets also go through the AC power flow
(``ac_*``: the real loading of the transformer and the feeder cables, losses and voltage drop
in), and the price loop runs a fourth time on the DSO's AC congestion points
(``with_prices_ac``, dso/congestion_model.py). For each rating, the least any coordinator could
pay to keep the nights starting on the simulated days within it (``cheapest_night_within``: one
LP over all homes with perfect foresight, with the rating and without; and at the AC model's
lossless-sum limit, the rating ÷ the transformer's sensitivity at rated import), against which
the annuity decides between flexibility and reinforcement.
Last line (``headline``): overloaded slots by the AC power flow of the metered nets (transformer
and feeder cables) without the DSO, with the price loop on its AC congestion points and with
flexibility; the DSO's cost per day with that price loop against the annuity; its rounds; the
lossless loop's figures beside; the bounds at the rating and at the AC limit —
{"overloaded_slots_baseline": …, "overloaded_slots_with_prices": …, "dso_cost_eur": …,
"reinforcement_annuity_eur": …, "rounds": …, "overloaded_slots_with_flex": …, …}
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np

from dso.congestion_model import congestion_model
from node.milp import HomeAssets, plan_community
from protocol.units import SLOTS_PER_DAY
from sim.kpi import summarise
from sim.profiles import simbench_profiles
from sim.runner import run_simulation
from sim.scenario import home_day_wh, outdoor_temperature_c, preset_scenario

DAYS = 2
#: name, price-loop rounds, DSO buys flexibility, grid model (dso/congestion_model.py)
MODES = (("baseline", 0, False, "lossless"), ("with_prices", 8, False, "lossless"),
         ("with_flex", 3, True, "lossless"), ("with_prices_ac", 8, False, "ac"))
NIGHT_SOC = 0.5  # the bound's batteries at noon, and again by the next noon (share of capacity)


def cheapest_night_within(sc, profiles, day: int, limit_wh: float | None = None) -> dict:
    """What keeping the night from 12:00 of unix ``day`` to 12:00 the next day within the
    transformer's rating costs at the least (€): one LP over all homes (node.milp.
    plan_community: perfect foresight, appliance starts relaxed, each home's capacity charge
    at the tariff), with the rating and without it. Each EV is plugged in from its arrival to
    07:00 with nothing left over; each battery starts at ``NIGHT_SOC`` and ends no lower. No
    mechanism — prices, flexibility bought, anything — can keep the night within the rating
    for less: the difference is the least the DSO must make good to the homes. ``limit_wh``:
    the limit on the homes' summed net import (default: the rating; the AC model's is lower,
    the rating ÷ the transformer's sensitivity at rated import)."""
    half = SLOTS_PER_DAY // 2
    first = day * SLOTS_PER_DAY + half
    buy = np.array([sc.tariff.retail(first + t) for t in range(SLOTS_PER_DAY)], float)
    sell = np.array([sc.tariff.feed_in_price(first + t) for t in range(SLOTS_PER_DAY)], float)
    outdoor = np.concatenate([outdoor_temperature_c(day)[half:],
                              outdoor_temperature_c(day + 1)[:half]])
    homes = []
    for h in sc.homes:
        today, tomorrow = home_day_wh(h, profiles, day), home_day_wh(h, profiles, day + 1)
        load = np.concatenate([today[0][half:], tomorrow[0][:half]]).astype(float)
        pv = np.concatenate([today[1][half:], tomorrow[1][:half]]).astype(float)
        ev = None if h.ev is None else replace(h.ev, arrival=h.ev.arrival - half,
                                               departure=h.ev.stays_until + half, stays_until=0)
        soc = None if h.battery is None else h.battery.capacity_wh * NIGHT_SOC
        homes.append((load, pv, HomeAssets(h.battery, ev, h.heat_pump, h.appliances), soc,
                      None))
    peak = float(sc.tariff.capacity_per_kw_day)
    limit = sc.grid.transformer_limit_wh if limit_wh is None else limit_wh
    floor = sc.tariff.capacity_min_peak_wh
    free = plan_community(homes, buy, sell, 100 * limit, outdoor, peak_price_per_kw=peak,
                          peak_floor_wh=floor)
    within = plan_community(homes, buy, sell, limit, outdoor, peak_price_per_kw=peak,
                            peak_floor_wh=floor)
    return {"cost_eur": round((within.cost_ueur - free.cost_ueur) / 1e6, 2),
            "unconstrained_peak_import_kw": round(float(free.flow_wh.max()) * 4 / 1000, 1)}


def measure(transformer_kva: float, profiles) -> dict:
    """The street on ``transformer_kva`` without the DSO, with prices and with flexibility."""
    out = {}
    points = None
    for name, rounds, flex, grid_model in MODES:
        sc = preset_scenario("2030-green-high", days=DAYS, transformer_kva=transformer_kva)
        sc.validation_rounds = rounds
        sc.dso_buys_flexibility = flex
        sc.dso_operates = name != "baseline"
        sc.grid_model = grid_model
        t0 = time.perf_counter()
        result = run_simulation(sc, profiles)
        s = summarise(result, audit_replay=False)
        flow = np.concatenate([d.transformer_flow_wh for d in result.days])
        limit = sc.grid.transformer_limit_wh
        # every mode's metered nets through the AC power flow: the real loading of the
        # transformer and the feeder cables (losses and voltage drop in)
        points = points or congestion_model(sc.grid, "ac")
        ac = np.concatenate([points.point_flows_wh(d.actual_net_wh) for d in result.days], 1)
        ac_over = np.abs(ac) > points.point_limits_wh[:, None]
        out[name] = {
            "ac_overloaded_slots": int(ac_over.any(axis=0).sum()),
            "ac_overloaded_slots_by_point": dict(zip(points.names,
                                                     ac_over.sum(axis=1).tolist(), strict=True)),
            "ac_peak_transformer_loading_percent": round(
                float(np.abs(ac[0]).max() / points.point_limits_wh[0] * 100), 1),
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
            "overloaded_per_round_by_day": result.validation_rounds,
            "wall_s": round(time.perf_counter() - t0, 1),
        }
    sc = preset_scenario("2030-green-high", days=DAYS, transformer_kva=transformer_kva)
    nights = [cheapest_night_within(sc, profiles, sc.start_day + d) for d in range(DAYS)]
    out["cheapest_within_rating"] = {
        "eur_per_day": round(float(np.mean([n["cost_eur"] for n in nights])), 2),
        "per_night": nights}
    return out


def main() -> None:
    profiles = simbench_profiles()
    out = measure(200.0, profiles)
    # the same street on the preset's own 160 kVA: overloaded far more, day ahead too
    heavy = measure(160.0, profiles)
    out["transformer_160_kva"] = heavy
    for rating, detail in ((200.0, out), (160.0, heavy)):  # the bound at the AC limit too
        sc = preset_scenario("2030-green-high", days=DAYS, transformer_kva=rating)
        ac_limit = congestion_model(sc.grid, "ac").transformer_limit_wh
        nights = [cheapest_night_within(sc, profiles, sc.start_day + d, ac_limit)
                  for d in range(DAYS)]
        detail["cheapest_within_ac_rating"] = {
            "eur_per_day": round(float(np.mean([n["cost_eur"] for n in nights])), 2),
            "lossless_limit_kw": round(ac_limit * 4 / 1000, 1), "per_night": nights}
    print(json.dumps(headline(out)))


def headline(out: dict) -> dict:
    """The last line from the measurements (``out``: the 200 kVA modes, the 160 kVA ones in
    ``transformer_160_kva``). Overloads are counted by the AC power flow of the metered nets
    (pandapower's loading of the transformer and the feeder cables), and the DSO's headline
    mode is the price loop on its AC congestion points; the lossless figures stand beside."""
    heavy = out["transformer_160_kva"]
    # the scenario's reinforcement (dso/reinforcement.py): a 400 kVA unit and works
    yearly = preset_scenario("2030-green-high", days=DAYS).reinforcement.annuity_eur()

    def rounds(mode: dict) -> int:
        by_day = mode.get("overloaded_per_round_by_day", [mode["overloaded_per_round"]])
        return max(len(r) - 1 for r in by_day)

    return {
        "overloaded_slots_baseline": out["baseline"]["ac_overloaded_slots"],
        "overloaded_slots_with_prices": out["with_prices_ac"]["ac_overloaded_slots"],
        "overloaded_slots_with_flex": out["with_flex"]["ac_overloaded_slots"],
        "dso_cost_eur": out["with_prices_ac"]["dso_cost_eur_per_day"],
        "dso_cost_unit": "EUR per day, mean of the simulated days",
        "reinforcement_annuity_eur": round(yearly, 2),
        "reinforcement_annuity_per_day_eur": round(yearly / 365, 2),
        "rounds": rounds(out["with_prices_ac"]),
        "overloaded_slots_unit": "AC power flow of the metered nets: transformer and feeder "
                                 "cables, loading > 100 %",
        "dso_cost_with_flex_eur": out["with_flex"]["dso_cost_eur_per_day"],
        "rounds_flex": rounds(out["with_flex"]),
        "customer_congestion_and_capacity_fees_eur": out["with_prices_ac"]["fees_to_dso_eur"],
        # the price loop on the lossless transformer sum (the Scenario default)
        "lossless_overloaded_slots_with_prices": out["with_prices"]["overloaded_slots"],
        "lossless_loop_ac_overloaded_slots_with_prices": out["with_prices"][
            "ac_overloaded_slots"],
        "lossless_loop_dso_cost_eur": out["with_prices"]["dso_cost_eur_per_day"],
        "overloaded_slots_baseline_160_kva": heavy["baseline"]["ac_overloaded_slots"],
        "overloaded_slots_with_prices_160_kva": heavy["with_prices_ac"]["ac_overloaded_slots"],
        "dso_cost_160_kva_eur": heavy["with_prices_ac"]["dso_cost_eur_per_day"],
        "lossless_loop_ac_overloaded_slots_with_prices_160_kva": heavy["with_prices"][
            "ac_overloaded_slots"],
        "lossless_loop_dso_cost_160_kva_eur": heavy["with_prices"]["dso_cost_eur_per_day"],
        "cheapest_within_rating_eur_per_day": out["cheapest_within_rating"]["eur_per_day"],
        "cheapest_within_rating_160_kva_eur_per_day":
            heavy["cheapest_within_rating"]["eur_per_day"],
        **({"cheapest_within_ac_rating_eur_per_day":
            out["cheapest_within_ac_rating"]["eur_per_day"],
            "cheapest_within_ac_rating_160_kva_eur_per_day":
            heavy["cheapest_within_ac_rating"]["eur_per_day"]}
           if "cheapest_within_ac_rating" in out else {}),
        "detail": out,
    }


if __name__ == "__main__":
    main()
