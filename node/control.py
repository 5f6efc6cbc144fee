"""Real-time battery control of a planned home: hold the grid position the plan traded.

The plan (and the market position bought or sold on it) rests on forecasts. In delivery the
battery absorbs the forecast error: each slot it charges or discharges so that the home's net
import equals the planned net, within its power and state of charge. What it cannot absorb is the
home's imbalance, settled at the supplier's prices. Running the planned battery energies
open-loop instead would charge from the grid when the PV falls short of its forecast and export
when the load does.
"""

from __future__ import annotations

import numpy as np

from node.home import Battery


def track_plan(planned_net_wh: int, other_wh: int, battery: Battery, soc_wh: float,
               floor_wh: float | None = None, planned_wh: float = 0.0,
               import_cap_wh: float | None = None, guard_floor_wh: float = 0.0,
               ceiling_wh: float | None = None,
               export_cap_wh: float | None = None) -> tuple[int, float]:
    """The battery's grid-side energy this slot (Wh, + = charging) and its new SoC (Wh).

    ``planned_net_wh``: the plan's net import for the slot (Wh, + = import);
    ``other_wh``: the home's real net without the battery (load + scheduled assets − PV used);
    ``floor_wh``: the SoC the slot should not end below (the planned SoC less a tolerance):
    what the plan keeps for later (an evening peak, a congested slot) is not spent on this
    slot's error. Below it the battery runs no further from the plan than ``planned_wh``, the
    plan's own energy for the slot: it never charges back from the grid beyond the plan,
    which would put the catching up into whatever slot comes next, congested or not; with a
    peak guard, a planned discharge below it runs only as far as the cap needs it.
    ``import_cap_wh``: the peak guard — the import the day's capacity charge already bills
    (the planned peak, or the day's metered peak if higher): where the slot would import more,
    the battery charges less and discharges, below the floor if need be, down to the cap — but
    not below ``guard_floor_wh`` (SoC, Wh): what it lends now, later slots must import.
    ``ceiling_wh``: the SoC the plan means the slot to end with at most: above it the battery
    charges from the grid no further (the home's own surplus it still stores). Where the load
    fell short of its forecast, the battery spent less than planned, and the grid charging
    the plan meant to refill it is not needed: holding the net would buy energy for nothing.
    ``export_cap_wh``: where export beyond what the home sold earns nothing (the DSO's export
    price takes the whole feed-in price), what it sold (Wh): the battery discharges no further
    than to export that much. A plan that counted on a neighbour's purchase nobody made at
    the gate would otherwise give the stored energy away, into a congested slot.
    """
    want = planned_net_wh - other_wh
    eta = battery.one_way_efficiency
    if floor_wh is not None:
        floor = min(max(floor_wh, 0.0), float(battery.capacity_wh))
        least = (floor - soc_wh) / eta if floor > soc_wh else (floor - soc_wh) * eta
        allowed = planned_wh
        if import_cap_wh is not None and floor > soc_wh and planned_wh < 0:
            # below the floor after a loan: a planned discharge runs only as far as the cap
            # needs it, the rest stays in to pay the loan back
            allowed = max(planned_wh, min(import_cap_wh - other_wh, 0.0))
        want = max(want, int(np.ceil(min(least, allowed))))
    most_in = int(min(battery.max_slot_wh, max(battery.capacity_wh - soc_wh, 0.0) / eta))
    most_out = int(min(battery.max_slot_wh, max(soc_wh, 0.0) * eta))
    e = min(max(want, -most_out), most_in)
    if export_cap_wh is not None and e < 0:
        e = min(max(e, int(np.ceil(-max(export_cap_wh, 0.0) - other_wh))), 0)
    if ceiling_wh is not None and e > 0:
        room = max(ceiling_wh - soc_wh, 0.0) / eta
        e = min(e, max(int(np.ceil(room)), -other_wh))
    if import_cap_wh is not None and other_wh + e > import_cap_wh:
        lend = int(min(most_out, max(soc_wh - guard_floor_wh, 0.0) * eta))
        e = min(e, max(int(np.floor(import_cap_wh)) - other_wh, -lend))
    if e > 0:
        return e, min(soc_wh + e * eta, float(battery.capacity_wh))
    if e < 0:
        return e, max(soc_wh + e / eta, 0.0)
    return 0, soc_wh


def lendable_wh(later_battery_wh: np.ndarray, later_net_wh: np.ndarray, cap_wh: float) -> float:
    """What the peak guard may lend now (grid side, Wh): the part of the later slots' planned
    discharges (``later_battery_wh``, − = discharge) that they can go without while their
    planned import (``later_net_wh``) stays within ``cap_wh``."""
    return float(np.minimum(np.maximum(-np.asarray(later_battery_wh, float), 0.0),
                            np.maximum(cap_wh - np.asarray(later_net_wh, float), 0.0)).sum())


def reachable_soc(battery: Battery, ran_wh: np.ndarray, soc0_wh: float, slots_left: int,
                  wanted_wh: float) -> float:
    """``wanted_wh`` (a day-end SoC, Wh) as far as ``battery`` can reach it: from ``soc0_wh``
    at the day's start, moved by the schedule it ran (``ran_wh``, grid side, Wh per slot; one
    it can run, as ``feasible_schedule`` gives), then charging at full power for ``slots_left``
    slots; never above its capacity."""
    soc = soc0_wh
    eta = battery.one_way_efficiency
    for e in np.asarray(ran_wh, float):
        soc += e * eta if e > 0 else e / eta
    most = soc + slots_left * battery.max_slot_wh * eta - 1.0  # a margin for rounding
    return float(min(wanted_wh, most, battery.capacity_wh))


def feasible_schedule(battery_wh: np.ndarray, battery: Battery, soc_wh: float) -> np.ndarray:
    """``battery_wh`` (grid side, Wh per slot) clipped so that it can run from ``soc_wh``:
    within the battery's power, never below empty nor above full."""
    out = np.zeros(len(battery_wh))
    eta = battery.one_way_efficiency
    soc = soc_wh
    for t, e in enumerate(battery_wh):
        if e > 0:
            e = min(e, battery.max_slot_wh, max(battery.capacity_wh - soc, 0.0) / eta)
            soc += e * eta
        else:
            e = -min(-e, battery.max_slot_wh, max(soc, 0.0) * eta)
            soc += e / eta
        out[t] = e
    return out
