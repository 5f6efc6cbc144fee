"""The grid as the DSO prices it and the market checks it: lossless, or AC congestion points.

``lossless``: one congestion point, the transformer, whose flow is the sum of the homes' net
imports (``dso.grid.LVGrid``); each zone's energy moves it one for one.

``ac``: the transformer and every feeder's head cable (``dso.sensitivity.feeder_heads``), each
with its rating. Day ahead, every round of the price loop solves the exact AC power flow of the
aggregated A-plans (losses and voltage drop included), so a slot's congestion is found without
linearisation error; the homes then pay each point's price times the per-mille its flow moves
per unit of their zone's energy — the zonal sensitivities the market itself settles fees with
and checks capacities by (``protocol.topology``): the PTDF, linearised at light load
(``benchmarks/grid_year.py`` measures their error). Where the simulation checks a point by the
lossless sum of its homes' nets (the operate phase, the intraday prices and the morning
allotment, per point; flexibility purchases and the check of intraday plan updates, the
transformer only), the rating is divided by the point's sensitivity linearised at rated import:
a margin that makes the lossless sum reach the limit where the AC flow does near the rating, to
first order (at export the voltage rises and the current falls: the margin errs on the safe
side there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dso.grid import LVGrid
from protocol.topology import Topology
from protocol.units import kw_to_wh

if TYPE_CHECKING:  # pandapower loads in seconds: only the AC model imports it
    from dso.network import GridNetwork
    from dso.sensitivity import PointFlows

GRID_MODELS = ("lossless", "ac")


@dataclass(frozen=True)
class CongestionModel:
    """Topology, limits and prognosis of the DSO's congestion points (see the module doc)."""

    grid: LVGrid
    topology: Topology
    transformer_limit_wh: int  # for the lossless sum of net imports (Wh per slot)
    flows: PointFlows | None = None  # ac only
    rated: Topology | None = None  # ac only: the sensitivities linearised at rated import

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.topology.points)

    @property
    def point_limits_wh(self) -> np.ndarray:
        """Each point's rating as energy in one slot (Wh-equivalent of kVA × 15 min)."""
        if self.flows is None:
            return np.array([self.grid.transformer_limit_wh], float)
        return np.array([kw_to_wh(r) for r in self.flows.rating_kva])

    def lossless_limits(self) -> list[tuple[str | None, int]]:
        """Per point, the zone whose homes' summed net import it carries (None: all homes) and
        the limit on that sum (Wh per slot) at which its flow reaches its rating, to first
        order: the rating ÷ that zone's sensitivity. The lossless model: the transformer only."""
        if self.flows is None:
            return [(None, self.transformer_limit_wh)]
        out: list[tuple[str | None, int]] = [(None, self.transformer_limit_wh)]
        for point, limit in zip(self.rated.points[1:], self.point_limits_wh[1:], strict=True):
            zone, s = max(point.sensitivity_permille.items(), key=lambda kv: -kv[1])
            out.append((zone, int(limit * 1000 / -s)))
        return out

    def weights(self, zone: str) -> np.ndarray:
        """Per point, how much of a kWh imported in ``zone`` loads it (its fee share, ≥ 0)."""
        return np.array([max(-p.sensitivity_permille.get(zone, 0), 0) / 1000
                         for p in self.topology.points])

    def point_flows_wh(self, home_net_wh: dict[str, np.ndarray]) -> np.ndarray:
        """Each point's flow (Wh-equivalent per slot, points × slots, + = import): the exact AC
        power flow, or (lossless) the sum of the net imports."""
        if self.flows is None:
            return self.grid.transformer_flow_wh(home_net_wh)[None, :]
        homes = self.flows.grid.homes
        p_kw = np.stack([np.asarray(home_net_wh[h], float) for h in homes]) / kw_to_wh(1.0)
        return self.flows.flows_kva(p_kw) * kw_to_wh(1.0)

    def home_fees(self, zone: str, import_price: np.ndarray, export_price: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
        """A home's fees (µ€/kWh per slot) on its import and export from per-point prices
        (points × slots) — or, given per-slot prices of the one point, those."""
        if np.ndim(import_price) == 1:
            return import_price, export_price
        w = self.weights(zone)[:, None]
        return ((w * import_price).sum(axis=0).round().astype(np.int64),
                (w * export_price).sum(axis=0).round().astype(np.int64))


def congestion_model(grid: LVGrid, kind: str = "lossless",
                     network: GridNetwork | None = None) -> CongestionModel:
    """The DSO's model of ``grid``; ``network``: its pandapower model (built if not given)."""
    if kind == "lossless":
        return CongestionModel(grid, grid.topology(), grid.transformer_limit_wh)
    if kind != "ac":
        raise ValueError(f"unknown grid model {kind!r}; choose one of {', '.join(GRID_MODELS)}")
    from dso.network import build_network
    from dso.sensitivity import TRANSFORMER, PointFlows, rated_import_kw, zonal_topology

    flows = PointFlows(build_network(grid) if network is None else network)
    missing = set(grid.home_feeder) - set(flows.grid.homes)
    if missing:
        raise ValueError(f"homes without a load in the network: {sorted(missing)[:5]}")
    topology = zonal_topology(flows, grid.home_feeder, grid.feeders)
    if not all(p.sensitivity_permille for p in topology.points):  # cables leading to no home
        flows = PointFlows(flows.grid, tuple(spec for spec, p in zip(
            flows.points, topology.points, strict=True) if p.sensitivity_permille))
        topology = zonal_topology(flows, grid.home_feeder, grid.feeders)
    rated = zonal_topology(flows, grid.home_feeder, grid.feeders, rated_import_kw(flows))
    transformer = next(p for p in rated.points if p.name == TRANSFORMER)
    homes_per_zone = {z: sum(1 for f in grid.home_feeder.values() if f == z)
                      for z in grid.feeders}
    mean_s = sum(-transformer.sensitivity_permille.get(z, -1000) * n
                 for z, n in homes_per_zone.items()) / max(1, sum(homes_per_zone.values()))
    return CongestionModel(grid, topology, int(grid.transformer_limit_wh * 1000 / mean_s), flows,
                           rated)
