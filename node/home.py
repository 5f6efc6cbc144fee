"""A home's assets and the physics of its battery."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from node.assets import Appliance, ElectricVehicle, HeatPump


@dataclass(frozen=True)
class Battery:
    """Home battery: usable capacity (Wh), power limit (W), round-trip efficiency, initial SoC."""

    capacity_wh: int
    power_w: int
    round_trip_efficiency: float = 0.9
    initial_soc: float = 0.5

    @property
    def one_way_efficiency(self) -> float:
        return math.sqrt(self.round_trip_efficiency)

    @property
    def max_slot_wh(self) -> int:
        """Largest energy through the inverter in one slot."""
        return self.power_w // 4


@dataclass(frozen=True)
class HomeConfig:
    """One home: identity, feeder (zone), yearly load, PV size and optional battery."""

    home_id: str
    zone: str
    annual_kwh: float
    load_profile: str
    pv_kwp: float = 0.0
    pv_profile: str = ""
    battery: Battery | None = None
    ev: ElectricVehicle | None = None
    heat_pump: HeatPump | None = None
    appliances: tuple[Appliance, ...] = ()

    @property
    def flexible(self) -> bool:
        """Has assets beyond a battery, which the MILP planner schedules."""
        return self.ev is not None or self.heat_pump is not None or bool(self.appliances)


def self_consumption(
    net_wh: np.ndarray, battery: Battery, soc_wh: float
) -> tuple[np.ndarray, float]:
    """Greedy self-consumption: charge from surplus, discharge into deficit.

    ``net_wh`` is load − PV per slot (Wh, + = deficit). Returns the battery's grid-side energy per
    slot (+ = charging, i.e. extra consumption) and the final state of charge (Wh).
    """
    eta = battery.one_way_efficiency
    step = battery.max_slot_wh
    out = np.zeros(len(net_wh), dtype=np.int64)
    soc = soc_wh
    for t, net in enumerate(net_wh):
        if net < 0:  # surplus: charge
            room = (battery.capacity_wh - soc) / eta
            e = min(-net, step, room)
            e = int(e)
            soc += e * eta
            out[t] = e
        elif net > 0:  # deficit: discharge
            avail = soc * eta
            e = int(min(net, step, avail))
            soc -= e / eta
            out[t] = -e
    return out, soc
