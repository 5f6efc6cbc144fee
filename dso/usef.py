"""The USEF plan/validate loop, day ahead, from the DSO's side (pure).

Round r: the aggregated A-plans give the D-prognosis of each congestion point's flow; every
slot whose prognosis exceeds a point's rating in a direction gets that point's price in that
direction raised by ``step × (|flow| / limit − 1) + floor``; prices only rise, so the loop
cannot cycle. The homes re-plan with those prices as fees on imports (or exports), weighted by
how much their energy loads each point, and the loop repeats until the prognosis is within
limits or ``max_rounds`` is reached. ``replan(import_price, export_price)`` is the caller's: it
returns the new prognosis (Wh per slot, + = import), of the same shape as the first one — one
point (the transformer: a vector of slots, one limit) or several (points × slots, a limit each).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ValidationResult:
    """Prices (µ€/kWh) per slot (and point) for import and export, the final prognosis, and the
    history: slots with any point overloaded, before the first round and after each."""

    import_price: np.ndarray
    export_price: np.ndarray
    prognosis_wh: np.ndarray
    rounds: int
    overloaded_per_round: list[int] = field(default_factory=list)

    @property
    def within_limits(self) -> bool:
        return self.overloaded_per_round[-1] == 0


def validate(first_prognosis_wh: np.ndarray, limit_wh: int | np.ndarray,
             replan: Callable[[np.ndarray, np.ndarray], np.ndarray], max_rounds: int = 8,
             step: int = 100_000, floor: int = 20_000, cap: int = 2_000_000,
             export_cap: int | None = None) -> ValidationResult:
    """Run the loop; see the module docstring. ``export_cap``: the most an export price may
    be (µ€/kWh), the cost of the DSO's curtailing in the operate phase instead (see
    ``dso.pricing.PricingRule``)."""
    prognosis = np.asarray(first_prognosis_wh, float)
    limit = np.asarray(limit_wh, float)
    if prognosis.ndim == 2:
        limit = limit.reshape(-1, 1)
    imp = np.zeros(prognosis.shape, np.int64)
    exp = np.zeros(prognosis.shape, np.int64)

    def overloaded(flow: np.ndarray) -> int:
        over = np.abs(flow) > limit
        return int((over.any(axis=0) if over.ndim == 2 else over).sum())

    history = [overloaded(prognosis)]
    rounds = 0
    while history[-1] and rounds < max_rounds:
        over = np.abs(prognosis) / limit - 1
        raise_by = np.where(over > 0, (step * over + floor).astype(np.int64), 0)
        imp = np.minimum(imp + np.where(prognosis > 0, raise_by, 0), cap)
        exp = np.minimum(exp + np.where(prognosis < 0, raise_by, 0),
                         cap if export_cap is None else min(cap, export_cap))
        prognosis = np.asarray(replan(imp, exp), float)
        rounds += 1
        history.append(overloaded(prognosis))
    return ValidationResult(imp, exp, prognosis, rounds, history)
