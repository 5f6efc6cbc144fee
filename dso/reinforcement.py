"""What reinforcing the grid instead would cost the DSO: an annuity, against which its
flexibility costs are weighed (``benchmarks/congestion.py``; each run's ``summary.json``)."""

from __future__ import annotations

from dataclasses import dataclass

DAYS_PER_YEAR = 365


@dataclass(frozen=True)
class Reinforcement:
    """The reinforcement the DSO's flexibility stands in for: its capital cost (€), its life
    (years) and the DSO's rate of interest (per year). Default: a 400 kVA unit and its works,
    replacing the 200 (or 160) kVA one."""

    capex_eur: float = 30_000.0
    life_years: int = 40
    rate: float = 0.04

    def __post_init__(self) -> None:
        if self.capex_eur < 0 or self.life_years < 1 or self.rate < 0:
            raise ValueError("reinforcement: capex ≥ 0, life ≥ 1 year and rate ≥ 0 expected")

    def annuity_eur(self) -> float:
        """The equal yearly payment that repays ``capex_eur`` over the life at the rate (€)."""
        if self.rate == 0:
            return self.capex_eur / self.life_years
        return self.capex_eur * self.rate / (1 - (1 + self.rate) ** -self.life_years)

    def per_day_eur(self) -> float:
        """The annuity per day (€), to set against the DSO's costs of a simulated day."""
        return self.annuity_eur() / DAYS_PER_YEAR
