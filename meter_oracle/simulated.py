"""A simulated meter: cumulative registers driven by per-slot import/export energy."""

from __future__ import annotations

from collections.abc import Iterator

from meter_oracle.intervals import RegisterSample
from protocol.units import SLOT_SECONDS, slot_start


class SimulatedMeter:
    """Accumulates import/export Wh into registers and emits samples like a gateway would.

    ``samples_per_slot`` register samples are emitted per slot, evenly spaced, the first exactly at
    the slot start; within a slot energy flows at constant power.
    """

    def __init__(self, import_register_wh: int = 0, export_register_wh: int = 0,
                 samples_per_slot: int = 1) -> None:
        self.import_register_wh = import_register_wh
        self.export_register_wh = export_register_wh
        self.samples_per_slot = samples_per_slot

    def run_slot(self, slot: int, import_wh: int, export_wh: int) -> Iterator[RegisterSample]:
        """Samples during ``slot`` (from its start, excluding its end), then advance registers."""
        n = self.samples_per_slot
        t0 = slot_start(slot)
        for k in range(n):
            yield RegisterSample(
                t0 + k * SLOT_SECONDS // n,
                self.import_register_wh + import_wh * k // n,
                self.export_register_wh + export_wh * k // n,
            )
        self.import_register_wh += import_wh
        self.export_register_wh += export_wh

    def sample_now(self, time: int) -> RegisterSample:
        """A sample at ``time`` with the current registers (use at a slot boundary)."""
        return RegisterSample(time, self.import_register_wh, self.export_register_wh)


class TelegramMeter:
    """A simulated smart meter that speaks P1: telegrams from per-slot energy.

    Tariff 1 counts night energy (23:00–07:00 UTC), tariff 2 day energy; ``telegrams_per_slot``
    telegrams per slot, the first at the slot start, energy flowing at constant power.
    """

    def __init__(self, equipment_id: str, fluvius: bool = False,
                 telegrams_per_slot: int = 3) -> None:
        self.equipment_id = equipment_id
        self.fluvius = fluvius
        self.telegrams_per_slot = telegrams_per_slot
        self.registers = [0, 0, 0, 0]  # import t1, import t2, export t1, export t2
        self.month_peak_w = 0
        self.month_peak_time: int | None = None

    def _telegram(self, time: int, import_w: int, export_w: int, avg_w: int) -> bytes:
        from meter_oracle.telegram import write_telegram

        i1, i2, e1, e2 = self.registers
        return write_telegram(
            time=time, equipment_id=self.equipment_id, import_t1_wh=i1, import_t2_wh=i2,
            export_t1_wh=e1, export_t2_wh=e2, power_import_w=import_w, power_export_w=export_w,
            fluvius=self.fluvius, average_demand_w=avg_w, month_peak_w=self.month_peak_w,
            month_peak_time=self.month_peak_time,
        )

    def run_slot(self, slot: int, import_wh: int, export_wh: int) -> Iterator[bytes]:
        """Telegrams during ``slot``; registers advance by the slot's energy."""
        n = self.telegrams_per_slot
        t0 = slot_start(slot)
        night = not 7 <= (t0 // 3600) % 24 < 23
        base = list(self.registers)
        for k in range(n):
            imp, exp = import_wh * k // n, export_wh * k // n
            self.registers = [base[0] + (imp if night else 0), base[1] + (0 if night else imp),
                              base[2] + (exp if night else 0), base[3] + (0 if night else exp)]
            yield self._telegram(t0 + k * SLOT_SECONDS // n, import_wh * 4, export_wh * 4,
                                 import_wh * 4 * k // n)
        self.registers = [base[0] + (import_wh if night else 0),
                          base[1] + (0 if night else import_wh),
                          base[2] + (export_wh if night else 0),
                          base[3] + (0 if night else export_wh)]
        if import_wh * 4 > self.month_peak_w:
            self.month_peak_w, self.month_peak_time = import_wh * 4, t0 + SLOT_SECONDS

    def telegram_now(self, time: int) -> bytes:
        """A telegram at ``time`` with the current registers (use at a slot boundary)."""
        return self._telegram(time, 0, 0, 0)
