"""The LV grid as the DSO models it for the market: transformer, feeders, homes on feeders.

This model is lossless and radial: the transformer's import flow in a slot is the sum of the
homes' net imports; the market and the price loop use it by default (``dso.congestion_model``).
Cable ratings, losses and voltages are in the pandapower model (:mod:`dso.network`), its batched
power flow (:mod:`dso.powerflow`) and the congestion points' sensitivities (:mod:`dso.sensitivity`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocol.topology import Topology, transformer_topology
from protocol.units import kw_to_wh


@dataclass(frozen=True)
class LVGrid:
    """One MV/LV substation: transformer rating (kVA), its feeders and their cables.

    The cable fields shape the pandapower model (:mod:`dso.network`): each feeder is a trunk of
    ``sections_per_feeder`` sections of ``section_m`` metres of pandapower std type ``cable``.
    """

    transformer_kva: float
    feeders: tuple[str, ...]
    home_feeder: dict[str, str]
    cable: str = "NAYY 4x150 SE"
    sections_per_feeder: int = 10
    section_m: float = 30.0

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
