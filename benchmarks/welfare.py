"""Benchmark: welfare of the decentralised market against the centralised optimum, and who gains.

Run from the repo root after the README set-up:  .venv/bin/python benchmarks/welfare.py
For the default scenario (battery homes MILP-planned with local offers; and rule-planned, the
greedy self-consumption of the first version) and a preset: the street's cost at the supplier's
prices
  * with no market: each home optimises alone against its supply contract and the DSO's posted
    prices, its battery run by the same controller (the no-market bills without the congestion
    fees, transfers to the DSO, with each home's capacity charge);
  * with the market: the bills of the simulated day, minus the congestion fees the DSO
    collects, plus what the DSO paid the supplier for its operate-phase corrections (energy
    curtailed); each home's capacity charge stays in;
  * centralised: one LP over all homes with the same transformer limit and each home's
    capacity charge at the same tariff (`plan_community`), on the same day's actual load and PV
    (perfect foresight: the market has forecasts);
  * centralised on the same forecasts: the same LP on the day-ahead forecasts the homes make
    (each its own last week), its plan then delivered against the real load and PV, each
    battery run by the homes' controller (node.control.track_plan, peak guard included)
    holding the planned net, export beyond the rating curtailed as the DSO's operate phase
    does for the market (import beyond it counted in
    ``centralised_same_forecasts_import_overloads``), the delivered nets' capacity charges
    counted, and, where the scenario balances (``Scenario.community_balancing``), the batteries
    answering the street's net by the market's rules (node.balancing.answer_street) — the
    optimum a coordinator with the homes' own information reaches; and the same
    coordinator re-planning the rest of the day every ``replan_every`` slots on forecasts
    revised from the meters, as the homes do (``..._same_forecasts_replanned``).
The capacity charge is counted everywhere because the homes pay it and plan against it, as they
do against the transformer limit: an optimum blind to it — the valuation before, kept as
``welfare_gain_ratio_tariff_blind`` (capacity charges left out of all three, the centralised LP
not pricing peaks) — piles each home's EV into one quarter hour, which no home facing the
tariff would; the gap it measured was the tariff's, not the market's (2030-green-medium: the
blind optimum's peaks would be billed 24.6 €, the priced one's are 9.6 €).
At the day's end each battery's charge beyond (or short of) its start is valued
(sim.kpi.stored_value_ueur: a surplus as feed-in, a shortfall as retail, so neither hoarding nor
draining pays), the market's, the no-market counterfactual's (which restarts each day from the
real state: sim.kpi.end_state_credit_ueur, its own EV carry too) and both centralised plans'.
The centralised LP relaxes the appliances' starts (a washer may run as fractions of itself at
twenty starts, adding nothing to any peak), which no home can do; beside it the same optimum with
each appliance starting once (``plan_community(integer_starts=True)``, a MILP given
INTEGER_TIME_LIMIT_S, its cost counted at the solver's proven lower bound — so the ratio against
it, ``welfare_gain_ratio_integer``, errs low; the batteries' end state is valued at the best plan
found, outside the bound; the bound depends on how far the search got, so on
the machine's speed; ``centralised_integer_mip_gap_eur``: the incumbent's distance from it).
welfare_gain_ratio = (no market − market) / (no market − centralised); beside it,
welfare_gain_ratio_same_forecasts with the second centralised cost, and
welfare_gain_ratio_perfect_forecasts: the same street run again with perfect forecasts
(Scenario.forecast = "perfect", no market and market alike) against the same optimum — what the
mechanism leaves once the homes know their day as the centralised LP does. Individual rationality:
homes whose market bill is higher than their no-market bill. Allocative efficiency per slot
(`sim.kpi.slot_efficiency`): the share of the local matching possible between the homes'
positions that the CDA achieved, over the slots with both buyers and sellers.
Scenarios: the default street (and, for comparison, its first version with rule-planned
batteries, and its agents quoting by each strategy of node/strategy.py instead of at the local
price), and each of the 12 presets as it ships on 60 homes under 120 kVA.
Last line: {"welfare_gain_ratio": …, "efficiency_mean": …, "homes_worse_off": …, …} over the
default street and the 12 presets: the ratio pooled (Σ market gains ÷ Σ centralised gains), the
mean of the scenarios' mean slot efficiencies, the worse-off homes summed; per scenario in the
detail. Takes about 7 minutes (measured on 2 cores beside benchmarks/congestion.py).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import numpy as np

from node.balancing import (
    BalancingBattery,
    answer_street,
    storage_needed_slots,
    stored_after,
)
from node.control import lendable_wh, track_plan
from node.forecast import intraday_update, same_slot_mean
from node.milp import HomeAssets, PlanInfeasible, plan_community
from protocol.tariff import cheapest_retail
from protocol.units import SLOT_SECONDS, SLOTS_PER_DAY, value_ueur
from sim.kpi import no_market_bill_ueur, stored_value_ueur, summarise
from sim.presets import PRESETS
from sim.profiles import simbench_profiles
from sim.runner import run_simulation
from sim.scenario import default_scenario, home_day_wh, outdoor_temperature_c, preset_scenario

PRESET_HOMES = 60  # each preset on the first 60 homes of the default grid …
PRESET_KVA = 120.0  # … under a transformer of their size
# the integer optimum's search (HiGHS branch and bound); its proven bound is what is counted
INTEGER_TIME_LIMIT_S = 30.0
HISTORY_DAYS = 7  # the homes forecast from their last week (sim/runner.py)


def flow_cost_ueur(flow_wh: np.ndarray, buy: np.ndarray, sell: np.ndarray) -> float:
    """The street's cost at the supplier's prices (µ€) of a transformer flow (Wh per slot)."""
    return float(sum(value_ueur(round(f), int(b)) if f > 0
                     else -value_ueur(round(-f), int(c))
                     for f, b, c in zip(flow_wh, buy, sell, strict=True)))


def centralised_on_forecasts(sc, profiles, inputs, buy, sell, peak_price: float = 0.0,
                             replan_every: int = 0, balancing: bool = False
                             ) -> tuple[float, int]:
    """The centralised plan made on the homes' day-ahead forecasts (each home's capacity charge
    at ``peak_price`` µ€/kW counted), delivered against the real load and PV with each battery
    holding its planned net: its cost (µ€, EV carry priced as planned; export beyond the rating
    curtailed; the capacity charges of the delivered nets) and its import-overloaded slots.
    ``replan_every``: the coordinator re-plans the rest of the day every this many slots, as
    the homes do — each home's forecast revised from its meter (node.forecast.intraday_update),
    the slots metered and the two inside the gate kept as they ran or were planned.
    ``balancing``: the batteries also answer the street's net in real time, as the market's do
    with ``Scenario.community_balancing`` (node/balancing.py, the same rules; where the plan
    has the street at the export rating later, only a slot's export beyond it)."""
    forecasts = []
    for h, (_, _, assets, soc, indoor) in zip(sc.homes, inputs, strict=True):
        past = [home_day_wh(h, profiles, sc.start_day - k) for k in range(HISTORY_DAYS, 0, -1)]
        load_fc = same_slot_mean(np.stack([d[0] for d in past]))
        pv_fc = same_slot_mean(np.stack([d[1] for d in past]))
        forecasts.append((load_fc, pv_fc, assets, soc, indoor))
    day_ahead = forecasts
    temp = outdoor_temperature_c(sc.start_day)
    limit = sc.grid.transformer_limit_wh
    floor = sc.tariff.capacity_min_peak_wh if peak_price else 0  # the least peak billed
    plan = plan_community(forecasts, buy, sell, limit, temp, peak_price_per_kw=peak_price,
                          peak_floor_wh=floor)
    T, n = len(buy), len(inputs)
    soc = [start[3] for start in inputs]
    peak = np.full(n, float(floor))  # each home's billed peak so far
    battery, pv_used, flow = np.zeros((n, T)), np.zeros((n, T)), np.zeros(T)
    gate = sc.gate_closure_s // SLOT_SECONDS + 1  # after t metered slots, those past the gate
    storage_for, storage = None, set()  # the plan whose storage-needed slots are found
    for t in range(T):
        if replan_every and t and t % replan_every == 0 and t + gate < T:
            until = t + gate
            # the kept slots' PV stays as their plan expected (PV used below it is curtailed)
            revised = [(intraday_update(fc[0], load, t),
                        np.concatenate([now[1][:until],
                                        intraday_update(fc[1], pv, t, scale=True)[until:]]),
                        *fc[2:]) for fc, now, (load, pv, *_) in zip(day_ahead, forecasts, inputs,
                                                                    strict=True)]
            keep = [replace(s, pv_used_wh=np.concatenate([pv_used[i, :t], s.pv_used_wh[t:]]),
                            battery_wh=np.concatenate([battery[i, :t], s.battery_wh[t:]]))
                    for i, s in enumerate(plan.schedules)]
            try:
                plan = plan_community(revised, buy, sell, limit, temp,
                                      peak_price_per_kw=peak_price, keep=keep, keep_until=until,
                                      peak_floor_wh=floor)
                forecasts = revised
            except PlanInfeasible:  # the delivered past leaves no plan within the rating
                pass
        soc_before, nets = list(soc), np.zeros(n)
        for i, (h, (load, pv, *_)) in enumerate(zip(sc.homes, inputs, strict=True)):
            load_fc, pv_fc = forecasts[i][0], forecasts[i][1]
            net, bat_plan, soc_plan = plan.net_wh[i], plan.battery_wh[i], plan.soc_wh[i]
            pv_plan = plan.pv_used_wh[i]
            bat_plan = np.zeros(T) if bat_plan is None else bat_plan
            assets_wh = net[t] - bat_plan[t] - load_fc[t] + pv_plan[t]  # EV, HP, appliances
            used = pv[t] if pv_plan[t] >= pv_fc[t] - 0.5 else min(pv[t], pv_plan[t])
            other = load[t] + assets_wh - used
            if h.battery is not None:  # with the homes' peak guard where peaks are charged
                cap = max(float(net.max()), peak[i]) if peak_price else None
                lendable = 0.0 if cap is None else lendable_wh(bat_plan[t + 1:], net[t + 1:], cap)
                e, soc[i] = track_plan(int(np.rint(net[t])), int(np.rint(other)), h.battery,
                                       soc[i], float(soc_plan[t]), float(bat_plan[t]),
                                       import_cap_wh=cap, guard_floor_wh=float(soc_plan[t])
                                       - lendable / h.battery.one_way_efficiency,
                                       ceiling_wh=float(soc_plan[t]))
                other += e
                battery[i, t] = e
            pv_used[i, t] = used
            nets[i] = other
        if balancing:  # the batteries answer the street's net, by the market's rules
            # where its plan has the street at the export rating later, or beyond it but for
            # the batteries' planned charging (the slots found once per plan)
            if storage_for is not plan:
                storage_for, storage = plan, storage_needed_slots(plan.flow_wh, sum(
                    (np.maximum(b, 0.0) for b in plan.battery_wh if b is not None),
                    np.zeros(T)), limit)
            # the plan's export at the limit later: where the market's DSO prices it
            limited_later = bool((plan.flow_wh[t + 1:] <= -limit + 0.5).any())
            export_later = limited_later or any(s > t for s in storage)
            batteries = {i: BalancingBattery(
                h.battery, soc_before[i], int(battery[i, t]), float(plan.soc_wh[i][t]),
                int(max(float(plan.net_wh[i].max()), peak[i]) - nets[i]) if peak_price else None,
                float(plan.soc_wh[i][t:].max()) if limited_later else None)
                for i, h in enumerate(sc.homes) if h.battery is not None}
            change = answer_street(
                int(nets.sum()), batteries, spend_now=buy[t] >= buy[t:].max(),
                # where the coordinator's forecasts put the street's PV above its load
                surplus_ahead=bool((sum(fc[1][t + 1:] - fc[0][t + 1:] for fc in forecasts) > 0)
                                   .any()),
                export_rating_wh=int(limit) if export_later else None)
            for i, x in change.items():
                battery[i, t] += x
                soc[i] = stored_after(sc.homes[i].battery, soc_before[i], int(battery[i, t]))
                nets[i] += x
        flow[t] = nets.sum()
        peak = np.maximum(peak, nets)
    carry = (plan.cost_ueur - plan.capacity_ueur
             - flow_cost_ueur(plan.flow_wh, buy, sell))  # EV energy left to 07:00
    capacity = float(peak.sum()) * 4 * peak_price / 1000
    tomorrow = sc.first_slot + SLOTS_PER_DAY
    stored = sum(stored_value_ueur(h.battery, soc[i] - inputs[i][3], sc.tariff, tomorrow)
                 for i, h in enumerate(sc.homes) if h.battery is not None)
    flow = np.maximum(flow, -limit)  # PV beyond the rating is curtailed
    return (flow_cost_ueur(flow, buy, sell) + carry + capacity - stored,
            int((flow > limit).sum()))


def measure(sc, profiles, integer: bool = False) -> dict:
    t0 = time.perf_counter()
    result = run_simulation(sc, profiles)
    summary = summarise(result, audit_replay=False)
    homes = [h.home_id for h in sc.homes]
    no_market = sum(no_market_bill_ueur(result, h, with_fees=False) for h in homes)
    market = (sum(b["bill_eur"] for b in summary["bills"]["per_home"].values()) * 1e6
              - summary["market"]["congestion_fees_eur"] * 1e6
              + summary["market"]["operate_corrections_paid_by_dso_eur"] * 1e6)
    # the capacity tariff, as the homes pay it: with the market (from settlement) and without
    capacity_market = sum(s.capacity_ueur for d in result.days
                          for s in d.settlement.statements.values())
    capacity_no_market = sum(no_market_bill_ueur(result, h, with_fees=False, with_capacity=True)
                             for h in homes) - no_market
    first = sc.first_slot
    tariff = sc.tariff
    buy = np.array([tariff.retail(first + t) for t in range(SLOTS_PER_DAY)], float)
    sell = np.array([tariff.feed_in_price(first + t) for t in range(SLOTS_PER_DAY)], float)
    # EV energy left to tomorrow morning is paid tomorrow, at the morning's retail: both the
    # market's homes and the centralised plan may leave some, and both are charged for it
    carry_price = {h.home_id: cheapest_retail(tariff, first + SLOTS_PER_DAY, h.ev.stays_until)
                   for h in sc.homes if h.ev is not None and h.ev.stays_until}
    carried = sum(wh / sc.homes[homes.index(hid)].ev.efficiency * carry_price[hid] / 1000
                  for hid, wh in result.days[0].ev_carry_wh.items() if hid in carry_price)
    no_market += carried  # (the no-market bill values its own carry against this one)
    market += carried
    # what the batteries hold at the day's end beyond (or short of) their start has its worth
    # (sim.kpi.stored_value_ueur; the no-market bill values its own end state against this)
    tomorrow = first + SLOTS_PER_DAY
    day0 = result.days[0]
    stored = sum(stored_value_ueur(sc.homes[homes.index(hid)].battery,
                                   day0.soc_end_wh[hid] - day0.soc_start_wh[hid], tariff,
                                   tomorrow)
                 for hid in day0.soc_end_wh)
    no_market -= stored
    market -= stored
    inputs = []
    for h in sc.homes:
        load, pv = home_day_wh(h, profiles, sc.start_day)
        assets = HomeAssets(h.battery, h.ev, h.heat_pump, h.appliances,
                            ev_carry_price=carry_price.get(h.home_id))
        soc = h.battery.capacity_wh * h.battery.initial_soc if h.battery else None
        inputs.append((load, pv, assets, soc, None))
    peak_price = float(tariff.capacity_per_kw_day)
    limit = sc.grid.transformer_limit_wh
    temp = outdoor_temperature_c(sc.start_day)

    def end_state_worth(plan) -> float:  # a centralised plan's batteries' end state (µ€)
        return sum(stored_value_ueur(h.battery, soc[-1] - start[3], tariff, tomorrow)
                   for h, soc, start in zip(sc.homes, plan.soc_wh, inputs, strict=True)
                   if soc is not None)

    try:
        optimum = plan_community(inputs, buy, sell, limit, temp, peak_price_per_kw=peak_price,
                                 peak_floor_wh=tariff.capacity_min_peak_wh)
        central = optimum.cost_ueur - end_state_worth(optimum)
        blind = (central if not peak_price
                 else plan_community(inputs, buy, sell, limit, temp).cost_ueur)
        integer_central = integer_gap = None
        if integer:  # the optimum as homes can run it: each appliance starts once
            whole = plan_community(inputs, buy, sell, limit, temp, peak_price_per_kw=peak_price,
                                   peak_floor_wh=tariff.capacity_min_peak_wh,
                                   integer_starts=True, time_limit_s=INTEGER_TIME_LIMIT_S)
            integer_gap = whole.cost_ueur - whole.bound_ueur
            integer_central = whole.bound_ueur - end_state_worth(whole)
        feasible = True
        balancing = sc.community_balancing and not sc.dso_buys_flexibility
        same_info, same_info_overloads = centralised_on_forecasts(
            sc, profiles, inputs, buy, sell, peak_price, balancing=balancing)
        replanned, _ = centralised_on_forecasts(sc, profiles, inputs, buy, sell, peak_price,
                                                replan_every=sc.replan_every, balancing=balancing)
    except PlanInfeasible:  # the day cannot be served within the rating at all
        central = blind = same_info = replanned = float("nan")
        same_info_overloads, feasible = 0, False
        integer_central = integer_gap = None
    savings = np.array([b["saving_eur"] for b in summary["bills"]["per_home"].values()])
    blind_gain = no_market - market  # without the capacity tariff: energy alone
    no_market += capacity_no_market
    market += capacity_market
    gain_market = no_market - market
    gain_central = no_market - central
    return {
        "homes": len(homes),
        "no_market_eur": round(no_market / 1e6, 2),
        "market_eur": round(market / 1e6, 2),
        "capacity_charges_no_market_eur": round(capacity_no_market / 1e6, 2),
        "capacity_charges_market_eur": round(capacity_market / 1e6, 2),
        "centralised_eur": round(central / 1e6, 2) if feasible else None,
        "welfare_gain_ratio": round(gain_market / gain_central, 3) if feasible and gain_central
        else None,
        "centralised_integer_eur": round(integer_central / 1e6, 2)
        if integer_central is not None else None,
        "centralised_integer_mip_gap_eur": round(integer_gap / 1e6, 2)
        if integer_gap is not None else None,
        "welfare_gain_ratio_integer": round(gain_market / (no_market - integer_central), 3)
        if integer_central is not None and no_market != integer_central else None,
        "centralised_same_forecasts_eur": round(same_info / 1e6, 2) if feasible else None,
        "welfare_gain_ratio_same_forecasts": round(gain_market / (no_market - same_info), 3)
        if feasible and no_market != same_info else None,
        "centralised_same_forecasts_import_overloads": same_info_overloads,
        "centralised_same_forecasts_replanned_eur": round(replanned / 1e6, 2) if feasible
        else None,
        "welfare_gain_ratio_same_forecasts_replanned": round(
            gain_market / (no_market - replanned), 3) if feasible and no_market != replanned
        else None,
        # the old valuation: energy at the supplier's prices alone, the capacity tariff left
        # out everywhere (the centralised plan blind to it, the homes not)
        "tariff_blind_no_market_eur": round((no_market - capacity_no_market) / 1e6, 2),
        "tariff_blind_market_eur": round((market - capacity_market) / 1e6, 2),
        "tariff_blind_centralised_eur": round(blind / 1e6, 2) if feasible else None,
        "welfare_gain_ratio_tariff_blind": round(
            blind_gain / (no_market - capacity_no_market - blind), 3) if feasible else None,
        "homes_worse_off": int((savings < 0).sum()),
        "efficiency_mean": round(summary["market"]["slot_efficiency_mean"], 4),
        "efficiency_min": round(summary["market"]["slot_efficiency_min"], 4),
        "slots_with_buyers_and_sellers": summary["market"]["slots_with_buyers_and_sellers"],
        "saving_eur_p5_p50_p95": [round(float(np.percentile(savings, q)), 2) for q in (5, 50, 95)],
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def overall(results: list[dict], central: str = "centralised_eur") -> float:
    """The pooled ratio: Σ market gains ÷ Σ centralised gains over the scenarios."""
    ok = [r for r in results if r[central] is not None]
    gain = sum(r["no_market_eur"] - r["market_eur"] for r in ok)
    best = sum(r["no_market_eur"] - r[central] for r in ok)
    return round(gain / best, 3) if best else float("nan")


def with_perfect_forecasts(sc, profiles, result: dict) -> dict:
    """``result`` with the same scenario run again on perfect forecasts (Scenario.forecast):
    the ratio then left is the market's own, the rest of the gap the homes' forecast error."""
    sc.forecast = "perfect"
    oracle = measure(sc, profiles)
    result["perfect_forecasts"] = {k: oracle[k] for k in (
        "no_market_eur", "market_eur", "welfare_gain_ratio", "homes_worse_off", "wall_s")}
    return result


def main() -> None:
    profiles = simbench_profiles()
    default = with_perfect_forecasts(default_scenario(), profiles,
                                     measure(default_scenario(), profiles, integer=True))
    print(f"default: {default['welfare_gain_ratio']}", file=sys.stderr, flush=True)
    rule = measure(default_scenario(planner="rule"), profiles)
    quoting = {}
    for name in ("zic", "truthful", "zip"):  # the same street, agents quoting by a strategy
        sc = default_scenario()
        sc.strategy = name
        quoting[name] = measure(sc, profiles)
    presets = {}
    for name in PRESETS:  # each preset as it ships, on 60 homes of the default grid
        presets[name] = with_perfect_forecasts(
            preset_scenario(name, homes=PRESET_HOMES, transformer_kva=PRESET_KVA), profiles,
            measure(preset_scenario(name, homes=PRESET_HOMES, transformer_kva=PRESET_KVA),
                    profiles, integer=True))
        print(f"{name}: {presets[name]['welfare_gain_ratio']}", file=sys.stderr, flush=True)
    scored = [default, *presets.values()]
    print(json.dumps({
        "welfare_gain_ratio": overall(scored),
        "efficiency_mean": round(float(np.mean([r["efficiency_mean"] for r in scored])), 4),
        "homes_worse_off": sum(r["homes_worse_off"] for r in scored),
        "welfare_gain_ratio_default": default["welfare_gain_ratio"],
        "welfare_gain_ratio_presets": overall(list(presets.values())),
        "welfare_gain_ratio_integer": overall(scored, "centralised_integer_eur"),
        "welfare_gain_ratio_same_forecasts": overall(scored, "centralised_same_forecasts_eur"),
        "welfare_gain_ratio_same_forecasts_replanned": overall(
            scored, "centralised_same_forecasts_replanned_eur"),
        "welfare_gain_ratio_perfect_forecasts": overall(
            [{**r["perfect_forecasts"], "centralised_eur": r["centralised_eur"]} for r in scored]),
        "welfare_gain_ratio_tariff_blind": overall(
            [{"no_market_eur": r["tariff_blind_no_market_eur"],
              "market_eur": r["tariff_blind_market_eur"],
              "centralised_eur": r["tariff_blind_centralised_eur"]} for r in scored]),
        "welfare_gain_ratio_min": min(r["welfare_gain_ratio"] for r in scored
                                      if r["welfare_gain_ratio"] is not None),
        "efficiency_min": min(r["efficiency_min"] for r in scored),
        "default": default, "default, rule-planned batteries": rule,
        "default, quoting strategies": quoting,
        "presets": presets, "preset_homes": PRESET_HOMES, "preset_kva": PRESET_KVA,
        "goal_welfare_gain_ratio": 0.95,
    }))


if __name__ == "__main__":
    main()
