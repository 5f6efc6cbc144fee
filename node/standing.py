"""Whether a home's plan still stands at new prices, so a re-plan need not be solved.

A home re-plans when the DSO raises its prices during the day (``sim.runner``'s intraday
re-plans). Most of those re-plans return the plan the home has (a 2030-green-high day: 645 of
834): every home imports its base load in the raised slots, but one whose appliances already
have their starts, and whose EV or heat pump draws nothing there, cannot import less there.
This proof answers 276 of those 834 unsolved (the rest of the 645 could move energy and find
it does not pay, or their battery ran off plan, or a price they answered fell again).

``plan_stands`` proves it without solving. A plan x was optimal for its programme at costs c.
The new call asks the same programme (same forecasts, assets, state and offers), with more of
its slots kept as x ran them and anchored to x, at costs c + Δ that rise only on the import of
slots where x imports the least any plan could (``Standing.least_import``: every other column
of the slot's energy balance sits at the bound that keeps the import down) or where x imports
nothing, and likewise on export. Then every plan y of the new programme pays the rise at least
on what x pays it on, Δ·y ≥ Δ·x, and costs at least c·x besides (x was the cheapest, and the
anchor charges y at least what it saved against x's own anchor); so x is still the cheapest.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from node.milp import MilpPlan

#: How near its bound a column's value counts as at it (Wh): far below a µ€ of cost
AT_BOUND_WH = 1e-6
#: The rise a plan may pay on energy it could still move (µ€, at the new prices) and stand
TOLERANCE_UEUR = 1e-3
#: plan_home's arguments a plan stands only with unchanged: all but the prices, the kept
#: plan and its anchor, and the appliances' starts (``plan_stands`` checks those its own way)
_FREE = frozenset({"buy", "sell", "keep", "keep_until", "anchor_ueur_per_wh",
                   "appliance_starts"})


@dataclass(frozen=True)
class Standing:
    """What a plan needs to prove it still stands (``plan_stands``): the digest of the inputs
    it was planned from (``inputs_digest``), its prices (µ€/kWh per slot), the slots it kept
    of an earlier plan and the anchor to that plan (µ€/Wh; 0 without), the appliances whose
    starts it was given, and per slot whether it imports (exports) the least any plan of its
    programme could there."""

    inputs: bytes
    buy: np.ndarray = field(repr=False)
    sell: np.ndarray = field(repr=False)
    kept_until: int
    anchor_ueur_per_wh: float
    fixed_starts: frozenset[str]
    least_import: np.ndarray = field(repr=False)
    least_export: np.ndarray = field(repr=False)


def balance_entries(A, balance_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries of the balance rows of ``A`` (a scipy sparse matrix): their slots (the
    index into ``balance_rows``), columns and values."""
    coo = A.tocoo()
    slot_of = np.full(A.shape[0], -1)
    slot_of[balance_rows] = np.arange(len(balance_rows))
    on = slot_of[coo.row] >= 0
    return slot_of[coo.row[on]], coo.col[on], coo.data[on]


def least_flows(entries: tuple[np.ndarray, np.ndarray, np.ndarray], x: np.ndarray,
                lo: np.ndarray, hi: np.ndarray, imp: np.ndarray, exp: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per slot, whether the solution ``x`` (within ``lo``..``hi``) imports, and whether it
    exports, the least it could: in the slot's balance row (``entries``, ``balance_entries``)
    every column but the import's (export's) is at the bound that keeps the import (export)
    down. The row is Σ a·x = load with import at +1 and export at −1: the import falls only as
    a column of a > 0 rises or one of a < 0 falls."""
    slot, col, a = entries
    at_lo = x[col] <= lo[col] + AT_BOUND_WH
    at_hi = x[col] >= hi[col] - AT_BOUND_WH
    T = len(imp)
    held_import = ((a > 0) & at_hi) | ((a < 0) & at_lo) | (col == imp[slot])
    held_export = ((a > 0) & at_lo) | ((a < 0) & at_hi) | (col == exp[slot])
    return (np.bincount(slot, ~held_import, T) == 0, np.bincount(slot, ~held_export, T) == 0)


def _digest_of(value: Any, into) -> None:
    """Feed ``value`` (arrays, numbers, None, dataclasses, tuples, mappings) into the hash
    ``into``, its type with it."""
    if isinstance(value, np.ndarray):
        into.update(f"a{value.dtype.str}{value.shape}".encode())
        into.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (tuple, list)):
        into.update(f"t{len(value)}".encode())
        for item in value:
            _digest_of(item, into)
    elif isinstance(value, Mapping):
        into.update(f"m{len(value)}".encode())
        for key in sorted(value):
            into.update(repr(key).encode())
            _digest_of(value[key], into)
    else:  # numbers, None, the assets' frozen dataclasses: their repr is every field's
        into.update(f"{type(value).__name__}:{value!r};".encode())


def inputs_digest(arguments: Mapping[str, Any]) -> bytes:
    """A digest of ``plan_home``'s ``arguments`` (every parameter by name) but those a plan
    can stand without (``_FREE``)."""
    into = hashlib.blake2b(digest_size=16)
    for name in sorted(arguments):
        if name not in _FREE:
            into.update(name.encode())
            _digest_of(arguments[name], into)
    return into.digest()


@cache
def _parameters() -> tuple[tuple[str, ...], dict[str, Any]]:
    """``plan_home``'s parameters: their names in order, and the defaults."""
    from node.milp import plan_home

    parameters = inspect.signature(plan_home).parameters.values()
    return (tuple(p.name for p in parameters),
            {p.name: p.default for p in parameters if p.default is not p.empty})


def _arguments(args: tuple, kwargs: dict) -> dict[str, Any]:
    """``plan_home(*args, **kwargs)``'s parameters by name, defaults filled in."""
    names, defaults = _parameters()
    unknown = kwargs.keys() - set(names)
    if unknown or len(args) > len(names):
        raise TypeError(f"plan_home takes no {sorted(unknown) or 'more arguments'}")
    return {**defaults, **dict(zip(names[:len(args)], args, strict=True)), **kwargs}


def prices_leave_optimal(mp: MilpPlan, new_buy: np.ndarray, new_sell: np.ndarray) -> bool:
    """Whether ``mp``, optimal at the prices of its ``standing`` (µ€/kWh), is still optimal at
    ``new_buy``/``new_sell``, all else the same: the import price only rises and the export
    price only falls, and only where the plan moves no energy that way or the least it
    could."""
    standing = mp.standing
    rise = np.asarray(new_buy, float) - standing.buy
    fall = standing.sell - np.asarray(new_sell, float)
    if (rise < 0).any() or (fall < 0).any():
        return False
    imported = np.where(standing.least_import, 0.0, mp.import_wh)
    exported = np.where(standing.least_export, 0.0, mp.export_wh)
    return float(rise @ imported + fall @ exported) / 1000 <= TOLERANCE_UEUR


def _keeps(mp: MilpPlan, keep: Any, until: int) -> bool:
    """Whether ``keep``, kept before ``until`` and anchored to, is ``mp`` as it ran: the same
    schedules in the kept slots, the same net after them, and the same appliance starts."""
    if keep is mp:
        return True
    if not hasattr(keep, "net_wh"):  # a centralised plan's schedule, not a home's plan
        return False
    return (keep.appliance_starts == mp.appliance_starts
            and all(np.array_equal(getattr(keep, name)[:until], getattr(mp, name)[:until])
                    for name in ("pv_used_wh", "battery_wh", "ev_wh", "heat_pump_wh"))
            and np.array_equal(keep.net_wh[until:], mp.net_wh[until:]))


def plan_stands(mp: MilpPlan, args: tuple, kwargs: dict) -> bool:
    """Whether ``plan_home(*args, **kwargs)`` would find ``mp`` optimal (see the module
    docstring): the call asks ``mp``'s programme (``Standing.inputs``) at prices that leave it
    optimal (``prices_leave_optimal``), with no marginal values or flexibility (which move
    with the prices); kept and anchored to ``mp`` as it ran, no fewer slots kept and no weaker
    anchor than ``mp`` had (or, where ``mp`` had neither, maybe neither); the appliances that
    ``mp`` was given starts for given them again, every start given ``mp``'s."""
    standing = mp.standing
    if standing is None:
        return False
    arguments = _arguments(args, kwargs)
    if arguments["marginal_values"] or arguments["flexibility"]:
        return False
    keep, until = arguments["keep"], arguments["keep_until"]
    if keep is None:
        if standing.kept_until > 0 or standing.anchor_ueur_per_wh > 0:
            return False
    elif (until < standing.kept_until
          or arguments["anchor_ueur_per_wh"] < standing.anchor_ueur_per_wh
          or not _keeps(mp, keep, until)):
        return False
    starts = arguments["appliance_starts"] or {}
    if not standing.fixed_starts <= starts.keys() or any(
            mp.appliance_starts.get(name) != at for name, at in starts.items()):
        return False
    return (inputs_digest(arguments) == standing.inputs
            and prices_leave_optimal(mp, arguments["buy"], arguments["sell"]))
