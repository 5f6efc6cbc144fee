"""The home's day plan (its USEF A-plan): expected net energy per slot.

The first planner is rule-based: the battery runs greedy self-consumption on the forecast. The
plan's net position per slot (Wh, + = import) is the A-plan; its *firm* part — the net position
shrunk towards zero by the forecast's own uncertainty — is what the agent trades forward, so that
a forecast error is not first sold at the local price and then bought back at the supplier's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from node.home import HomeConfig, self_consumption


@dataclass(frozen=True)
class Plan:
    """Planned per-slot energies (Wh) for one day."""

    first_slot: int
    load_wh: np.ndarray
    pv_wh: np.ndarray
    battery_wh: np.ndarray  # + = charging
    net_wh: np.ndarray  # load − pv + battery; + = import from the grid
    firm_wh: np.ndarray  # the part of net_wh the home is sure of (same sign, smaller magnitude)
    end_soc_wh: float = 0.0  # planned battery state of charge at the day's end
    end_indoor_c: float | None = None  # planned indoor temperature at the day's end
    # what one more Wh consumed in each slot is worth to the plan (µ€/kWh, the MILP's balance
    # duals): the truthful limit of the home's quotes; None where the planner did not price it
    marginal_value: np.ndarray | None = None

    def value(self, index: int) -> int | None:
        """The marginal value of slot index ``index`` (µ€/kWh), None if unknown."""
        if self.marginal_value is None or not np.isfinite(self.marginal_value[index]):
            return None
        return int(self.marginal_value[index])

def plan_day(home: HomeConfig, first_slot: int, load_fc: np.ndarray, pv_fc: np.ndarray,
             soc_wh: float, uncertainty_wh: np.ndarray | None = None) -> Plan:
    """Plan one day from forecasts, their uncertainty (Wh per slot) and the battery's SoC."""
    base = load_fc.astype(np.int64) - pv_fc.astype(np.int64)
    end_soc = soc_wh
    if home.battery is not None:
        battery, end_soc = self_consumption(base, home.battery, soc_wh)
    else:
        battery = np.zeros_like(base)
    net = base + battery
    margin = np.zeros_like(net) if uncertainty_wh is None else uncertainty_wh.astype(np.int64)
    firm = np.sign(net) * np.maximum(np.abs(net) - margin, 0)
    return Plan(first_slot, load_fc, pv_fc, battery, net, firm, end_soc)
