"""Scenarios: the homes, the grid, the tariff and the period to simulate.

The default is the seed project's reference size: 184 homes in 3 feeders (local energy
communities) under one MV/LV transformer, with real SimBench household and PV profiles.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from dso.grid import LVGrid
from dso.reinforcement import Reinforcement
from node.assets import Appliance, ElectricVehicle, HeatPump
from node.home import Battery, HomeConfig
from protocol.tariff import FLANDERS_MIN_PEAK_WH, Tariff, two_rate_tariff
from protocol.units import SLOTS_PER_DAY
from sim.profiles import HOUSEHOLD_PROFILES, PROFILE_YEAR_START, PV_PROFILES, Profiles

if TYPE_CHECKING:
    from dso.network import GridNetwork

DEFAULT_START = dt.date(2016, 5, 26)  # a sunny late-spring day in the profile year


@dataclass(frozen=True)
class Penetration:
    """Shares of homes with PV, and of PV homes with a battery."""

    pv: float = 0.6
    battery_of_pv: float = 0.3


@dataclass
class Scenario:
    """Everything a simulation run needs besides its wiring."""

    name: str
    homes: list[HomeConfig]
    grid: LVGrid
    tariff: Tariff
    start_day: int  # unix day (UTC)
    days: int
    seed: int
    gate_closure_s: int = 900
    escrow_per_home_ueur: int = 100_000_000
    planner: str = "rule"  # "rule": greedy battery; "milp": every flexible home runs the MILP
    validation_rounds: int = 8  # USEF plan/validate rounds (MILP scenarios); 0: no prices
    # The DSO buys flexibility home by home (dso/flex.py) instead of running the price loop
    # (MILP scenarios); the margin under the rating covers forecast error.
    dso_buys_flexibility: bool = False
    flex_margin: float = 0.05
    dso_flex_budget_ueur: int = 1_000_000_000  # tokens the DSO holds to pay for flexibility
    flex_value_ueur_per_kwh: int = 1_000_000  # the most the DSO pays per kWh of overload removed
    # Operate phase, in either mode: where the metered flow still overloads, the DSO defers EV
    # charging and curtails PV slot by slot (dso/operate.py), settled as energy-transfer
    # corrections (USEF's last resort before switching homes off)
    dso_operates: bool = True
    # … and, there, also runs home batteries (MILP homes): discharges them where import still
    # overloads and charges back what it took where the flow has room
    dso_runs_batteries: bool = True
    # with prices: as verified readings arrive, the DSO re-posts the later slots' prices
    # (dso/intraday.py) and MILP homes re-plan the rest of their day
    intraday_prices: bool = True
    intraday_share: int = 3  # one in this many affected homes re-plans at each re-posting
    # MILP homes plan once more with the exchange's local offers (market/indicative.py); on in
    # the default street and the presets, ignored where the DSO buys flexibility
    indicative_prices: bool = False
    # MILP homes' batteries answer the street's metered net in real time (node/balancing.py),
    # and the community pool is priced by the direction each slot really had; on in the default
    # street and the presets, ignored where the DSO buys flexibility
    community_balancing: bool = False
    # how agents price their quotes before the gate (node/bidder.py): "local" (the published
    # local price, else the mid), or a node/strategy.py strategy: "zic", "truthful", "zip"
    strategy: str = "local"
    # MILP homes revise their forecast from their own meter every this many slots, all at
    # once, and re-plan from their real state where that gives them something to answer
    # (sim.runner.REPLAN_FORECAST_WH, REPLAN_BATTERY_WH; 0: never, the day-ahead plan runs all day)
    replan_every: int = 16
    # what homes forecast their load and PV from: "own" (their own history, node/forecast.py)
    # or "perfect" (the day's real load and PV: an oracle for studies, e.g. how much of the
    # welfare gap to the centralised optimum is the homes' forecast error)
    forecast: str = "own"
    dso_escrow_ueur: int = 1_000_000_000  # the DSO's escrow for those corrections
    # the DSO's congestion points (dso/congestion_model.py): "lossless" (the transformer, the
    # sum of net imports) or "ac" (transformer and feeder cables, exact AC power flow; the
    # command line's default)
    grid_model: str = "lossless"
    network: GridNetwork | None = field(default=None, repr=False)  # its pandapower model
    # what reinforcing instead would cost: the annuity the DSO's costs are weighed against
    reinforcement: Reinforcement = field(default_factory=Reinforcement)

    @property
    def first_slot(self) -> int:
        return self.start_day * SLOTS_PER_DAY


def unix_day(date: dt.date) -> int:
    return (date - dt.date(1970, 1, 1)).days


def default_scenario(
    homes: int = 184,
    days: int = 1,
    seed: int = 0,
    start: dt.date = DEFAULT_START,
    transformer_kva: float | None = None,
    penetration: Penetration = Penetration(),
    planner: str = "milp",
) -> Scenario:
    """184 homes (or ``homes``) round-robin over 3 feeders, seeded asset draw.

    Yearly consumption is log-normal around 3,500 kWh; 60 % of homes have 4–8 kWp of PV, 30 % of
    those a 5–10 kWh battery at 0.5 C. The transformer is a standard 160 kVA unit (scaled by
    homes/184 for smaller grids), which PV noon export on a sunny day exceeds.
    Every battery home plans with the MILP planner, and with the exchange's local offers
    (``benchmarks/welfare.py``: welfare ratio 0.82 against 0.57 rule-planned, no home worse off
    against 3); ``planner="rule"`` gives the greedy self-consumption of the first version.
    """
    if homes < 1:
        raise ValueError("a scenario needs at least one home")
    rng = np.random.default_rng(seed)
    feeders = ("f1", "f2", "f3")
    configs = []
    for i in range(homes):
        has_pv = rng.random() < penetration.pv
        has_battery = has_pv and rng.random() < penetration.battery_of_pv
        battery = None
        if has_battery:
            cap = int(rng.choice([5000, 7500, 10000]))
            battery = Battery(capacity_wh=cap, power_w=cap // 2, initial_soc=0.3)
        configs.append(
            HomeConfig(
                home_id=f"home-{i + 1:03d}",
                zone=feeders[i % 3],
                annual_kwh=float(np.clip(rng.lognormal(np.log(3500), 0.35), 1200, 12000)),
                load_profile=str(rng.choice(HOUSEHOLD_PROFILES)),
                pv_kwp=float(np.round(rng.uniform(4.0, 8.0), 1)) if has_pv else 0.0,
                pv_profile=str(rng.choice(PV_PROFILES)) if has_pv else "",
                battery=battery,
            )
        )
    kva = transformer_kva if transformer_kva is not None else round(160.0 * homes / 184, 1)
    grid = LVGrid(kva, feeders, {h.home_id: h.zone for h in configs})
    return Scenario(
        name=f"default-{homes}",
        homes=configs,
        grid=grid,
        tariff=two_rate_tariff(),
        start_day=unix_day(start),
        days=days,
        seed=seed,
        planner=planner,
        indicative_prices=planner == "milp",
        community_balancing=planner == "milp",
    )


#: the presets' shiftable runs: the dishwasher in the evening, the washer in the day
APPLIANCES = (Appliance("dishwasher", (400, 400, 300, 100), 76, 96),
              Appliance("washer", (500, 500, 200, 200), 28, 80))


def preset_scenario(
    preset: str,
    homes: int = 184,
    days: int = 1,
    seed: int = 0,
    start: dt.date = DEFAULT_START,
    transformer_kva: float | None = None,
) -> Scenario:
    """The default grid with the assets of one of the 12 presets, planned by the MILP planner.

    Per home, seeded: PV 4–8 kWp; batteries 5–10 kWh (PV homes first); EVs home from 17:00–19:30
    needing 6–14 kWh, plugged in until 07:00 the next morning (7.4 kW charger; each day's plan
    may leave part of it to the morning, which the next day's plan must charge); heat pumps of
    3 kW in a house with τ = 30 h; smart appliances are a dishwasher (evening to midnight) and a
    washing machine (07:00–20:00).
    """
    from sim.presets import PRESETS

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    base = default_scenario(homes, days, seed, start, transformer_kva,
                            Penetration(pv=0, battery_of_pv=0))
    rng = np.random.default_rng(seed + 1000)
    n = len(base.homes)
    order = rng.permutation(n)
    pv_homes = set(order[: round(p.pv * n)].tolist())
    # batteries: PV homes first, then others if the share is larger than PV's
    by_pv = sorted(range(n), key=lambda i: (i not in pv_homes, rng.random()))
    battery_homes = set(by_pv[: round(p.battery * n)])
    ev_homes = set(rng.permutation(n)[: round(p.ev * n)].tolist())
    hp_homes = set(rng.permutation(n)[: round(p.heat_pump * n)].tolist())
    sa_homes = set(rng.permutation(n)[: round(p.smart_appliances * n)].tolist())
    # each household's favourite starts of its runs, from a stream of their own (the homes'
    # other draws stay as they were): uniform over the starts the windows allow
    taste = np.random.default_rng(seed + 2000)
    homes_out = []
    for i, h in enumerate(base.homes):
        cap = int(rng.choice([5000, 7500, 10000]))
        runs = tuple(replace(app, preferred_start=int(taste.integers(
            app.earliest, app.latest_finish - len(app.profile_wh) + 1))) for app in APPLIANCES)
        homes_out.append(HomeConfig(
            home_id=h.home_id, zone=h.zone, annual_kwh=h.annual_kwh, load_profile=h.load_profile,
            pv_kwp=float(np.round(rng.uniform(4.0, 8.0), 1)) if i in pv_homes else 0.0,
            pv_profile=str(rng.choice(PV_PROFILES)) if i in pv_homes else "",
            battery=Battery(cap, cap // 2, initial_soc=0.3) if i in battery_homes else None,
            ev=ElectricVehicle(arrival=int(rng.integers(68, 79)), departure=96,
                               energy_wh=int(rng.integers(6, 15)) * 1000,
                               stays_until=28)
            if i in ev_homes else None,
            heat_pump=HeatPump() if i in hp_homes else None,
            appliances=runs if i in sa_homes else (),
        ))
    base.homes = homes_out
    base.grid = LVGrid(base.grid.transformer_kva, base.grid.feeders,
                       {h.home_id: h.zone for h in homes_out})
    base.name = preset
    base.planner = "milp"
    # MILP homes plan once more at the exchange's local offers (benchmarks/welfare.py measures
    # every preset with them; on 2030-green-high, 60 homes: welfare ratio 0.52 without, 0.75 with)
    base.indicative_prices = True
    base.community_balancing = True
    # A capacity tariff on the daily 15-minute peak (Belgium bills ~43 €/kW a year, here a
    # daily 0.12 €/kW), billed as in Flanders at no less than 2.5 kW: it makes every home spread
    # its own EV and heat-pump load, and leaves a peak below 2.5 kW uncharged.
    base.tariff = two_rate_tariff(capacity_per_kw_day=120_000,
                                  capacity_min_peak_wh=FLANDERS_MIN_PEAK_WH)
    return base


def outdoor_temperature_c(day: int) -> np.ndarray:
    """A seasonal, diurnal outdoor temperature (°C per slot) for heat-pump homes."""
    doy = (day - PROFILE_YEAR_START) % 366
    hour = np.arange(SLOTS_PER_DAY) / 4
    return (10 + 8 * np.sin(2 * np.pi * (doy - 110) / 365)
            + 4 * np.sin(2 * np.pi * (hour - 9) / 24))


def home_day_wh(home: HomeConfig, profiles: Profiles, day: int) -> tuple[np.ndarray, np.ndarray]:
    """Actual load and PV (integer Wh per slot) of ``home`` on unix ``day``."""
    norm = profiles.day(home.load_profile, day)
    kw_per_unit = home.annual_kwh / (profiles.annual_sum(home.load_profile) * 0.25)
    load = np.rint(norm * kw_per_unit * 250).astype(np.int64)
    if home.pv_kwp > 0:
        pv = np.rint(profiles.day(home.pv_profile, day) * home.pv_kwp * 250).astype(np.int64)
    else:
        pv = np.zeros(SLOTS_PER_DAY, dtype=np.int64)
    return load, pv


def home_year_wh(home: HomeConfig, profiles: Profiles) -> tuple[np.ndarray, np.ndarray]:
    """Load and PV (integer Wh per slot) of ``home`` over the whole profile year.

    The same scaling as :func:`home_day_wh`, for every slot of the year at once.
    """
    norm = profiles.series[home.load_profile]
    kw_per_unit = home.annual_kwh / (profiles.annual_sum(home.load_profile) * 0.25)
    load = np.rint(norm * kw_per_unit * 250).astype(np.int64)
    if home.pv_kwp > 0:
        pv = np.rint(profiles.series[home.pv_profile] * home.pv_kwp * 250).astype(np.int64)
    else:
        pv = np.zeros(profiles.n_slots, dtype=np.int64)
    return load, pv
