"""Real-time community balancing: home batteries answer the street's imbalance (pure; Wh).

The exchange publishes the street's net through the transformer as its meters see it (the
aggregate only, as Elia publishes Belgium's system imbalance every minute, for market parties to
help the system). A home battery's controller holds its home's planned net
(``node.control.track_plan``) and, on top, leans against the street (``answer_street``):
where the street exports, it charges more from the neighbours' surplus, which the supplier
would buy at the feed-in price; where the street imports and no later slot of the day costs
more at retail, it discharges into the neighbours' demand, which the supplier would sell at
retail — below its plan only while the street still expects a surplus to refill it from
(``discharge_floor_wh``). Each battery offers what its power and charge leave after its own
slot; the street's imbalance is shared out pro rata to those offers, never beyond the
imbalance, so the street's flow keeps its direction and only shrinks. Where a later slot's
export is congested, the room is kept for that surplus, which the grid cannot take: the
batteries then answer only a slot's export beyond the rating — and where the DSO prices that
later export, each only with the room its own plan leaves it over the rest of the day
(``kept_room_wh``). The energy moves
through the community pool (``ledger.settlement_batch``), priced by the direction the slot
really had (``pool_price_realised``): a battery that absorbs a surplus buys near feed-in, one
that covers a shortfall sells near retail, so answering the street pays the battery as well as
the street.
Measured in ``benchmarks/welfare.py``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from node.home import Battery


def stored_after(battery: Battery, soc_wh: float, energy_wh: int) -> float:
    """The SoC (Wh) after ``energy_wh`` (grid side, + = charging) from ``soc_wh``."""
    eta = battery.one_way_efficiency
    if energy_wh > 0:
        return min(soc_wh + energy_wh * eta, float(battery.capacity_wh))
    return max(soc_wh + energy_wh / eta, 0.0)


def charge_room_wh(battery: Battery, soc_wh: float, energy_wh: int) -> int:
    """How much more the battery can charge this slot (grid side, Wh) than ``energy_wh``, from
    ``soc_wh`` at the slot's start: within its power and what it can still hold."""
    eta = battery.one_way_efficiency
    most = int(min(battery.max_slot_wh, max(battery.capacity_wh - soc_wh, 0.0) / eta))
    return max(most - energy_wh, 0)


def discharge_room_wh(battery: Battery, soc_wh: float, energy_wh: int,
                      floor_wh: float = 0.0) -> int:
    """How much more the battery can discharge this slot (grid side, Wh) than ``energy_wh``,
    from ``soc_wh`` at the slot's start: within its power and what it holds above
    ``floor_wh`` at the slot's end."""
    eta = battery.one_way_efficiency
    left = stored_after(battery, soc_wh, energy_wh) - floor_wh  # above the floor after its slot
    return int(max(min(battery.max_slot_wh + energy_wh, left * eta), 0.0))


def discharge_floor_wh(planned_soc_wh: float, surplus_ahead: bool) -> float:
    """The SoC (Wh) below which a battery does not discharge into the street's demand: none
    while the street expects a surplus later in the day (the battery refills from it, near
    feed-in), else the plan's SoC for the slot (what the rest of the day and tomorrow's plan,
    which starts where today's ends, rely on)."""
    return 0.0 if surplus_ahead else planned_soc_wh


def share_imbalance(street_wh: int, room_wh: dict[Hashable, int]) -> dict[Hashable, int]:
    """Each battery's change of energy (grid side, Wh; + = charge more) that answers the street's
    net ``street_wh`` (+ = import): the imbalance, or all the room if less, shared pro rata to
    ``room_wh`` (room in the direction that answers it), rounded down so that the street's flow
    never changes sign."""
    total = sum(v for v in room_wh.values() if v > 0)
    if not street_wh or not total:
        return {}
    need = min(abs(street_wh), total)
    sign = 1 if street_wh < 0 else -1
    out = {}
    for hid, room in room_wh.items():
        x = need * room // total if room > 0 else 0
        if x:
            out[hid] = sign * x
    return out


def storage_needed_slots(prognosis_wh: np.ndarray, planned_charging_wh: np.ndarray,
                         rating_wh: float) -> set[int]:
    """The slots (index) whose street export the A-plans keep within the transformer's
    ``rating_wh`` only by their batteries' planned charging (``planned_charging_wh``, the
    street's sum, Wh ≥ 0): without it the prognosis (Wh, + = import) would export beyond the
    rating. A battery that fills earlier from a surplus the grid could take would be full
    there, and the DSO would curtail that PV."""
    without = np.asarray(prognosis_wh, float) - np.asarray(planned_charging_wh, float)
    return set(np.flatnonzero(without < -rating_wh).tolist())


@dataclass(frozen=True)
class BalancingBattery:
    """A battery in the slot being metered, after its own controller ran it."""

    battery: Battery
    soc_wh: float  # at the slot's start
    energy_wh: int  # what its controller ran (grid side, + = charging)
    planned_soc_wh: float  # the plan's SoC at the slot's end
    import_room_wh: int | None = None  # the most more its home may import (capacity tariff)
    # the plan's highest SoC from this slot's end on (Wh): where the DSO prices a later slot's
    # export, the room its own plan fills there is kept (``kept_room_wh``); None: not asked
    later_peak_soc_wh: float | None = None


def kept_room_wh(b: BalancingBattery) -> int:
    """How much more battery ``b`` may charge from the street this slot (grid side, Wh) and
    still hold, at its plan's later peak, what its own plan stores there: a battery that
    fills now from a surplus beyond the rating would be full when its own PV is — a later
    surplus the grid cannot take either — and its home would export that at the capped price
    instead of storing it, having paid its neighbours for the same energy."""
    eta = b.battery.one_way_efficiency
    above_plan = stored_after(b.battery, b.soc_wh, b.energy_wh) - b.planned_soc_wh
    spare = b.battery.capacity_wh - b.later_peak_soc_wh - max(above_plan, 0.0)
    return int(max(spare, 0.0) / eta)


def answer_street(street_wh: int, batteries: dict[Hashable, BalancingBattery], spend_now: bool,
                  surplus_ahead: bool, export_rating_wh: int | None = None
                  ) -> dict[Hashable, int]:
    """Each battery's change of energy (grid side, Wh) that answers the street's net
    ``street_wh`` (+ = import), by the rules of the module docstring. ``spend_now``: no later
    slot of the day costs more at retail (else an import is not answered); ``surplus_ahead``:
    the street expects a surplus later in the day (``discharge_floor_wh``);
    ``export_rating_wh``: where a later slot's export is congested, the rating (only what the
    slot exports beyond it is answered, each battery within the room its own plan leaves it
    over the rest of the day, ``kept_room_wh``)."""
    street = street_wh
    if street > 0 and not spend_now:
        return {}
    if street < 0 and export_rating_wh is not None:
        street = min(street + export_rating_wh, 0)
    room = {}
    for key, b in batteries.items():
        if street > 0:
            floor = discharge_floor_wh(b.planned_soc_wh, surplus_ahead)
            room[key] = discharge_room_wh(b.battery, b.soc_wh, b.energy_wh, floor)
        else:
            room[key] = charge_room_wh(b.battery, b.soc_wh, b.energy_wh)
            if b.import_room_wh is not None:
                room[key] = min(room[key], max(b.import_room_wh, 0))
            if export_rating_wh is not None and b.later_peak_soc_wh is not None:
                room[key] = min(room[key], kept_room_wh(b))
    return share_imbalance(street, room)
