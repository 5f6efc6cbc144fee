"""The seed project's 12 smart-grid scenarios: {2020 BAU, 2020 Green, 2030 BAU, 2030 Green} ×
{low, medium, high} penetration of smart assets (PV, batteries, EVs, heat pumps, smart
appliances).

The seed reports name the scenarios but not their penetration figures; these shares are ours,
rising from today's UK/EU levels (2020 BAU low) to an electrified, PV-rich street (2030 Green
high). Shares are of all homes; batteries go to PV homes first. ``table()`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Shares of homes (0..1) with each asset."""

    name: str
    pv: float
    battery: float
    ev: float
    heat_pump: float
    smart_appliances: float


_LEVELS = {
    ("2020", "bau"): [(0.10, 0.02, 0.02, 0.02, 0.10), (0.15, 0.04, 0.04, 0.03, 0.20),
                      (0.20, 0.06, 0.06, 0.05, 0.30)],
    ("2020", "green"): [(0.20, 0.05, 0.05, 0.05, 0.20), (0.25, 0.08, 0.08, 0.08, 0.30),
                        (0.30, 0.10, 0.12, 0.10, 0.40)],
    ("2030", "bau"): [(0.25, 0.10, 0.15, 0.10, 0.30), (0.35, 0.15, 0.25, 0.15, 0.45),
                      (0.45, 0.20, 0.35, 0.20, 0.60)],
    ("2030", "green"): [(0.40, 0.20, 0.30, 0.20, 0.40), (0.55, 0.30, 0.45, 0.30, 0.60),
                        (0.70, 0.40, 0.60, 0.40, 0.80)],
}

PRESETS: dict[str, Preset] = {}
for (year, path), rows in _LEVELS.items():
    for level, (pv, bat, ev, hp, sa) in zip(("low", "medium", "high"), rows, strict=True):
        name = f"{year}-{path}-{level}"
        PRESETS[name] = Preset(name, pv, bat, ev, hp, sa)


def table() -> str:
    """The presets as a Markdown table (for docs and ``--help``)."""
    lines = ["| preset | PV | battery | EV | heat pump | smart appliances |",
             "|---|---|---|---|---|---|"]
    for p in PRESETS.values():
        lines.append(f"| {p.name} | {p.pv:.0%} | {p.battery:.0%} | {p.ev:.0%} | "
                     f"{p.heat_pump:.0%} | {p.smart_appliances:.0%} |")
    return "\n".join(lines)
