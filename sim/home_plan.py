"""One home's day as its node plans it: the A-plan, what a Wh is worth in each slot, and its
flexibility — for ``flexmarket plan``, to see what a home would do and could offer.

The home forecasts its load and PV from its own last week (``node.forecast.same_slot_mean``),
and plans with the MILP (``node.milp.plan_home``) at its supply contract's prices and the
capacity tariff, without the market's local offers or the DSO's prices (a plan on its own).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from node.forecast import same_slot_mean
from node.milp import HomeAssets, MilpPlan, plan_home
from protocol.errors import FlexmarketError
from protocol.units import SLOTS_PER_DAY, slot_start
from sim.profiles import Profiles
from sim.scenario import Scenario, home_day_wh, outdoor_temperature_c

HISTORY_DAYS = 7


def plan_one_home(sc: Scenario, profiles: Profiles, home_id: str) -> tuple[MilpPlan, dict]:
    """Home ``home_id``'s plan of the scenario's first day, with marginal values and its
    flexibility envelope, and the same as a JSON-ready dict (Wh per slot, µ€/kWh, µ€)."""
    homes = {h.home_id: h for h in sc.homes}
    if home_id not in homes:
        raise FlexmarketError(f"no home {home_id!r} in the scenario (home-001 … "
                              f"{sc.homes[-1].home_id})")
    h = homes[home_id]
    history = [home_day_wh(h, profiles, sc.start_day - d) for d in range(HISTORY_DAYS, 0, -1)]
    load = same_slot_mean(np.stack([d[0] for d in history]))
    pv = same_slot_mean(np.stack([d[1] for d in history]))
    tariff, first = sc.tariff, sc.first_slot
    buy = np.array([tariff.retail(first + t) for t in range(SLOTS_PER_DAY)], float)
    sell = np.array([tariff.feed_in_price(first + t) for t in range(SLOTS_PER_DAY)], float)
    soc = None if h.battery is None else h.battery.capacity_wh * h.battery.initial_soc
    mp = plan_home(load.astype(float), pv.astype(float),
                   HomeAssets(h.battery, h.ev, h.heat_pump, h.appliances), buy, sell,
                   peak_price_per_kw=tariff.capacity_per_kw_day, soc_wh=soc,
                   outdoor_c=outdoor_temperature_c(sc.start_day),
                   peak_floor_wh=tariff.capacity_min_peak_wh,
                   marginal_values=True, flexibility=True)
    f = mp.flexibility

    def wh(a) -> list[int | None]:  # None where an LP found no value
        return [round(float(v)) if np.isfinite(v) else None for v in a]

    out = {
        "home": home_id, "first_slot": first,
        "start_utc": dt.datetime.fromtimestamp(slot_start(first), dt.UTC).isoformat(),
        "assets": {"pv_kwp": h.pv_kwp, "battery_wh": h.battery.capacity_wh if h.battery else 0,
                   "ev": h.ev is not None, "heat_pump": h.heat_pump is not None,
                   "appliances": [a.name for a in h.appliances]},
        "forecast_load_wh": wh(load), "forecast_pv_wh": wh(pv),
        "net_wh": wh(mp.net_wh), "battery_wh": wh(mp.battery_wh), "ev_wh": wh(mp.ev_wh),
        "heat_pump_wh": wh(mp.heat_pump_wh), "appliance_wh": wh(mp.appliance_wh),
        "appliance_starts": mp.appliance_starts, "billed_peak_wh": round(mp.peak_wh),
        "cost_ueur": round(mp.cost_ueur),
        "marginal_value_ueur_per_kwh": wh(mp.marginal_value),
        "flexibility": {"up_wh": wh(f.up_wh), "down_wh": wh(f.down_wh),
                        "up_cost_ueur": wh(f.up_cost_ueur),
                        "down_cost_ueur": wh(f.down_cost_ueur)},
    }
    return mp, out


def plot_home_plan(plan: dict, path: Path) -> Path:
    """The plan's net with its flexibility band, the assets' schedules, and the marginal value
    of a Wh in each slot, as a PNG at ``path``."""
    hours = np.arange(SLOTS_PER_DAY) / 4
    net = np.array(plan["net_wh"], float)
    flex = {k: _floats(vs) for k, vs in plan["flexibility"].items()}
    fig = Figure(figsize=(10, 8))
    top, mid, low = fig.subplots(3, 1, sharex=True)
    top.fill_between(hours, (net - flex["down_wh"]) * 4 / 1000, (net + flex["up_wh"]) * 4 / 1000,
                     step="post", alpha=0.3, label="flexibility: reachable net")
    top.step(hours, net * 4 / 1000, where="post", color="k", label="planned net (+ import)")
    top.set_ylabel("kW")
    top.legend(loc="upper left", fontsize=8)
    top.set_title(f"{plan['home']} from {plan['start_utc']} (UTC)")
    for key, label in (("forecast_load_wh", "load (forecast)"), ("battery_wh", "battery"),
                       ("ev_wh", "EV"), ("heat_pump_wh", "heat pump"),
                       ("appliance_wh", "appliances")):
        values = np.array(plan[key], float)
        if values.any():
            mid.step(hours, values * 4 / 1000, where="post", label=label)
    mid.step(hours, -np.array(plan["forecast_pv_wh"], float) * 4 / 1000, where="post",
             label="PV (forecast, −)")
    mid.set_ylabel("kW")
    mid.legend(loc="upper left", fontsize=8, ncol=3)
    low.step(hours, _floats(plan["marginal_value_ueur_per_kwh"]) / 1e6, where="post")
    low.set_ylabel("€/kWh of one more Wh")
    low.set_xlabel("hour of the day (UTC)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def _floats(values: list[int | None]) -> np.ndarray:
    """A JSON list of the plan back as floats, NaN where it holds no value."""
    return np.array([np.nan if v is None else v for v in values], float)
