"""Units and slot arithmetic.

Time is UTC unix seconds; the delivery period is the 15-minute slot, ``slot = unix_s // 900``.
Energy is integer Wh, money integer micro-euro (µ€), prices integer µ€ per kWh.
"""

from __future__ import annotations

SLOT_SECONDS = 900
SLOTS_PER_DAY = 96
DAY_SECONDS = SLOT_SECONDS * SLOTS_PER_DAY

#: Price bounds accepted on any order or posted price, µ€/kWh (±10 €/kWh).
MAX_ABS_PRICE = 10_000_000
#: Largest single order, Wh (1 MWh: far above any home's 15-minute energy).
MAX_ORDER_WH = 1_000_000
#: Largest capacity a congestion point can be given for one slot, Wh (1 GWh).
MAX_CAPACITY_WH = 10**9
#: µ€ per euro.
UEUR_PER_EUR = 1_000_000


def slot_of(unix_s: int) -> int:
    """The slot that contains ``unix_s``."""
    return unix_s // SLOT_SECONDS


def slot_start(slot: int) -> int:
    """Unix seconds at which ``slot`` begins."""
    return slot * SLOT_SECONDS


def day_of_slot(slot: int) -> int:
    """UTC day number (unix days) of ``slot``."""
    return slot // SLOTS_PER_DAY


def first_slot_of_day(day: int) -> int:
    """First slot of UTC day number ``day``."""
    return day * SLOTS_PER_DAY


def value_ueur(energy_wh: int, price_ueur_per_kwh: int) -> int:
    """Money for ``energy_wh`` at ``price_ueur_per_kwh``, in µ€, floored.

    The one rounding rule of the project: every money amount derived from energy and a price goes
    through here, so payer and payee always see the same integer.
    """
    return (energy_wh * price_ueur_per_kwh) // 1000


def value_ueur_ceil(energy_wh: int, price_ueur_per_kwh: int) -> int:
    """Like :func:`value_ueur` but rounded up: for commitments that must cover any fill."""
    return -((-energy_wh * price_ueur_per_kwh) // 1000)


def wh_to_kw(energy_wh: float) -> float:
    """Mean power in kW over one slot that carries ``energy_wh``."""
    return energy_wh * 4 / 1000.0


def kw_to_wh(power_kw: float) -> float:
    """Energy in Wh over one slot at constant ``power_kw``."""
    return power_kw * 1000.0 / 4
