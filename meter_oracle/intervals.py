"""15-minute energy from cumulative meter registers.

Register samples (meter time, import Wh, export Wh) are interpolated linearly at slot boundaries;
each slot's energy is the difference of the interpolated registers at its two ends. A slot whose
boundary has no sample within ``max_gap_s`` on both sides is marked estimated. A register that goes
backwards (e.g. a meter swap) is an error, never a negative energy.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import FlexmarketError
from protocol.units import SLOT_SECONDS, slot_of, slot_start


class RegisterWentBackwards(FlexmarketError):
    """A cumulative register decreased: meter swap or corrupt data."""


@dataclass(frozen=True)
class RegisterSample:
    """Cumulative registers at a meter timestamp (unix s, UTC)."""

    time: int
    import_wh: int
    export_wh: int


@dataclass(frozen=True)
class Interval:
    """Energy of one slot and the registers at its end."""

    slot: int
    import_wh: int
    export_wh: int
    import_register_wh: int
    export_register_wh: int
    estimated: bool


class IntervalBuilder:
    """Turns a stream of register samples into closed 15-minute intervals."""

    def __init__(self, max_gap_s: int = 60) -> None:
        self.max_gap_s = max_gap_s
        self._last: RegisterSample | None = None
        self._boundary: tuple[int, int, int, bool] | None = None  # (time, imp, exp, estimated)

    def add(self, sample: RegisterSample) -> list[Interval]:
        """Add a sample (in time order); returns the intervals it closes."""
        last = self._last
        if last is not None:
            if sample.time <= last.time:
                return []  # duplicate or out-of-order telegram: ignored
            if sample.import_wh < last.import_wh or sample.export_wh < last.export_wh:
                raise RegisterWentBackwards(
                    f"register went backwards at {sample.time}: "
                    f"import {last.import_wh}→{sample.import_wh}, "
                    f"export {last.export_wh}→{sample.export_wh}"
                )
        closed: list[Interval] = []
        if last is None:
            if sample.time % SLOT_SECONDS == 0:
                self._boundary = (sample.time, sample.import_wh, sample.export_wh, False)
        else:
            first_boundary = slot_start(slot_of(last.time) + 1)
            for b in range(first_boundary, sample.time + 1, SLOT_SECONDS):
                imp, exp = _interpolate(last, sample, b)
                gap = sample.time - last.time > 2 * self.max_gap_s
                estimated = gap and b not in (last.time, sample.time)
                if self._boundary is not None:
                    t0, i0, e0, est0 = self._boundary
                    closed.append(
                        Interval(slot_of(t0), imp - i0, exp - e0, imp, exp, estimated or est0)
                    )
                self._boundary = (b, imp, exp, estimated)
        self._last = sample
        return closed


def _interpolate(a: RegisterSample, b: RegisterSample, t: int) -> tuple[int, int]:
    """Registers at time ``t`` between samples ``a`` and ``b`` (integer Wh, rounded down)."""
    span = b.time - a.time
    frac_num = t - a.time
    imp = a.import_wh + (b.import_wh - a.import_wh) * frac_num // span
    exp = a.export_wh + (b.export_wh - a.export_wh) * frac_num // span
    return imp, exp
