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
