"""Load and PV profiles: real published 15-minute profiles from SimBench, or a seeded generator.

SimBench (simbench package) ships a year (2016, 35,136 quarter hours) of normalised household
load profiles (H0-*: peak = 1) and PV profiles (PV1..PV8: per kWp). Its time stamps have no
daylight-saving shift; we read them as UTC. The synthetic source is for fast tests.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import numpy as np

from protocol.units import SLOTS_PER_DAY

PROFILE_YEAR_START = int(dt.datetime(2016, 1, 1, tzinfo=dt.UTC).timestamp()) // 86400
HOUSEHOLD_PROFILES = ("H0-A", "H0-B", "H0-C", "H0-G", "H0-L")
PV_PROFILES = tuple(f"PV{i}" for i in range(1, 9))


class Profiles:
    """Normalised profiles by name: ``series[name]`` is one value per slot of the profile year."""

    def __init__(self, series: dict[str, np.ndarray], source: str) -> None:
        self.series = series
        self.source = source
        self.n_slots = len(next(iter(series.values())))

    def day(self, name: str, unix_day: int) -> np.ndarray:
        """The 96 values of ``name`` on the profile day matching ``unix_day`` (wrapping yearly)."""
        n_days = self.n_slots // SLOTS_PER_DAY
        d = (unix_day - PROFILE_YEAR_START) % n_days
        return self.series[name][d * SLOTS_PER_DAY : (d + 1) * SLOTS_PER_DAY]

    def annual_sum(self, name: str) -> float:
        """Sum of the normalised values over the whole profile year."""
        return float(self.series[name].sum())


def _simbench_dir() -> Path:
    import simbench

    root = Path(simbench.__file__).parent / "networks"
    for d in sorted(root.iterdir()):
        if (d / "LoadProfile.csv").exists() and (d / "RESProfile.csv").exists():
            return d
    raise FileNotFoundError("simbench profiles not found in the installed simbench package")


@lru_cache(maxsize=1)
def simbench_profiles() -> Profiles:
    """Household load and PV profiles shipped by the simbench package."""
    import pandas as pd

    d = _simbench_dir()
    load = pd.read_csv(d / "LoadProfile.csv", sep=";",
                       usecols=[f"{n}_pload" for n in HOUSEHOLD_PROFILES])
    pv = pd.read_csv(d / "RESProfile.csv", sep=";", usecols=list(PV_PROFILES))
    series = {n: load[f"{n}_pload"].to_numpy(dtype=np.float64) for n in HOUSEHOLD_PROFILES}
    series.update({n: pv[n].to_numpy(dtype=np.float64) for n in PV_PROFILES})
    return Profiles(series, "simbench")


def synthetic_profiles(seed: int = 0, days: int = 366) -> Profiles:
    """A seeded generator with the same names and shapes: for fast tests, not for studies."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * SLOTS_PER_DAY) % SLOTS_PER_DAY / 4.0  # hour of day
    doy = np.arange(days * SLOTS_PER_DAY) // SLOTS_PER_DAY
    series: dict[str, np.ndarray] = {}
    for i, name in enumerate(HOUSEHOLD_PROFILES):
        base = 0.15 + 0.35 * np.exp(-((t - 7.5 - i * 0.2) ** 2) / 2)
        base += 0.7 * np.exp(-((t - 19 + i * 0.3) ** 2) / 4)
        noise = rng.gamma(2.0, 0.5, size=t.size)
        s = base * noise
        series[name] = s / s.max()
    season = 0.55 + 0.45 * np.sin((doy - 80) / 366 * 2 * np.pi)
    for name in PV_PROFILES:
        bell = np.clip(np.cos((t - 12.5) / 7.5 * np.pi / 2 * 1.6), 0, None) ** 1.5
        clouds = np.repeat(rng.uniform(0.3, 1.0, size=days), SLOTS_PER_DAY)
        clouds *= rng.uniform(0.85, 1.0, size=t.size)
        series[name] = 0.7 * bell * season * clouds
    return Profiles(series, "synthetic")
