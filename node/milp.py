"""The home's day plan as one mixed-integer programme (HiGHS through highspy).

Variables per slot t (Wh): grid import and export, battery charge and discharge and its state of
charge, EV charge (and V2H discharge), heat-pump electricity and indoor temperature, PV used
(curtailable), and one binary per possible start of each shiftable appliance; plus the day's
15-minute import peak. Minimise

    Σ_t buy[t]·import[t] − sell[t]·export[t]  +  peak_price_per_kw · peak_kw

(the peak charge bills the day's highest 15-minute average import, as Belgium's capacity tariff
bills the month's; pass the daily share of it, and with ``peak_floor_wh`` the least peak it
bills — Flanders' 2.5 kW — below which a peak costs nothing more)

subject to each asset's physics and the home's energy balance. ``buy``/``sell`` are the expected
prices (µ€/kWh) at which the home can buy and sell — retail + posted import fees and feed-in −
export fees, or expected local prices. A home's starts are searched by LPs, warm from each other's
bases (``node.start_search``: the MIP's optimum, proven to a tighter gap, in half its time); HiGHS's
MIP search only where that search would be long. Of starts equally cheap a plan takes the
household's favourite (``Appliance.preferred_start``). After the MILP, the LP with the appliance
starts fixed gives the marginal value of energy in each slot (the balance constraints' duals): the
price at which the home would take (or give) one more Wh — its flexibility, for its bids.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix, csc_matrix

from node.assets import Appliance, ElectricVehicle, HeatPump
from node.home import Battery
from node.lp_basis import array_of, basis_bytes, start_from, with_last
from node.standing import Standing, balance_entries, inputs_digest, least_flows
from node.start_search import search_starts
from protocol.errors import FlexmarketError
from protocol.tariff import Tariff, capacity_charge_ueur
from protocol.units import value_ueur


class PlanInfeasible(FlexmarketError):
    """The assets' constraints cannot all be met (e.g. the EV cannot be charged in time)."""


@dataclass(frozen=True)
class HomeAssets:
    battery: Battery | None = None
    ev: ElectricVehicle | None = None
    heat_pump: HeatPump | None = None
    appliances: tuple[Appliance, ...] = ()
    curtailable_pv: bool = True
    # an EV plugged in overnight: energy still owed from last night (charged before its
    # ``stays_until``), and the price (µ€/kWh) tonight's energy is worth if left to tomorrow
    # morning (None: it must be full by ``departure``, as for an EV that leaves at midnight)
    ev_owed_wh: int = 0
    ev_carry_price: float | None = None
    ev_carry_max_wh: float | None = None  # room the DSO leaves it tomorrow morning, if limited
    # the SoC (Wh) the battery must end the day with at least, besides what it started with:
    # once tomorrow is planned, the SoC tomorrow's plan starts from
    battery_end_min_wh: float | None = None


@dataclass(frozen=True)
class MilpPlan:
    """The optimal day (Wh per slot) and what it costs and is worth at the margin."""

    net_wh: np.ndarray  # import − export
    import_wh: np.ndarray
    export_wh: np.ndarray
    battery_wh: np.ndarray  # + charge, − discharge (grid side)
    soc_wh: np.ndarray
    ev_wh: np.ndarray
    heat_pump_wh: np.ndarray
    indoor_c: np.ndarray
    appliance_wh: np.ndarray
    appliance_starts: dict[str, int]
    pv_used_wh: np.ndarray
    peak_wh: float  # the day's billed import peak (Wh per slot; at least plan_home's floor)
    cost_ueur: float
    marginal_value: np.ndarray  # µ€/kWh of one more Wh consumed in each slot
    ev_carry_wh: float = 0.0  # EV energy left to tomorrow morning
    # the home's flexibility (plan_home(flexibility=True); else None): per slot, how much more
    # (up) or less (down) net import it could take there, Wh ≥ 0, the rest of its day
    # re-planned around it, and what taking all of it would cost it beyond the plan (µ€)
    flexibility: Flexibility | None = None
    # the simplex basis of the plan's last LP (node.lp_basis; None where HiGHS's MIP search
    # found it): an anchored re-plan that keeps this plan starts from it
    basis: bytes | None = field(default=None, repr=False, compare=False)
    # what proves the plan still optimal at new prices (node.standing.plan_stands); None where
    # HiGHS did not prove it optimal
    standing: Standing | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Flexibility:
    """A home's flexibility per slot around its plan: the most its net import could rise
    (``up_wh``) or fall (``down_wh``) in each slot alone, every asset within its limits and the
    rest of the day re-optimised (appliance starts as planned), and the least extra cost of
    going all the way (``up_cost_ueur``, ``down_cost_ueur``, µ€); for small moves the marginal
    cost is ``MilpPlan.marginal_value``'s distance from the price the home would settle at."""

    up_wh: np.ndarray
    down_wh: np.ndarray
    up_cost_ueur: np.ndarray
    down_cost_ueur: np.ndarray


@dataclass(frozen=True)
class HomeSchedule:
    """What a home's assets ran (or are to run) per slot (Wh) in a relaxed (centralised) plan,
    for a re-plan to keep: PV used, battery (grid side, + = charging), EV, heat pump, and per
    appliance (in ``HomeAssets`` order) the weight of each of its possible starts."""

    pv_used_wh: np.ndarray
    battery_wh: np.ndarray
    ev_wh: np.ndarray
    heat_pump_wh: np.ndarray
    start_weights: tuple[np.ndarray, ...]


class _Growing:
    """A float array appended to in chunks and read (and written in place) as one array."""

    def __init__(self) -> None:
        self._whole = np.zeros(0)
        self._chunks: list[np.ndarray] = []

    def extend(self, values: np.ndarray) -> None:
        self._chunks.append(values)

    @property
    def array(self) -> np.ndarray:
        if self._chunks:
            self._whole = np.concatenate([self._whole, *self._chunks])
            self._chunks = []
        return self._whole


def _per_item(values, count: int) -> np.ndarray:
    """``values`` (a scalar, or one per item) as ``count`` floats (read, not copied: the
    bounds are joined into new arrays, ``_Growing``)."""
    if isinstance(values, (int, float)):
        return np.full(count, float(values))
    values = np.asarray(values, float)
    return values if values.shape == (count,) else np.broadcast_to(values, (count,)).ravel()


class _Bounded:
    """Items (columns or rows) numbered in the order they are added, each with bounds
    ``lo``..``hi``: arrays that may be changed in place (``_keep_prefix``, ``_fix_starts``)."""

    def __init__(self) -> None:
        self.n = 0
        self._lo, self._hi = _Growing(), _Growing()

    def _grow(self, count: int, lo, hi) -> np.ndarray:
        """``count`` new items with bounds ``lo``/``hi`` (scalars or per item); their indices."""
        idx = np.arange(self.n, self.n + count)
        self.n += count
        self._lo.extend(_per_item(lo, count))
        self._hi.extend(_per_item(hi, count))
        return idx

    @property
    def lo(self) -> np.ndarray:
        return self._lo.array

    @property
    def hi(self) -> np.ndarray:
        return self._hi.array


class _Vars(_Bounded):
    """Column bookkeeping for the programme: bounds and the integer mask."""

    def __init__(self) -> None:
        super().__init__()
        self._integer = _Growing()

    def add(self, count: int, lo, hi, integer: bool = False) -> np.ndarray:
        self._integer.extend(np.full(count, 1.0 if integer else 0.0))
        return self._grow(count, lo, hi)

    @property
    def integer(self) -> np.ndarray:
        return self._integer.array.astype(bool)


class _Rows(_Bounded):
    """Row bookkeeping: each row's bounds, and the matrix as (row, column, value) entries;
    ``record=False``: the bounds only, where the matrix is known already (``_MATRICES``)."""

    def __init__(self, record: bool = True) -> None:
        super().__init__()
        self.record = record
        self._r: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._v: list[np.ndarray] = []

    def add_rows(self, count: int, lo, hi) -> np.ndarray:
        """``count`` new rows with bounds ``lo``/``hi`` (scalars or per row); their indices."""
        return self._grow(count, lo, hi)

    def entries(self, rows, cols, vals) -> None:
        """Matrix entries: ``vals`` (scalar or per entry) at ``rows`` × ``cols``."""
        if not self.record:
            return
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        if rows.shape != cols.shape:
            rows, cols = np.broadcast_arrays(rows, cols)
        self._r.append(rows.ravel())
        self._c.append(cols.ravel())
        self._v.append(_per_item(vals, rows.size))

    def add(self, cols, vals, lo: float, hi: float) -> int:
        """One row over ``cols`` with ``vals``, bounds ``lo``..``hi``; its index."""
        row = int(self.add_rows(1, lo, hi)[0])
        if self.record:
            self.entries(np.full(len(cols), row), cols, vals)
        return row

    def matrix(self, n_cols: int) -> csc_matrix:
        """The constraint matrix (rows × ``n_cols``), column-wise as HiGHS takes it."""
        if not self._v:
            return csc_matrix((self.n, n_cols))
        entries = (np.concatenate(self._v), (np.concatenate(self._r), np.concatenate(self._c)))
        return coo_matrix(entries, shape=(self.n, n_cols)).tocsc()


#: no columns: an asset the home lacks (read-only, shared)
_NONE = np.array([], int)
_NONE.flags.writeable = False


@dataclass
class _HomeCols:
    """The columns and rows of one home inside a (possibly shared) programme."""

    imp: np.ndarray
    exp: np.ndarray
    pv_used: np.ndarray
    peak: np.ndarray
    balance_rows: np.ndarray  # each followed by its slot's peak row
    app_cols: list
    ch: np.ndarray = field(default_factory=lambda: _NONE)
    dis: np.ndarray = field(default_factory=lambda: _NONE)
    soc: np.ndarray = field(default_factory=lambda: _NONE)
    ev_ch: np.ndarray = field(default_factory=lambda: _NONE)
    ev_dis: np.ndarray = field(default_factory=lambda: _NONE)
    ev_carry: np.ndarray = field(default_factory=lambda: _NONE)
    hp_e: np.ndarray = field(default_factory=lambda: _NONE)
    temp: np.ndarray = field(default_factory=lambda: _NONE)


def _add_home(V: _Vars, R: _Rows, load_wh: np.ndarray, pv_wh: np.ndarray, assets: HomeAssets,
              soc_wh: float | None, outdoor_c: np.ndarray | None,
              indoor_c: float | None, peak_floor_wh: float = 0.0) -> _HomeCols:
    """Add one home's variables and constraints (physics and energy balance) to V and R; its
    billed peak is at least ``peak_floor_wh`` (Wh per slot)."""
    T = len(load_wh)
    load = np.asarray(load_wh, float)
    pv = np.asarray(pv_wh, float)
    imp = V.add(T, 0, np.inf)
    exp = V.add(T, 0, np.inf)
    pv_used = V.add(T, 0 if assets.curtailable_pv else pv, pv)
    peak = V.add(1, peak_floor_wh, np.inf)
    balance_extra: list[tuple[np.ndarray, float]] = []  # (columns, sign) entering consumption

    bat = assets.battery
    if bat is not None:
        step = bat.max_slot_wh
        ch = V.add(T, 0, step)
        dis = V.add(T, 0, step)
        soc = V.add(T, 0, bat.capacity_wh)
        eta = bat.one_way_efficiency
        s0 = bat.capacity_wh * bat.initial_soc if soc_wh is None else soc_wh
        rhs = np.zeros(T)
        rhs[0] = s0
        rows = R.add_rows(T, rhs, rhs)  # soc[t] = soc[t-1] + eta·ch − dis/eta
        R.entries(rows, soc, 1.0)
        R.entries(rows, ch, -eta)
        R.entries(rows, dis, 1 / eta)
        R.entries(rows[1:], soc[:-1], -1.0)
        end = max(s0, assets.battery_end_min_wh or 0.0)  # keep what it started with, at least
        R.add([soc[T - 1]], [1.0], min(end, bat.capacity_wh), np.inf)
        balance_extra += [(ch, 1.0), (dis, -1.0)]

    ev = assets.ev
    ev_carry = _NONE
    if ev is not None:
        morning = ev.stays_until if assets.ev_owed_wh > 0 else 0
        slots = np.arange(T)
        plugged = (((ev.arrival <= slots) & (slots < ev.departure)) | (slots < morning)).astype(
            float)
        step = ev.charger_w / 4
        ev_ch = V.add(T, 0, plugged * step)
        cols = list(ev_ch[ev.arrival:ev.departure])
        vals = [ev.efficiency] * len(cols)
        if ev.v2h:
            ev_dis = V.add(T, 0, plugged * step)
            balance_extra.append((ev_dis, -1.0))
            cols += list(ev_dis[ev.arrival:ev.departure])
            vals += [-1 / ev.efficiency] * (ev.departure - ev.arrival)
        if assets.ev_carry_price is not None and ev.stays_until > 0 and ev.departure == T:
            # what tonight does not charge, tomorrow morning must
            most = min(ev.energy_wh, ev.efficiency * step * ev.stays_until)
            if assets.ev_carry_max_wh is not None:
                most = min(most, max(assets.ev_carry_max_wh, 0.0))
            ev_carry = V.add(1, 0, most)
            cols.append(ev_carry[0])
            vals.append(1.0)
        R.add(cols, vals, ev.energy_wh, np.inf)
        if morning:
            R.add(list(ev_ch[:morning]), [ev.efficiency] * morning, assets.ev_owed_wh, np.inf)
        balance_extra.append((ev_ch, 1.0))

    hp = assets.heat_pump
    if hp is not None:
        t_out = np.full(T, 8.0) if outdoor_c is None else np.asarray(outdoor_c, float)
        a = math.exp(-0.25 / hp.tau_h)
        g = hp.gain_c_per_kwh * hp.cop / 1000
        hp_e = V.add(T, 0, hp.power_w / 4)
        temp = V.add(T, hp.comfort_min_c, hp.comfort_max_c)
        t0 = hp.initial_c if indoor_c is None else indoor_c
        rhs = (1 - a) * t_out
        rhs[0] += a * t0
        rows = R.add_rows(T, rhs, rhs)  # temp[t] = a·temp[t-1] + (1−a)·out[t] + g·E[t]
        R.entries(rows, temp, 1.0)
        R.entries(rows[1:], temp[:-1], -a)
        R.entries(rows, hp_e, -g)
        balance_extra.append((hp_e, 1.0))

    app_cols: list[tuple[Appliance, list[int], np.ndarray]] = []
    for app in assets.appliances:
        length = len(app.profile_wh)
        starts = list(range(app.earliest, max(app.earliest, app.latest_finish - length) + 1))
        if app.latest_finish - length < app.earliest or app.latest_finish > T:
            raise PlanInfeasible(f"appliance {app.name} cannot run inside its window")
        y = V.add(len(starts), 0, 1, integer=True)
        R.add(list(y), [1.0] * len(y), 1, 1)
        app_cols.append((app, starts, y))

    # energy balance per slot: imp − exp + pv_used − extras = load, each balance row followed
    # by its slot's peak row: peak ≥ import
    rows = R.add_rows(2 * T, np.ravel(np.column_stack([load, np.zeros(T)])),
                      np.ravel(np.column_stack([load, np.full(T, np.inf)])))
    balance, peak_rows = rows[0::2], rows[1::2]
    R.entries(balance, imp, 1.0)
    R.entries(balance, exp, -1.0)
    R.entries(balance, pv_used, 1.0)
    for c, sign in balance_extra:
        R.entries(balance, c, -sign)
    for app, starts, y in app_cols if R.record else ():
        for off, wh in enumerate(app.profile_wh):  # start s draws profile[off] at slot s + off
            at = np.asarray(starts) + off
            inside = at < T
            R.entries(balance[at[inside]], y[inside], -float(wh))
    R.entries(peak_rows, peak[0], 1.0)
    R.entries(peak_rows, imp, -1.0)
    cols = _HomeCols(imp, exp, pv_used, peak, balance, app_cols)
    if bat is not None:
        cols.ch, cols.dis, cols.soc = ch, dis, soc
    if ev is not None:
        cols.ev_ch, cols.ev_carry = ev_ch, ev_carry
        if ev.v2h:
            cols.ev_dis = ev_dis
    if hp is not None:
        cols.hp_e, cols.temp = hp_e, temp
    return cols


def plan_home(load_wh: np.ndarray, pv_wh: np.ndarray, assets: HomeAssets, buy: np.ndarray,
              sell: np.ndarray, peak_price_per_kw: float = 0.0, soc_wh: float | None = None,
              outdoor_c: np.ndarray | None = None, indoor_c: float | None = None,
              time_limit_s: float = 5.0, marginal_values: bool = False,
              mip_rel_gap: float = 1e-4,
              import_limit_wh: np.ndarray | None = None,
              export_limit_wh: np.ndarray | None = None,
              limit_penalty: float | np.ndarray = 0.0, keep: MilpPlan | None = None,
              keep_until: int = 0,
              local_import: tuple[np.ndarray, np.ndarray] | None = None,
              local_export: tuple[np.ndarray, np.ndarray] | None = None,
              appliance_starts: Mapping[str, int] | None = None,
              anchor_ueur_per_wh: float = 0.0, peak_floor_wh: float = 0.0,
              flexibility: bool = False) -> MilpPlan:
    """Optimal plan for one day of ``len(load_wh)`` slots (see the module docstring).

    ``marginal_values`` also solves the LP with the appliance starts fixed for the balance duals
    (about +40 % time); without it ``MilpPlan.marginal_value`` is all NaN.
    ``import_limit_wh`` / ``export_limit_wh`` (Wh per slot, ``inf`` = none) are soft limits on
    the home's import and export — room the DSO has allotted it: energy beyond them costs
    ``limit_penalty`` µ€/kWh (one value, or one per slot) on top of its price, so the plan keeps
    within them wherever its assets can.
    ``local_import``/``local_export``: (price µ€/kWh, most Wh) per slot — energy the home
    expects to buy from (sell to) neighbours at that price, up to that volume, before the
    supplier's ``buy``/``sell``; it crosses no congestion point, so no fee applies.
    ``keep``/``keep_until``: re-planning during the day — slots before ``keep_until`` (delivered
    or past their gate) keep ``keep``'s schedules of every asset and its appliance starts; only
    the rest of the day is optimised again (pass the same day-start state and forecasts).
    ``anchor_ueur_per_wh``: with ``keep``, each Wh by which the re-plan moves the home's net
    away from ``keep``'s in the slots from ``keep_until`` costs this much (µ€/Wh, not in
    ``cost_ueur``): a re-plan changes what is worth more than re-trading it, and does not swap
    the plan the home has traded for another of the same expected cost (plans of homes with a
    battery and PV surplus are degenerate: it can store the same energy in many slots).
    ``appliance_starts``: appliances that start at the given slots (where ``keep`` leaves them
    free): only the other assets are optimised — a linear programme, fast where the volume caps
    of local offers make the search over starts slow (measured: 1.9 s against 16 ms).
    ``peak_floor_wh``: the least 15-minute peak the capacity charge bills (Wh per slot,
    ``Tariff.capacity_min_peak_wh``); ``MilpPlan.peak_wh`` is then the billed peak, at least it.
    ``flexibility``: also ``MilpPlan.flexibility`` (:class:`Flexibility`), four LPs per slot
    with the appliance starts fixed (measured in ``benchmarks/planner.py``).
    """
    called = dict(locals())  # every argument by name: what the plan is of (node.standing)
    T = len(load_wh)
    shape = _shape(T, assets, local_import is not None, local_export is not None,
                   import_limit_wh, export_limit_wh, keep is not None and anchor_ueur_per_wh > 0)
    known = _MATRICES.get(shape)
    V, R = _Vars(), _Rows(record=known is None)
    h = _add_home(V, R, load_wh, pv_wh, assets, soc_wh, outdoor_c, indoor_c, peak_floor_wh)
    if keep is not None and keep_until > 0:
        _keep_prefix(V, h, assets, keep, keep_until)
    if appliance_starts:
        _fix_starts(V, h, appliance_starts)
    imp, exp, pv_used, peak = h.imp, h.exp, h.pv_used, h.peak
    ch, dis, soc, ev_ch, ev_dis = h.ch, h.dis, h.soc, h.ev_ch, h.ev_dis
    hp_e, temp, app_cols, balance_rows = h.hp_e, h.temp, h.app_cols, h.balance_rows
    bat, ev, hp = assets.battery, assets.ev, assets.heat_pump
    beyond, beyond_cost = [], []
    penalty = np.broadcast_to(np.asarray(limit_penalty, float), (T,))
    local = {}  # "import"/"export" → (columns, price): energy met by neighbours
    for name, offer, sign in (("import", local_import, 1.0), ("export", local_export, -1.0)):
        if offer is None:
            continue
        cols = V.add(T, 0, np.maximum(np.asarray(offer[1], float), 0.0))
        local[name] = (cols, np.asarray(offer[0], float))
        R.entries(balance_rows, cols, sign)  # it enters the balance like the grid's
        if name == "import":  # and the import peak: the peak row follows each balance row
            R.entries(balance_rows + 1, cols, -1.0)
    for flow, limit, name in ((imp, import_limit_wh, "import"), (exp, export_limit_wh, "export")):
        if limit is None:
            continue
        at = np.flatnonzero(np.isfinite(limit))
        over = V.add(len(at), 0, np.inf)
        rows = R.add_rows(len(at), -np.inf, np.maximum(np.asarray(limit, float)[at], 0.0))
        R.entries(rows, flow[at], 1.0)
        R.entries(rows, over, -1.0)
        if name in local:
            R.entries(rows, local[name][0][at], 1.0)
        beyond += list(over)
        beyond_cost += list(penalty[at] / 1000)

    moved = np.zeros(0, np.int64)  # the re-plan's moves of the net from keep's, up and down (Wh)
    if keep is not None and anchor_ueur_per_wh > 0:
        # a row per slot, free before keep_until: every re-plan of the day has the same matrix
        # (_MATRICES)
        moved = V.add(2 * T, 0, np.inf)
        net = np.asarray(keep.net_wh, float)
        past = np.arange(T) < keep_until
        rows = R.add_rows(T, np.where(past, -np.inf, net), np.where(past, np.inf, net))
        R.entries(rows, imp, 1.0)
        R.entries(rows, exp, -1.0)
        R.entries(rows, moved[0::2], -1.0)
        R.entries(rows, moved[1::2], 1.0)
        for name, sign in (("import", 1.0), ("export", -1.0)):
            if name in local:
                R.entries(rows, local[name][0], sign)

    c = np.zeros(V.n)
    c[imp] = np.asarray(buy, float) / 1000
    c[exp] = -np.asarray(sell, float) / 1000
    c[peak] = peak_price_per_kw * 4 / 1000  # peak variable is Wh per slot: × 4 / 1000 = kW
    c[beyond] = beyond_cost
    c[moved] = anchor_ueur_per_wh
    if "import" in local:
        c[local["import"][0]] = local["import"][1] / 1000
    if "export" in local:
        c[local["export"][0]] = -local["export"][1] / 1000
    _price_carry(c, h, assets)
    preference = _start_preference(app_cols, V.n)  # µ€ per column, not in cost_ueur
    c += preference
    A, balance = known if known is not None else _remember(shape, R.matrix(V.n), balance_rows)
    # an anchored plan's LPs without HiGHS's presolve (PRESOLVE_ANCHORED)
    anchored = keep is not None and anchor_ueur_per_wh > 0
    presolve = PRESOLVE_ANCHORED or not anchored
    # from the basis of the plan it keeps (WARM_ANCHORED), which may lack the anchor's block
    warm = (with_last(keep.basis, *A.shape[::-1], len(moved), T)
            if anchored and WARM_ANCHORED and isinstance(keep, MilpPlan) else None)
    res = _solve(c, A, R, V, V.integer, time_limit_s, mip_rel_gap, lean=True,
                 starts=[y for _, _, y in app_cols], presolve=presolve, warm=warm)
    if res.x is None:
        raise PlanInfeasible(f"no feasible plan: {res.message}")
    x = res.x

    marginal = (_marginal_values(c, A, R, V, x, balance_rows, presolve) if marginal_values
                else np.full(T, np.nan))
    flex = None
    if flexibility:  # the net import of each slot, as columns and signs
        net_terms = [([imp[t], exp[t]], [1.0, -1.0]) for t in range(T)]
        for name, sign in (("import", 1.0), ("export", -1.0)):
            if name in local:
                for t in range(T):
                    net_terms[t][0].append(local[name][0][t])
                    net_terms[t][1].append(sign)
        flex = _flexibility(c, A, R, V, x, net_terms, presolve)

    standing = None
    if res.proven:
        anchor = anchor_ueur_per_wh if keep is not None else 0.0
        standing = Standing(inputs_digest(called), np.asarray(buy, float),
                            np.asarray(sell, float), keep_until if keep is not None else 0,
                            anchor, frozenset(appliance_starts or ()),
                            *least_flows(balance, x, V.lo, V.hi, imp, exp))

    def col(idx):
        return x[idx] if len(idx) else np.zeros(T)

    imported = col(imp) + (col(local["import"][0]) if "import" in local else 0)
    exported = col(exp) + (col(local["export"][0]) if "export" in local else 0)
    battery = (col(ch) - col(dis)) if bat is not None else np.zeros(T)
    ev_net = np.zeros(T)
    if ev is not None:
        ev_net = col(ev_ch) - (col(ev_dis) if ev.v2h else 0)
    appliance = np.zeros(T)
    starts_out = {}
    for app, starts, y in app_cols:
        k = int(np.argmax(x[y]))
        starts_out[app.name] = starts[k]
        appliance[starts[k]:starts[k] + len(app.profile_wh)] += app.profile_wh
    return MilpPlan(
        net_wh=imported - exported, import_wh=imported, export_wh=exported, battery_wh=battery,
        soc_wh=col(soc) if bat is not None else np.zeros(T),
        ev_wh=ev_net, heat_pump_wh=col(hp_e) if hp is not None else np.zeros(T),
        indoor_c=col(temp) if hp is not None else np.full(T, np.nan),
        appliance_wh=appliance, appliance_starts=starts_out, pv_used_wh=col(pv_used),
        peak_wh=float(x[peak[0]]),
        cost_ueur=(res.objective - anchor_ueur_per_wh * float(x[moved].sum())
                   - float(preference @ x)),
        marginal_value=marginal,
        ev_carry_wh=float(x[h.ev_carry].sum()) if len(h.ev_carry) else 0.0,
        flexibility=flex,
        basis=res.basis,
        standing=standing,
    )


#: Whether HiGHS presolves the LPs of an anchored plan (``keep`` with ``anchor_ueur_per_wh``:
#: the re-plans during the day, the local offers' later sweeps, the DSO's validation movers).
#: No: a home's programme has many equally cheap optima (a battery can store the same energy
#: in many slots of one price), and HiGHS's presolve sets which one it returns — without it the
#: day-ahead plans' choices cost the market 0.004 (benchmarks/welfare.py 0.9477 pooled against
#: 0.9521; the default street 0.972 → 0.956, its batteries selling less into the neighbours'
#: evening peak). The anchor, which prices every Wh the net moves from the plan the home has,
#: leaves an anchored plan little to choose: a 2030-green-high day's 1 458 agents' re-plans
#: replayed without presolve differ in their nets in 272 (100 kWh in all), and welfare stayed
#: 0.9521 (0.9528 with the later sweeps and the movers anchored too). There the presolve, which
#: mostly removes a re-plan's kept slots' fixed columns, costs more than it saves: those
#: re-plans 4.6 → 3.1 s (periodic 2.86 → 1.65 s, intraday 1.76 → 1.44 s), replayed in one
#: process.
PRESOLVE_ANCHORED = False
#: Whether an anchored plan's first LP starts from the basis of the plan it keeps
#: (``MilpPlan.basis``, node.lp_basis; grown by the anchor's block where the kept plan had none).
#: Yes: for the same reason as PRESOLVE_ANCHORED the start changes little of what the plan
#: chooses — a 2030-green-high day's agents' plans replayed warm differ from cold in 59 of
#: 2 836 nets (33 kWh in all, mostly validation movers), welfare 0.9528 pooled as cold, the
#: AC congestion runs within their run-to-run range — and a periodic or intraday re-plan's dual
#: simplex takes 18–33 iterations instead of 283–293 (its HiGHS run 1.9 → 1.0 ms). That day's
#: agents' planning on two workers 5.7–5.8 → 4.6–4.9 s over three alternating runs.
WARM_ANCHORED = True

#: The constraint matrices of the home programmes this process has built, by ``_shape``, each
#: with its balance rows' entries (node.standing.balance_entries): a home re-plans many times a
#: day with the same assets, so only bounds, costs and right-hand sides change, and assembling
#: the matrix again was a sixth of a plan's time (0.6 of 3.6 ms)
_MATRICES: dict[tuple, tuple[csc_matrix, tuple]] = {}
_MATRICES_KEPT = 1024


def _shape(T: int, assets: HomeAssets, local_import: bool, local_export: bool,
           import_limit: np.ndarray | None, export_limit: np.ndarray | None,
           anchored: bool) -> tuple:
    """What ``plan_home``'s constraint matrix depends on: the day's slots, the assets' physics,
    whether an EV owes energy from last night and may leave some to tomorrow, which flows
    neighbours' offers meet, the slots with a limit, and the re-plan's anchor."""
    def limited(limit: np.ndarray | None) -> bytes | None:
        return None if limit is None else np.flatnonzero(np.isfinite(limit)).tobytes()

    return (T, assets.battery, assets.ev, assets.heat_pump, assets.appliances,
            assets.ev_owed_wh > 0, assets.ev_carry_price is not None, local_import,
            local_export, limited(import_limit), limited(export_limit), anchored)


def _remember(shape: tuple, A: csc_matrix, balance_rows: np.ndarray
              ) -> tuple[csc_matrix, tuple]:
    """``A`` and the entries of its ``balance_rows``, kept as the matrix of ``shape`` (the
    oldest forgotten past ``_MATRICES_KEPT``)."""
    if len(_MATRICES) >= _MATRICES_KEPT:
        del _MATRICES[next(iter(_MATRICES))]
    _MATRICES[shape] = A, balance_entries(A, balance_rows)
    return _MATRICES[shape]


@dataclass(frozen=True)
class _Solution:
    """What HiGHS found: the columns' values (None without a feasible point), the objective,
    the proven lower bound (a MIP's dual bound; an LP's optimum), and the model status."""

    x: np.ndarray | None
    objective: float
    bound: float
    message: str
    infeasible: bool
    basis: bytes | None = None  # the last LP's (node.lp_basis); None after HiGHS's MIP search
    proven: bool = False  # x is optimal (a MIP's: to its gap)


def _highs(c: np.ndarray, A: csc_matrix, row_lo: np.ndarray, row_hi: np.ndarray,
           col_lo: np.ndarray, col_hi: np.ndarray, integer: np.ndarray | None = None,
           presolve: bool = True):
    """A quiet HiGHS model (highspy) of min c·x, row_lo ≤ A·x ≤ row_hi, col_lo ≤ x ≤ col_hi,
    the ``integer`` columns (a mask) integral; ``presolve=False``: HiGHS's presolve off. Passed
    as arrays, not as a ``HighsLp``, whose field-by-field copies cost 0.3 ms a plan against
    0.1. The model is the thread's one instance (``_quiet_highs``): it holds this programme
    until the next call, so read what it found before asking for another."""
    model = _quiet_highs()
    if not presolve:
        model.setOptionValue("presolve", "off")
    integrality = (np.zeros(A.shape[1], np.int32) if integer is None
                   else integer.astype(np.int32))  # 0: continuous, 1: integer
    model.passModel(A.shape[1], A.shape[0], A.nnz, 1, 1, 0.0,  # column-wise, minimise
                    np.asarray(c, float), np.asarray(col_lo, float), np.asarray(col_hi, float),
                    np.asarray(row_lo, float), np.asarray(row_hi, float),
                    np.asarray(A.indptr, np.int32), np.asarray(A.indices, np.int32),
                    np.asarray(A.data, float), integrality)
    return model


#: HiGHS's threads: one, in every process. A MIP's plan can depend on the number of threads
#: its search ran on (without restarts, 3 of 828 plans sampled from a 2030-green-high day
#: differed between one thread and the machine's default), and a plan must not depend on the
#: machine or on how many processes plan side by side (sim/plan_pool.py). HiGHS fixes its
#: threads when a process first solves, so this is the process's, not a model's.
SOLVER_THREADS = 1

#: whether this process has made its first instance, the one that prints HiGHS's banner
_BANNER_SILENCED = False
#: each thread's one ``highspy.Highs``, cleared for every programme (``_quiet_highs``)
_SOLVER = threading.local()


def _quiet_highs():
    """A ``highspy.Highs`` with no model, default options and nothing logged: the thread's
    one instance, cleared (``clear``: model, solver state and options), 3 µs against 65 µs
    for a new one. A cleared instance plans as a new one does: a 2030-green-high day's 2 562
    plans replayed through one instance equal those from new instances bit for bit,
    costs and bases too, three times over in one process (``tests/test_planner.py`` checks a
    plan after others). Its run clock is not cleared: ``_limit_time`` counts from it.
    HiGHS prints its banner on stdout when the process makes its first instance, before any
    option can be set: that one is made with file descriptor 1 pointed at /dev/null."""
    import highspy

    global _BANNER_SILENCED
    model = getattr(_SOLVER, "model", None)
    if model is not None:
        model.clear()
    elif _BANNER_SILENCED:
        model = _SOLVER.model = highspy.Highs()
    else:
        sys.stdout.flush()
        saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            model = _SOLVER.model = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)
        _BANNER_SILENCED = True
    model.setOptionValue("output_flag", False)
    model.setOptionValue("threads", SOLVER_THREADS)
    return model


def _limit_time(model, seconds: float) -> None:
    """Let ``model``'s solves run ``seconds`` more: HiGHS's ``time_limit`` is on the
    instance's run clock, which runs on over every programme the thread's one instance solves
    (``_quiet_highs``; ``clear`` does not reset it)."""
    model.setOptionValue("time_limit", model.getRunTime() + float(seconds))


#: HiGHS's search options for a home's small MIP (``_solve(lean=True)``), off:
#: - its primal heuristics: the branch and bound finds these plans at once (194 MIPs sampled
#:   from a 2030-green-high day: 4.14 → 2.08 s, median 13.7 → 6.2 ms, none worse; feasibility
#:   jump alone is 1.6 s of the 2.1 saved);
#: - restarts (presolving again after the root's reductions fix columns): 1 554 MIPs of a
#:   2030-green-high day 20.8 → 16.4 s, every plan still within the 1e-4 gap (the costliest
#:   0.05 ct dearer than with restarts, the mean 0.0002 ct)
_LEAN_SEARCH = {**{f"mip_heuristic_run_{name}": False for name in (
    "feasibility_jump", "rens", "rins", "root_reduced_cost", "shifting", "zi_round")},
    "mip_allow_restart": False}


def _solve(c: np.ndarray, A: csc_matrix, R: _Rows, V: _Vars, integer: np.ndarray | None,
           time_limit_s: float, mip_rel_gap: float, lean: bool = False,
           starts: list[np.ndarray] | None = None, presolve: bool = True,
           warm: bytes | None = None) -> _Solution:
    """Solve the programme with HiGHS: a MIP over the ``integer`` columns that are still free,
    an LP where there are none (every start fixed: the same optimum without the MIP's
    search, about 3× faster); ``lean``: a MIP without the search options of ``_LEAN_SEARCH``.
    ``starts``: the integer columns as groups of which exactly one is 1 (each appliance's
    starts): searched by LPs (``node.start_search``), the MIP only where that search is long.
    ``presolve=False``: the LPs without HiGHS's presolve (a MIP keeps it); ``warm``: a basis
    (``node.lp_basis``) the first LP starts from, where it has the programme's shape.
    ``_Solution.basis``: the last LP's basis (None after HiGHS's MIP search)."""
    import highspy

    lo, hi = V.lo, V.hi
    mip = integer is not None and bool((integer & (lo < hi)).any())
    if mip and starts:
        model = _highs(c, A, R.lo, R.hi, lo, hi, presolve=presolve)
        _limit_time(model, time_limit_s)
        start_from(model, warm, A.shape[1], A.shape[0])
        found = search_starts(model, starts, lo, hi, mip_rel_gap)
        if found is not None:
            basis = (None if found.x is None
                     else basis_bytes(model, found.x, A, lo, hi, R.lo, R.hi))
            return _Solution(found.x, found.objective, found.bound,
                             "Infeasible" if found.infeasible else "Optimal", found.infeasible,
                             basis, found.x is not None)
    model = _highs(c, A, R.lo, R.hi, lo, hi, integer if mip else None,
                   presolve=presolve or mip)
    _limit_time(model, time_limit_s)
    if mip:
        model.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        for name, value in _LEAN_SEARCH.items() if lean else ():
            model.setOptionValue(name, value)
    else:
        start_from(model, warm, A.shape[1], A.shape[0])
    model.run()
    status = model.getModelStatus()
    info = model.getInfo()
    message = model.modelStatusToString(status)
    feasible = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = array_of(model.getSolution().col_value) if feasible else None
    objective = float(info.objective_function_value) if feasible else math.nan
    bound = float(info.mip_dual_bound) if mip else objective  # an LP's optimum: its own bound
    optimal = feasible and status == highspy.HighsModelStatus.kOptimal
    return _Solution(x, objective, bound, message,
                     status == highspy.HighsModelStatus.kInfeasible,
                     basis_bytes(model, x, A, lo, hi, R.lo, R.hi) if optimal and not mip
                     else None, optimal)


def _keep_prefix(V: _Vars, h: _HomeCols, assets: HomeAssets, keep: MilpPlan | HomeSchedule,
                 until: int) -> None:
    """Fix every asset's schedule of the slots before ``until`` to ``keep``'s (bounds lo = hi);
    an appliance already started keeps its start, one not yet started starts at ``until`` or
    later (a ``HomeSchedule``'s: each start before ``until`` keeps its weight). Grid
    import and export stay free: the balance gives them."""
    lo, hi = V.lo, V.hi

    def fix(cols: np.ndarray, values: np.ndarray) -> None:
        cols = cols[:until]
        lo[cols] = hi[cols] = np.minimum(np.maximum(np.asarray(values, float)[:len(cols)],
                                                    lo[cols]), hi[cols])

    fix(h.pv_used, keep.pv_used_wh)
    if len(h.ch):
        battery = keep.battery_wh
        fix(h.ch, np.maximum(battery, 0))
        fix(h.dis, np.maximum(-battery, 0))
    if len(h.ev_ch):
        ev = keep.ev_wh
        fix(h.ev_ch, np.maximum(ev, 0))
        if len(h.ev_dis):
            fix(h.ev_dis, np.maximum(-ev, 0))
    if len(h.hp_e):
        fix(h.hp_e, keep.heat_pump_wh)
    for i, (app, starts, y) in enumerate(h.app_cols):
        if isinstance(keep, HomeSchedule):  # a relaxed plan: the share of each start made
            for k, start in enumerate(starts):
                if start < until:
                    lo[y[k]] = hi[y[k]] = float(keep.start_weights[i][k])
            continue
        started = keep.appliance_starts.get(app.name)
        for k, start in enumerate(starts):
            if started is not None and started < until:
                lo[y[k]] = hi[y[k]] = 1.0 if start == started else 0.0
            elif start < until:
                hi[y[k]] = 0.0


def _fix_starts(V: _Vars, h: _HomeCols, starts: Mapping[str, int]) -> None:
    """Start each appliance named in ``starts`` at its slot, where that start is still open."""
    lo, hi = V.lo, V.hi
    for app, slots, y in h.app_cols:
        at = starts.get(app.name)
        if at is None or at not in slots or hi[y[slots.index(at)]] == 0.0:
            continue
        if (lo[y] == 1.0).any():
            continue  # already fixed (started before a re-plan's keep_until)
        lo[y] = hi[y] = (np.asarray(slots) == at).astype(float)


#: What one slot between an appliance's start and its household's preferred start costs the
#: household (µ€): 0.002 ct, so a plan moves a run away only for a saving, and of starts equally
#: cheap (a battery or PV surplus often makes many so) it takes the household's, not the first
#: the solver meets — which would start every home's run in the same slot
PREFERENCE_UEUR_PER_SLOT = 20.0


def _start_preference(app_cols: list, n: int) -> np.ndarray:
    """Per column of ``n``, µ€: each appliance start's distance (slots) from its preferred
    start, priced at ``PREFERENCE_UEUR_PER_SLOT`` (0 where it has none, and off the starts)."""
    cost = np.zeros(n)
    for app, starts, y in app_cols:
        if app.preferred_start is not None:
            cost[y] = PREFERENCE_UEUR_PER_SLOT * np.abs(np.asarray(starts) - app.preferred_start)
    return cost


def _price_carry(c: np.ndarray, h: _HomeCols, assets: HomeAssets) -> None:
    """Energy left to tomorrow morning costs what it will then: price per kWh in the battery."""
    if len(h.ev_carry):
        c[h.ev_carry] = assets.ev_carry_price / 1000 / assets.ev.efficiency


def _fixed_bounds(V: _Vars, x) -> tuple[np.ndarray, np.ndarray]:
    """The columns' bounds with the integer choices fixed at ``x``'s (an LP around the plan)."""
    lo, hi = V.lo.copy(), V.hi.copy()
    ints = V.integer
    lo[ints] = hi[ints] = np.round(x[ints])
    return lo, hi


def _marginal_values(c, A, R: _Rows, V: _Vars, x, balance_rows, presolve: bool = True
                     ) -> np.ndarray:
    """Duals of the balance rows (µ€/kWh) from the LP with the integer choices fixed; NaN if
    that LP is not solved to optimality."""
    import highspy

    model = _highs(c, A, R.lo, R.hi, *_fixed_bounds(V, x), presolve=presolve)
    model.run()
    if model.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return np.full(len(balance_rows), np.nan)
    return array_of(model.getSolution().row_dual)[balance_rows] * 1000


def _flexibility(c, A, R: _Rows, V: _Vars, x, net_terms, presolve: bool = True
                 ) -> Flexibility:
    """Per slot: the extreme net imports (LPs with the integer choices fixed) and the least
    cost of each (a second LP held at least that far from the plan's net), against the plan
    ``x``. One HiGHS model (highspy) re-solved from its last basis: objective and the one extra
    row change between the 4 × T solves, about 3× faster than fresh ``linprog`` calls."""
    import highspy

    lo, hi = _fixed_bounds(V, x)
    model = _highs(c, A, R.lo, R.hi, lo, hi, presolve=presolve)
    lp = model.getLp()
    every = np.arange(V.n, dtype=np.int32)
    T = len(net_terms)
    out = {name: np.full(T, np.nan) for name in ("up", "down", "up_cost", "down_cost")}
    cost = float(c @ x)  # the plan's (its optimum may be one of many: moves are from it)

    def solve() -> np.ndarray | None:
        model.run()
        if model.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return array_of(model.getSolution().col_value)

    for t, (cols, signs) in enumerate(net_terms):
        d = np.zeros(V.n)
        d[cols] = signs
        idx = np.array(cols, dtype=np.int32)
        planned = float(d @ x)
        for name, direction in (("up", 1.0), ("down", -1.0)):
            model.changeColsCost(V.n, every, -direction * d)
            far = solve()
            if far is None:  # the solver gave up: unknown, not zero
                continue
            reach = max(direction * float(d @ far) - direction * planned, 0.0)
            # the cheapest plan that goes (within a µWh) all the way
            model.changeColsCost(V.n, every, c)
            bound = direction * planned + reach - 1e-6
            model.addRow(bound, highspy.kHighsInf, len(idx), idx, direction * np.array(signs))
            cheap = solve()
            model.deleteRows(1, np.array([lp.num_row_], dtype=np.int32))
            out[name][t] = reach
            if cheap is not None:
                out[name + "_cost"][t] = max(float(c @ cheap) - cost, 0.0)
    return Flexibility(out["up"], out["down"], out["up_cost"], out["down_cost"])


@dataclass(frozen=True)
class CommunityOptimum:
    """The street acting as one: its cost at the supplier's prices and its transformer flow."""

    cost_ueur: float
    flow_wh: np.ndarray  # + = import through the transformer
    # per home, in the order given: planned net import, battery (grid side, + = charging; None
    # without one), its SoC at each slot's end, and PV used (Wh per slot)
    net_wh: list[np.ndarray] = field(default_factory=list)
    battery_wh: list[np.ndarray | None] = field(default_factory=list)
    soc_wh: list[np.ndarray | None] = field(default_factory=list)
    pv_used_wh: list[np.ndarray] = field(default_factory=list)
    capacity_ueur: float = 0.0  # the homes' capacity charges, in cost_ueur (µ€)
    schedules: list[HomeSchedule] = field(default_factory=list)  # per home: its assets' runs
    bound_ueur: float = 0.0  # no plan of these homes costs less (µ€): = cost_ueur once proven


def plan_community(homes: list[tuple[np.ndarray, np.ndarray, HomeAssets, float | None,
                                     float | None]],
                   buy: np.ndarray, sell: np.ndarray, limit_wh: float,
                   outdoor_c: np.ndarray | None = None,
                   peak_price_per_kw: float = 0.0,
                   keep: list[HomeSchedule] | None = None,
                   keep_until: int = 0, integer_starts: bool = False,
                   time_limit_s: float = 120.0, mip_rel_gap: float = 1e-3,
                   peak_floor_wh: float = 0.0) -> CommunityOptimum:
    """The centralised optimum: one programme over all homes whose net flow through the
    transformer is bought at ``buy`` and sold at ``sell`` and stays within ``limit_wh`` per
    slot. ``homes``: (load, pv, assets, soc, indoor) per home.
    ``integer_starts``: each appliance starts once, at one slot, as homes run them (a MILP,
    solved to ``mip_rel_gap`` within ``time_limit_s``; ``bound_ueur`` is then the solver's proof
    of how low the cost could go); else the starts are relaxed (an LP: a washer may run as
    fractions at many starts, which no home can do), a looser bound on welfare.
    ``keep``/``keep_until``: re-planned during the day, each home's assets run as ``keep``
    gives (per home) in the slots before ``keep_until``, whose flow is what it was (the limit
    binds from ``keep_until``); pass the day-start state and the revised load and PV.
    ``peak_floor_wh``: each home's least billed peak, as in ``plan_home``.

    It is a bound for any market among these homes: energy between neighbours nets out, and every
    asset is dispatched for the street. Not used by any agent (it sees every home's data).
    """
    T = len(buy)
    V, R = _Vars(), _Rows()
    nets, added = [], []
    for i, (load, pv, assets, soc, indoor) in enumerate(homes):
        h = _add_home(V, R, load, pv, assets, soc, outdoor_c, indoor, peak_floor_wh)
        if keep is not None and keep_until > 0:
            _keep_prefix(V, h, assets, keep[i], keep_until)
        nets.append((h.imp, h.exp))
        added.append((h, assets))
    limit = np.where(np.arange(T) < keep_until, np.inf, limit_wh)
    f_in = V.add(T, 0, limit)
    f_out = V.add(T, 0, limit)
    rows = R.add_rows(T, 0, 0)  # f_in − f_out = Σ homes (import − export)
    R.entries(rows, f_in, 1.0)
    R.entries(rows, f_out, -1.0)
    for imp, exp in nets:
        R.entries(rows, imp, -1.0)
        R.entries(rows, exp, 1.0)
    c = np.zeros(V.n)
    c[f_in] = np.asarray(buy, float) / 1000
    c[f_out] = -np.asarray(sell, float) / 1000
    for h, assets in added:
        _price_carry(c, h, assets)
        c[h.peak] = peak_price_per_kw * 4 / 1000  # each home's capacity charge, as it pays it
    res = _solve(c, R.matrix(V.n), R, V, V.integer if integer_starts else None, time_limit_s,
                 mip_rel_gap)
    if res.x is None:
        if res.infeasible:
            raise PlanInfeasible(f"no feasible community plan: {res.message}")
        raise FlexmarketError(f"no community plan found within {time_limit_s} s: {res.message}")
    bound = min(res.bound, res.objective)
    x = res.x

    def values(cols: np.ndarray) -> np.ndarray:  # an asset's columns, zeros without it
        return x[cols] if len(cols) else np.zeros(T)

    schedules = [HomeSchedule(x[h.pv_used], values(h.ch) - values(h.dis),
                              values(h.ev_ch) - values(h.ev_dis), values(h.hp_e),
                              tuple(x[y] for _, _, y in h.app_cols))
                 for h, _ in added]
    return CommunityOptimum(
        res.objective, x[f_in] - x[f_out],
        [x[h.imp] - x[h.exp] for h, _ in added],
        [x[h.ch] - x[h.dis] if len(h.ch) else None for h, _ in added],
        [x[h.soc] if len(h.soc) else None for h, _ in added],
        [x[h.pv_used] for h, _ in added],
        float(sum(x[h.peak[0]] for h, _ in added) * 4 * peak_price_per_kw / 1000), schedules,
        bound)


def plan_cost_ueur(mp: MilpPlan, tariff: Tariff, first_slot: int) -> int:
    """Expected cost (µ€) of a planned day at the supply contract's prices, peak charge incl."""
    cost = sum(value_ueur(round(i), tariff.retail(first_slot + t))
               - value_ueur(round(e), tariff.feed_in_price(first_slot + t))
               for t, (i, e) in enumerate(zip(mp.import_wh, mp.export_wh, strict=True)))
    return cost + capacity_charge_ueur(round(max(mp.import_wh.max(), 0)), tariff)
