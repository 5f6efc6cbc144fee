"""The DSO buys flexibility day ahead, home by home (USEF FlexRequest → FlexOffer → FlexOrder).

Uniform congestion prices make homes with the same MILP herd: all leave the priced slot for the
same cheaper one, which then overloads (see ``dso/usef.py``). Here the DSO asks instead:

1. FlexRequest: the slots where the D-prognosis (Wh per slot, + = import through the
   transformer) exceeds ``target = limit × (1 − margin)``; the margin covers forecast error.
2. The aggregator asks its flexible homes one at a time, those with the most energy in the
   overloaded slots first. A home re-plans within the *room* the rest of the street leaves it,
   ``room_import[t] = target − (prognosis[t] − own[t])`` (and the mirror for export); energy
   beyond its room is penalised in its planning, so it moves load only to slots that still have
   room. Because each home sees the prognosis left by those asked before it, no two homes rush
   into the same free slot.
3. FlexOffer: the new plan, the overload it removes (Wh, counted on the current prognosis) and
   its price — the home's extra cost at its own prices, so taking part never leaves it worse off.
4. FlexOrder: the DSO takes every offer that removes overload — in total, and without piling
   it into fewer, worse slots (the sum of squared overloads falls too) — at no more than
   ``max_price`` µ€ per kWh removed; the prognosis moves to the new plan at once.

Rounds repeat over the homes not yet ordered until the prognosis is within the target or a round
orders nothing. Pure: the caller's ``replan(home, import_room, export_room)`` returns the
home's new net plan (Wh per slot) and its extra cost (µ€).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

Replan = Callable[[str, np.ndarray, np.ndarray], tuple[np.ndarray, int]]


@dataclass(frozen=True)
class FlexPurchase:
    """A FlexOrder: the home's new net plan, the overload it removes, what the DSO pays."""

    home: str
    net_wh: np.ndarray
    relief_wh: int
    price_ueur: int


@dataclass
class FlexResult:
    """What the DSO ordered and the prognosis it leaves."""

    orders: list[FlexPurchase]
    prognosis_wh: np.ndarray
    target_wh: int | np.ndarray  # one target for every slot, or one per slot
    overloaded_per_round: list[int] = field(default_factory=list)
    offers_asked: int = 0

    @property
    def cost_ueur(self) -> int:
        return sum(o.price_ueur for o in self.orders)


def overload_wh(prognosis: np.ndarray, target_wh: int | np.ndarray) -> np.ndarray:
    """Energy beyond the target in either direction, Wh per slot."""
    return np.maximum(np.abs(prognosis) - target_wh, 0)


def procure(prognosis_wh: np.ndarray, own_net_wh: Mapping[str, np.ndarray],
            limit_wh: int | np.ndarray, replan: Replan, margin: float = 0.05,
            max_price: int = 2_000_000, max_rounds: int = 3) -> FlexResult:
    """Buy flexibility until the prognosis fits ``limit × (1 − margin)``; see the docstring.

    ``limit_wh`` is the limit on |flow| in every slot, or per slot (an aggregator answering a
    UFTP FlexRequest sets it from the requested and available power of each ISP).
    """
    prognosis = np.asarray(prognosis_wh, dtype=float).copy()
    own = {h: np.asarray(v, dtype=float) for h, v in own_net_wh.items()}
    target = (np.floor(np.asarray(limit_wh, dtype=float) * (1 - margin))
              if np.ndim(limit_wh) else int(limit_wh * (1 - margin)))
    result = FlexResult([], prognosis, target)
    result.overloaded_per_round.append(int((overload_wh(prognosis, target) > 0).sum()))
    ordered: set[str] = set()
    for _ in range(max_rounds):
        if not result.overloaded_per_round[-1]:
            break
        over = overload_wh(prognosis, target) > 0
        # most energy in the congested slots first; ties by home id, for determinism
        order = sorted((h for h in own if h not in ordered),
                       key=lambda h: (-float(np.abs(own[h][over]).sum()), h))
        ordered_before = len(ordered)
        for home in order:
            before = overload_wh(prognosis, target)
            if not before.any():
                break
            if not np.abs(own[home][before > 0]).any():
                continue
            others = prognosis - own[home]
            import_room = target - others
            export_room = target + others
            new_net, price = replan(home, import_room, export_room)
            result.offers_asked += 1
            new_net = np.asarray(new_net, dtype=float)
            after = overload_wh(others + new_net, target)
            relief = float(before.sum() - after.sum())
            # an offer must also not pile overload into fewer, worse slots (squares fall)
            spreads = float((after**2).sum()) < float((before**2).sum())
            if relief <= 0 or not spreads or max(price, 0) > max_price * relief / 1000:
                continue
            prognosis = others + new_net
            own[home] = new_net
            ordered.add(home)
            result.orders.append(FlexPurchase(home, np.rint(new_net).astype(np.int64),
                                           round(relief), max(int(price), 0)))
        result.overloaded_per_round.append(int((overload_wh(prognosis, target) > 0).sum()))
        if len(ordered) == ordered_before:
            break  # nobody offered anything the DSO took: asking again changes nothing
    result.prognosis_wh = prognosis
    return result
