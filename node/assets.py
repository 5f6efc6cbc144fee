"""Flexible home assets beyond the battery: EV, heat pump, shiftable appliances (units: Wh, W,
slots of the planning day, °C)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ElectricVehicle:
    """Plugged in from slot ``arrival`` to ``departure`` (exclusive); needs ``energy_wh`` by then.

    ``v2h`` lets it discharge into the home (never to the grid) while plugged in. If it stays
    plugged in overnight (``departure`` = the end of the day and ``stays_until`` > 0, a slot of
    the next day), part of the energy may be charged the next morning before ``stays_until``.
    """

    arrival: int
    departure: int
    energy_wh: int
    charger_w: int = 7400
    efficiency: float = 0.92
    v2h: bool = False
    battery_wh: int = 40_000
    stays_until: int = 0


@dataclass(frozen=True)
class HeatPump:
    """First-order house: T[t+1] = a·T[t] + (1−a)·T_out[t] + gain·COP·E[t]/1000 (E in Wh).

    ``a`` = exp(−Δt/τ) with τ the house time constant; ``gain`` in °C per kWh of heat.
    """

    power_w: int = 3000
    cop: float = 3.0
    tau_h: float = 30.0
    gain_c_per_kwh: float = 0.25
    comfort_min_c: float = 19.0
    comfort_max_c: float = 22.0
    initial_c: float = 20.5


@dataclass(frozen=True)
class Appliance:
    """A shiftable run: ``profile_wh`` per slot once started, within [earliest, latest_finish)."""

    name: str
    profile_wh: tuple[int, ...]
    earliest: int
    latest_finish: int
    # the household's favourite start (slot); None: none. A plan starts the run elsewhere only
    # where that saves it more than node.milp.PREFERENCE_UEUR_PER_SLOT per slot away from it
    preferred_start: int | None = None
