"""The supplier's public tariff: what the always-present upstream counterparty charges and pays."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from protocol.units import SLOT_SECONDS

Price = Annotated[int, Field(ge=0, le=10_000_000)]
#: Flanders' capacity tariff bills a 15-minute peak of at least 2.5 kW (VREG): 625 Wh per slot
FLANDERS_MIN_PEAK_WH = 625


class Tariff(BaseModel):
    """Retail time-of-use price by UTC hour, feed-in price and imbalance spreads, all µ€/kWh.

    Deviations from contracts settle with the supplier around its own contract prices: energy taken
    beyond contracts (or not delivered) costs retail + ``imbalance_premium``; energy delivered
    beyond them earns feed-in − ``imbalance_discount`` (not below zero).
    ``capacity_per_kw_day`` bills each day's highest 15-minute average import (as Belgium's
    capacity tariff bills the month's), but never less than ``capacity_min_peak_wh`` (Flanders
    bills at least 2.5 kW, :data:`FLANDERS_MIN_PEAK_WH`: a peak below it costs nothing more);
    it goes to the DSO.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    retail_by_hour: tuple[Price, ...] = Field(min_length=24, max_length=24)
    feed_in: Price
    imbalance_premium: Price
    imbalance_discount: Price
    capacity_per_kw_day: Price = 0  # network capacity charge: µ€ per kW of the day's import peak
    capacity_min_peak_wh: int = Field(0, ge=0, le=1_000_000)  # the least peak billed (Wh/slot)

    def retail(self, slot: int) -> int:
        """Retail price (µ€/kWh) in ``slot``."""
        return self.retail_by_hour[(slot * SLOT_SECONDS // 3600) % 24]

    def feed_in_price(self, slot: int) -> int:
        """Feed-in price (µ€/kWh) in ``slot``."""
        return self.feed_in

    def imbalance_short(self, slot: int) -> int:
        """Price (µ€/kWh) of energy taken beyond contracts or sold and not delivered."""
        return self.retail(slot) + self.imbalance_premium

    def imbalance_long(self, slot: int) -> int:
        """Price (µ€/kWh) paid for energy delivered beyond contracts."""
        return max(self.feed_in_price(slot) - self.imbalance_discount, 0)


def two_rate_tariff(
    day: int = 280_000,
    night: int = 180_000,
    feed_in: int = 50_000,
    day_hours: range = range(8, 23),
    imbalance_premium: int = 30_000,
    imbalance_discount: int = 20_000,
    capacity_per_kw_day: int = 0,
    capacity_min_peak_wh: int = 0,
) -> Tariff:
    """A day/night tariff (e.g. day 08:00–23:00), the common two-rate retail contract."""
    by_hour = tuple(day if h in day_hours else night for h in range(24))
    return Tariff(
        retail_by_hour=by_hour,
        feed_in=feed_in,
        imbalance_premium=imbalance_premium,
        imbalance_discount=imbalance_discount,
        capacity_per_kw_day=capacity_per_kw_day,
        capacity_min_peak_wh=capacity_min_peak_wh,
    )


def cheapest_retail(tariff: Tariff, first_slot: int, slots: int) -> int:
    """The lowest retail price (µ€/kWh) of the ``slots`` slots from ``first_slot``."""
    return min(tariff.retail(first_slot + t) for t in range(slots))


def capacity_charge_ueur(peak_import_wh: int, tariff: Tariff) -> int:
    """The day's capacity charge (µ€) for a 15-minute import peak of ``peak_import_wh`` (billed
    at no less than the tariff's ``capacity_min_peak_wh``)."""
    billed = max(int(peak_import_wh), tariff.capacity_min_peak_wh)
    return billed * 4 * tariff.capacity_per_kw_day // 1000
