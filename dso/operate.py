"""USEF operate phase: the DSO activates flexibility slot by slot as the flows are metered.

Day-ahead plans rest on forecasts; the metered flow of a slot can still exceed the limit. In
each slot, in time order, the DSO sees the street's flow (the homes' meters, 15-minute
readings) and, where it is over the limit:

- import: it defers EV charging of homes in that slot to later slots of the same plug-in
  window — tonight's, or this morning's before the EV leaves — that still have room by the
  day-ahead plan (never beyond the charger's power, never past departure, so every EV still gets
  its energy); then, for what is left, it holds back home batteries' charging and discharges
  them (within their power and what they hold), and restores what it took — it charges them
  back — in later slots whose metered flow leaves room under ``restore_below_wh``; what finds
  no room stays;
- room (metered flow under ``restore_below_wh``): after charging batteries back, it brings
  forward EV charging that the plan expects in later slots of the window over that ceiling;
- export: it charges batteries back and brings EV charging forward first, then curtails PV of
  homes that export in that slot (their inverters' export limit).

Below the transformer, feeder cables can be congestion points too (``FeederPoint``): in each
slot their homes' flows are checked first, and an overload there is relieved by those homes
alone, the same ways (EV charging deferred to room under both the cable's and the transformer's
expected flows, batteries discharged, PV curtailed); charging back and bringing forward stay
within the cable's room as well as the transformer's.

No home pays for it: the change the activation makes to a home's metered net
(``Activation.correction_wh``) is an energy-transfer correction. Settlement takes the home's net
without it (``ledger/settlement_batch.py``), so its contracts, imbalance and capacity charge are
exactly as they would have been, and the DSO settles the corrected energy with the supplier at the
transfer price. For a battery the caller measures the correction against the battery as it
would have run without the DSO (its own controller from the SoC it would have had), so the
slots between the discharge and the restore are held harmless too, across midnight until the
battery is restored. Pure; the caller applies the new net profiles and SoCs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ChargingWindow:
    """An EV's plug-in windows (slot indices, ends exclusive) and charger energy per slot:
    tonight's from ``arrival`` to ``departure``, and this morning's until ``morning_until``."""

    arrival: int
    departure: int
    max_wh: int
    morning_until: int = 0


@dataclass(frozen=True)
class BatterySlot:
    """A home battery in the slot being metered, as the home's controller ran it (Wh).

    ``soc_wh``: stored at the slot's start; ``energy_wh``: grid-side energy the controller ran
    (+ = charging); ``owed_wh``: stored energy the DSO's earlier activations took and have not
    restored (the SoC it would have had less the SoC it has, after this slot's run)."""

    capacity_wh: int
    max_slot_wh: int
    efficiency: float  # one way
    soc_wh: float
    energy_wh: int
    owed_wh: float = 0.0

    def stored(self, energy_wh: int) -> float:
        """Change of the stored energy (Wh) when the slot's grid-side energy is ``energy_wh``."""
        return energy_wh * self.efficiency if energy_wh > 0 else energy_wh / self.efficiency

    def lowest_wh(self) -> int:
        """The lowest grid-side energy this slot can run: full discharge within what it holds."""
        return -int(min(self.max_slot_wh, max(self.soc_wh, 0.0) * self.efficiency))

    def highest_wh(self) -> int:
        """The highest grid-side energy this slot can run: full charge within its room."""
        return int(min(self.max_slot_wh,
                       max(self.capacity_wh - self.soc_wh, 0.0) / self.efficiency))


@dataclass(frozen=True)
class FeederPoint:
    """A congestion point below the transformer: the homes whose summed net it carries, their
    day-ahead flow and its limits on that sum (Wh per slot)."""

    homes: frozenset[str]
    planned_flow_wh: np.ndarray
    limit_wh: int
    restore_below_wh: int


@dataclass
class SlotChange:
    """What the DSO changes in one slot: each activated home's net and battery (Wh)."""

    net_wh: dict[str, int] = field(default_factory=dict)
    battery_wh: dict[str, int] = field(default_factory=dict)  # + = more charging
    ev_wh: dict[str, int] = field(default_factory=dict)  # − deferred, + brought forward


@dataclass
class Activation:
    """What the operate phase changed: new nets, energy moved and curtailed (Wh) per home."""

    net_wh: dict[str, np.ndarray]
    ev_wh: dict[str, np.ndarray]
    deferred_wh: dict[str, int] = field(default_factory=dict)
    curtailed_wh: dict[str, int] = field(default_factory=dict)
    discharged_wh: dict[str, int] = field(default_factory=dict)
    correction_wh: dict[str, np.ndarray] = field(default_factory=dict)  # new − old net, per slot

    @property
    def activated(self) -> list[str]:
        """Homes whose net the activation changed."""
        return sorted(self.correction_wh)


class OperatePhase:
    """The operate phase of one day, one slot at a time as its flows are metered.

    ``ev_wh``: the planned EV charging (Wh per slot) of homes whose EV may be deferred;
    ``planned_flow_wh``: the street's day-ahead flow, against which room in later slots is judged.
    Energy deferred into a later slot ``j`` is :meth:`shift_wh` there: the caller adds it to the
    home's consumption when slot ``j`` comes. Batteries are restored only where the metered
    flow stays within ``restore_below_wh`` (default: the limit).
    """

    def __init__(self, ev_wh: Mapping[str, np.ndarray], windows: Mapping[str, ChargingWindow],
                 planned_flow_wh: np.ndarray, limit_wh: int,
                 restore_below_wh: int | None = None,
                 feeders: tuple[FeederPoint, ...] = ()) -> None:
        self.ev = {h: np.asarray(v, dtype=np.int64).copy() for h, v in ev_wh.items()}
        self.shift = {h: np.zeros(len(v), dtype=np.int64) for h, v in self.ev.items()}
        self.windows = windows
        self.expected = np.asarray(planned_flow_wh, dtype=np.int64).copy()
        self.limit = limit_wh
        self.restore_below = limit_wh if restore_below_wh is None else restore_below_wh
        self.deferred_wh: dict[str, int] = {}
        self.curtailed_wh: dict[str, int] = {}
        self.discharged_wh: dict[str, int] = {}  # grid-side, charging held back included
        self.restored_wh: dict[str, int] = {}  # grid-side, charged back
        self.advanced_wh: dict[str, int] = {}  # EV charging brought forward
        self.feeders = feeders
        self.feeder_of = {h: g for g, f in enumerate(feeders) for h in f.homes}
        if len(self.feeder_of) != sum(len(f.homes) for f in feeders):
            raise ValueError("a home sits below two feeder points")
        self.feeder_expected = [np.asarray(f.planned_flow_wh, dtype=np.int64).copy()
                                for f in feeders]
        self._room: dict[int, int] = {}  # this slot: each feeder's room left to charge into
        self._curtailed_now: dict[str, int] = {}  # this slot: PV curtailed so far

    @property
    def activated(self) -> list[str]:
        """Homes whose net the activation changed so far."""
        return sorted(set(self.deferred_wh) | set(self.curtailed_wh) | set(self.discharged_wh)
                      | set(self.advanced_wh))

    def holds(self, home: str) -> bool:
        """Whether the DSO runs part of the home's schedule today (its EV or its battery)."""
        return (home in self.deferred_wh or home in self.discharged_wh
                or home in self.advanced_wh)

    def shift_wh(self, home: str, k: int) -> int:
        """EV energy deferred into slot ``k`` of ``home`` by earlier activations."""
        shift = self.shift.get(home)
        return 0 if shift is None else int(shift[k])

    def replan(self, home: str, ev_wh: np.ndarray, from_slot: int) -> None:
        """The home re-planned its EV from slot index ``from_slot`` on (knowing what it has
        charged): deferrals into those slots are its plan's now."""
        if home in self.ev:
            self.ev[home][from_slot:] = np.asarray(ev_wh, dtype=np.int64)[from_slot:]
            self.shift[home][from_slot:] = 0

    def step(self, k: int, net_wh: Mapping[str, int], pv_used_wh: Mapping[str, int],
             batteries: Mapping[str, BatterySlot] | None = None) -> SlotChange:
        """Slot index ``k``: the homes' nets (deferrals into ``k`` included), PV used and the
        batteries the DSO may run; returns what it changes in this slot."""
        change = SlotChange()
        delta = change.net_wh
        batteries = batteries or {}
        self._curtailed_now = {}
        # the feeder points first: each one's overload is its own homes' to relieve
        for g, point in enumerate(self.feeders):
            flow = self._feeder_flow(g, net_wh, delta)
            if flow > point.limit_wh:
                excess = self._defer_ev(k, flow - point.limit_wh, change, point.homes)
                if excess > 0:
                    self._discharge(excess, {h: b for h, b in batteries.items()
                                             if h in point.homes}, change)
            elif flow < -point.limit_wh:
                self._curtail(-flow - point.limit_wh, net_wh, {
                    h: v for h, v in pv_used_wh.items() if h in point.homes}, change)
        limit = self.limit
        flow = int(sum(net_wh.values())) + sum(delta.values())
        if flow > limit:
            excess = self._defer_ev(k, flow - limit, change)
            if excess > 0:
                self._discharge(excess, batteries, change)
            return change
        # each feeder's room now: charging back and bringing forward stay within it
        self._room = {g: point.restore_below_wh - self._feeder_flow(g, net_wh, delta)
                      for g, point in enumerate(self.feeders)}
        # room to charge back what batteries gave earlier: into an export overload first,
        # before any PV is curtailed
        before = sum(delta.values())
        self._restore(self.restore_below - flow, batteries, change)
        flow += sum(delta.values()) - before
        if flow <= self.restore_below:
            flow += self._advance_ev(k, self.restore_below - flow, change)
        if flow < -limit:
            self._curtail(-flow - limit, net_wh, pv_used_wh, change)
        return change

    def _feeder_flow(self, g: int, net_wh: Mapping[str, int], delta: Mapping[str, int]) -> int:
        """Feeder point ``g``'s flow this slot: its homes' nets with the changes so far (Wh)."""
        return sum(int(net_wh[h]) + delta.get(h, 0) for h in self.feeders[g].homes
                   if h in net_wh)

    def _feeder_room(self, home: str, wanted: int) -> int:
        """How much of ``wanted`` Wh more import the home's feeder point has room for now."""
        g = self.feeder_of.get(home)
        return wanted if g is None else max(min(wanted, self._room[g]), 0)

    def _take_feeder_room(self, home: str, used: int) -> None:
        g = self.feeder_of.get(home)
        if g is not None:
            self._room[g] -= used

    def _curtail(self, excess: int, net_wh: Mapping[str, int], pv_used_wh: Mapping[str, int],
                 change: SlotChange) -> None:
        """Curtail the PV of exporting homes, the most exporting first, by ``excess`` (Wh)."""
        delta = change.net_wh
        for h in sorted(pv_used_wh, key=lambda h: (int(net_wh[h]) + delta.get(h, 0), h)):
            if excess <= 0:
                break
            cut = min(int(max(-(net_wh[h] + delta.get(h, 0)), 0)),
                      int(pv_used_wh[h]) - self._curtailed_now.get(h, 0), excess)
            if cut <= 0:
                continue
            delta[h] = delta.get(h, 0) + cut
            excess -= cut
            self._curtailed_now[h] = self._curtailed_now.get(h, 0) + cut
            self.curtailed_wh[h] = self.curtailed_wh.get(h, 0) + cut

    def _window_end(self, home: str, k: int) -> int:
        """The end (exclusive) of the plug-in window the home's EV is in at slot ``k``: this
        morning's, or tonight's; ``k`` itself if it is in neither."""
        w = self.windows[home]
        return (w.morning_until if k < w.morning_until
                else w.departure if w.arrival <= k < w.departure else k)

    def _defer_ev(self, k: int, excess: int, change: SlotChange,
                  only: frozenset[str] | None = None) -> int:
        """Defer EV charging out of import-overloaded slot ``k`` into later room of its window
        (expected flow under the limit, and under its feeder point's); returns the excess
        left. ``only``: of these homes only."""
        for h in sorted(self.ev, key=lambda h: (-int(self.ev[h][k]), h)):
            if excess <= 0:
                break
            if only is not None and h not in only:
                continue
            w, ev = self.windows[h], self.ev[h]
            g = self.feeder_of.get(h)
            for j in range(k + 1, self._window_end(h, k)):
                if excess <= 0 or ev[k] <= 0:
                    break
                room = min(self.limit - int(self.expected[j]), w.max_wh - int(ev[j]))
                if g is not None:
                    room = min(room, self.feeders[g].limit_wh - int(self.feeder_expected[g][j]))
                move = min(room, int(ev[k]), excess)
                if move <= 0:
                    continue
                ev[k] -= move
                ev[j] += move
                self.shift[h][j] += move
                self.expected[j] += move
                if g is not None:
                    self.feeder_expected[g][j] += move
                change.net_wh[h] = change.net_wh.get(h, 0) - move
                change.ev_wh[h] = change.ev_wh.get(h, 0) - move
                excess -= move
                self.deferred_wh[h] = self.deferred_wh.get(h, 0) + move
        return excess

    def _advance_ev(self, k: int, room: int, change: SlotChange) -> int:
        """Charge EVs now, within ``room`` (Wh), what they plan to charge in later slots of
        their window that the plan expects over ``restore_below_wh``: energy the DSO need not
        defer or discharge for when those come. Returns the energy advanced."""
        advanced = 0
        for h in sorted(self.ev):
            w, ev = self.windows[h], self.ev[h]
            for j in range(k + 1, self._window_end(h, k)):
                if room <= 0:
                    return advanced
                over = int(self.expected[j]) - self.restore_below
                move = self._feeder_room(h, min(room, over, int(ev[j]), w.max_wh - int(ev[k])))
                if move <= 0:
                    continue
                ev[k] += move
                ev[j] -= move
                self.shift[h][j] -= move
                self.expected[j] -= move
                self._take_feeder_room(h, move)
                g = self.feeder_of.get(h)
                if g is not None:
                    self.feeder_expected[g][j] -= move
                change.net_wh[h] = change.net_wh.get(h, 0) + move
                change.ev_wh[h] = change.ev_wh.get(h, 0) + move
                room -= move
                advanced += move
                self.advanced_wh[h] = self.advanced_wh.get(h, 0) + move
        return advanced

    def _discharge(self, excess: int, batteries: Mapping[str, BatterySlot],
                   change: SlotChange) -> None:
        """Cover ``excess`` import by holding back batteries' charging, then discharging them;
        the batteries with the most to give first."""
        give = {h: b.energy_wh + change.battery_wh.get(h, 0) - b.lowest_wh()
                for h, b in batteries.items()}
        for h in sorted(give, key=lambda h: (-give[h], h)):
            if excess <= 0:
                break
            cut = min(give[h], excess)
            if cut <= 0:
                continue
            change.battery_wh[h] = change.battery_wh.get(h, 0) - cut
            change.net_wh[h] = change.net_wh.get(h, 0) - cut
            excess -= cut
            self.discharged_wh[h] = self.discharged_wh.get(h, 0) + cut

    def _restore(self, room: int, batteries: Mapping[str, BatterySlot],
                 change: SlotChange) -> None:
        """Charge back what earlier activations took, within ``room`` (Wh) of import."""
        for h in sorted(batteries):
            b = batteries[h]
            if room <= 0:
                break
            if b.owed_wh <= 0.5 or h in change.battery_wh:  # not one run for a feeder now
                continue
            # grid-side energy that stores what is owed: less discharge first, then charge
            e, need = b.energy_wh, b.owed_wh
            if e < 0:
                less = min(-e, need * b.efficiency)
                e, need = e + less, need - less / b.efficiency
            up = int(np.floor(e + need / b.efficiency - b.energy_wh + 1e-9))
            up = self._feeder_room(h, min(up, b.highest_wh() - b.energy_wh, room))
            if up <= 0:
                continue
            change.battery_wh[h] = up
            change.net_wh[h] = change.net_wh.get(h, 0) + up
            room -= up
            self._take_feeder_room(h, up)
            self.restored_wh[h] = self.restored_wh.get(h, 0) + up


def operate(net_wh: Mapping[str, np.ndarray], ev_wh: Mapping[str, np.ndarray],
            windows: Mapping[str, ChargingWindow], pv_used_wh: Mapping[str, np.ndarray],
            planned_flow_wh: np.ndarray, limit_wh: int) -> Activation:
    """Run the operate phase over a whole day at once (:class:`OperatePhase` slot by slot).

    ``net_wh``: each home's metered net import per slot as it would be without activation.
    ``ev_wh``: EV charging inside it (Wh per slot) of homes whose EV may be deferred.
    ``pv_used_wh``: PV used (and curtailable) per slot. ``planned_flow_wh``: the street's
    day-ahead flow, against which room in later slots is judged.
    """
    phase = OperatePhase(ev_wh, windows, planned_flow_wh, limit_wh)
    net = {h: np.asarray(v, dtype=np.int64).copy() for h, v in net_wh.items()}
    for k in range(len(phase.expected)):
        now = {h: int(net[h][k]) + phase.shift_wh(h, k) for h in sorted(net)}
        change = phase.step(k, now, {h: int(v[k]) for h, v in pv_used_wh.items()})
        for h in net:
            net[h][k] = now[h] + change.net_wh.get(h, 0)
    return Activation(net, phase.ev, deferred_wh=dict(phase.deferred_wh),
                      curtailed_wh=dict(phase.curtailed_wh),
                      correction_wh={h: net[h] - np.asarray(net_wh[h], dtype=np.int64)
                                     for h in phase.activated})
