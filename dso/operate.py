"""USEF operate phase: the DSO activates flexibility slot by slot as the flows are metered.

Day-ahead plans rest on forecasts; the metered flow of a slot can still exceed the limit. In
each slot, in time order, the DSO sees the street's flow (the homes' meters, 15-minute
readings) and, where it is over the limit:

- import: it defers EV charging of homes in that slot to later slots of the same plug-in
  window — tonight's, or this morning's before the EV leaves — that still have room by the
  day-ahead plan (never beyond the charger's power, never past departure, so every EV still gets
  its energy); what finds no room stays;
- export: it curtails PV of homes that export in that slot (their inverters' export limit).

Each home is paid what the activation can cost it at most, since its market contracts stand: a
deferred kWh may be a purchase not taken in slot k (sold back at the imbalance-long price) and
bought again in slot j (retail): ``retail(j) − long(k)``; a curtailed kWh may be a sale not
delivered, bought back at the imbalance-short price ``short(k)``. Pure; the caller applies the
new net profiles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


@dataclass
class Activation:
    """What the operate phase changed: new nets, energy moved and curtailed, pay (µ€) per home."""

    net_wh: dict[str, np.ndarray]
    ev_wh: dict[str, np.ndarray]
    deferred_wh: dict[str, int] = field(default_factory=dict)
    curtailed_wh: dict[str, int] = field(default_factory=dict)
    pay_ueur: dict[str, int] = field(default_factory=dict)


def operate(net_wh: Mapping[str, np.ndarray], ev_wh: Mapping[str, np.ndarray],
            windows: Mapping[str, ChargingWindow], pv_used_wh: Mapping[str, np.ndarray],
            planned_flow_wh: np.ndarray, limit_wh: int,
            retail: Callable[[int], int], long: Callable[[int], int],
            short: Callable[[int], int]) -> Activation:
    """Run the operate phase over one day; see the module docstring.

    ``net_wh``: each home's metered net import per slot as it would be without activation.
    ``ev_wh``: EV charging inside it (Wh per slot) of homes whose EV may be deferred.
    ``pv_used_wh``: PV used (and curtailable) per slot. ``retail``, ``long``, ``short``: the
    retail and imbalance prices (µ€/kWh) of slot index ``k``.
    """
    net = {h: np.asarray(v, dtype=np.int64).copy() for h, v in net_wh.items()}
    ev = {h: np.asarray(v, dtype=np.int64).copy() for h, v in ev_wh.items()}
    expected = np.asarray(planned_flow_wh, dtype=np.int64).copy()  # room check for later slots
    out = Activation(net, ev)
    homes = sorted(net)
    for k in range(len(expected)):
        flow = int(sum(net[h][k] for h in homes))
        if flow > limit_wh:
            excess = flow - limit_wh
            for h in sorted(ev, key=lambda h: (-int(ev[h][k]), h)):
                if excess <= 0:
                    break
                w = windows[h]
                end = (w.morning_until if k < w.morning_until
                       else w.departure if w.arrival <= k < w.departure else k)
                for j in range(k + 1, end):
                    if excess <= 0 or ev[h][k] <= 0:
                        break
                    room = min(limit_wh - int(expected[j]), w.max_wh - int(ev[h][j]))
                    move = min(room, int(ev[h][k]), excess)
                    if move <= 0:
                        continue
                    ev[h][k] -= move
                    ev[h][j] += move
                    net[h][k] -= move
                    net[h][j] += move
                    expected[j] += move
                    excess -= move
                    out.deferred_wh[h] = out.deferred_wh.get(h, 0) + move
                    out.pay_ueur[h] = out.pay_ueur.get(h, 0) + max(
                        0, -(-move * (retail(j) - long(k)) // 1000))
        elif flow < -limit_wh:
            excess = -flow - limit_wh
            for h in sorted(pv_used_wh, key=lambda h: (int(net[h][k]), h)):
                if excess <= 0:
                    break
                cut = min(int(max(-net[h][k], 0)), int(pv_used_wh[h][k]), excess)
                if cut <= 0:
                    continue
                net[h][k] += cut
                excess -= cut
                out.curtailed_wh[h] = out.curtailed_wh.get(h, 0) + cut
                out.pay_ueur[h] = out.pay_ueur.get(h, 0) - (-cut * short(k) // 1000)
    return out
