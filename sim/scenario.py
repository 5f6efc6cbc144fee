"""Scenarios: the homes, the grid, the tariff and the period to simulate.

The default is the seed project's reference size: 184 homes in 3 feeders (local energy
communities) under one MV/LV transformer, with real SimBench household and PV profiles.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from dso.grid import LVGrid
from node.home import Battery, HomeConfig
from protocol.tariff import Tariff, two_rate_tariff
from protocol.units import SLOTS_PER_DAY
from sim.profiles import HOUSEHOLD_PROFILES, PV_PROFILES, Profiles

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
    forecast_noise: float = field(default=0.0)

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
) -> Scenario:
    """184 homes (or ``homes``) round-robin over 3 feeders, seeded asset draw.

    Yearly consumption is log-normal around 3,500 kWh; 60 % of homes have 4–8 kWp of PV, 30 % of
    those a 5–10 kWh battery at 0.5 C. The transformer is a standard 160 kVA unit (scaled by
    homes/184 for smaller grids), which PV noon export on a sunny day exceeds.
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
    )


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
