"""The LV grid as the DSO models it for the market: transformer, feeders, homes on feeders.

This first model is lossless and radial: the transformer's import flow in a slot is the sum of
the homes' net imports. (Cable ratings, losses and voltages come with the power-flow model.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocol.topology import Topology, transformer_topology
from protocol.units import kw_to_wh


@dataclass(frozen=True)
class LVGrid:
    """One MV/LV substation: transformer rating (kVA, unity power factor) and its feeders."""

    transformer_kva: float
    feeders: tuple[str, ...]
    home_feeder: dict[str, str]

    def topology(self) -> Topology:
        return transformer_topology(self.feeders)

    @property
    def transformer_limit_wh(self) -> int:
        """Energy through the transformer in one slot at its rating (Wh)."""
        return int(kw_to_wh(self.transformer_kva))

    def transformer_flow_wh(self, home_net_wh: dict[str, np.ndarray]) -> np.ndarray:
        """Import flow (Wh per slot, + = from upstream) for per-home net imports."""
        return np.sum(np.stack(list(home_net_wh.values())), axis=0)

    def feeder_flow_wh(self, home_net_wh: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for home, net in home_net_wh.items():
            f = self.home_feeder[home]
            out[f] = out.get(f, 0) + net
        return out
