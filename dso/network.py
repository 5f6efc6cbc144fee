"""The LV grid as a pandapower network: MV feed, transformer, feeder cables, homes on buses.

Built with pandapower's element builders from an :class:`~dso.grid.LVGrid`: a 20 kV external
grid, one 20/0.4 kV transformer of the grid's rating, and per feeder a trunk cable of
``sections`` equal sections leaving the LV busbar; the homes of a feeder are spread round-robin
over its buses (home k of a feeder sits at section ``k % sections + 1``). Each home is one
pandapower load whose ``p_mw`` is its net import (negative when it exports).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandapower as pp

from dso.grid import LVGrid

MV_KV = 20.0
LV_KV = 0.4


@dataclass(frozen=True)
class GridNetwork:
    """A pandapower net and where each home and feeder lives in it."""

    net: pp.pandapowerNet
    home_load: dict[str, int]  # home id → index in net.load
    feeder_lines: dict[str, tuple[int, ...]]  # feeder → its line indices, busbar outwards
    trafo: int  # index in net.trafo of the MV/LV transformer

    @property
    def homes(self) -> tuple[str, ...]:
        """Homes in the order of their loads (the row order of the power-flow inputs)."""
        return tuple(sorted(self.home_load, key=self.home_load.__getitem__))


def build_network(grid: LVGrid) -> GridNetwork:
    """The pandapower model of ``grid`` (see the module docstring for its layout)."""
    net = pp.create_empty_network(name="flexmarket LV grid", sn_mva=1.0)
    mv = pp.create_bus(net, vn_kv=MV_KV, name="MV")
    busbar = pp.create_bus(net, vn_kv=LV_KV, name="LV busbar")
    pp.create_ext_grid(net, mv, vm_pu=1.0, va_degree=0.0, name="MV grid")
    sn_mva = grid.transformer_kva / 1000
    trafo = pp.create_transformer_from_parameters(
        net, mv, busbar, sn_mva=sn_mva, vn_hv_kv=MV_KV, vn_lv_kv=LV_KV,
        vk_percent=4.0, vkr_percent=1.2, pfe_kw=0.4 * grid.transformer_kva / 160,
        i0_percent=0.3, shift_degree=0.0, name="MV/LV transformer")
    home_load: dict[str, int] = {}
    feeder_lines: dict[str, tuple[int, ...]] = {}
    for feeder in grid.feeders:
        buses = [busbar]
        lines = []
        for k in range(grid.sections_per_feeder):
            bus = pp.create_bus(net, vn_kv=LV_KV, name=f"{feeder}/{k + 1}")
            lines.append(pp.create_line(
                net, buses[-1], bus, length_km=grid.section_m / 1000, std_type=grid.cable,
                name=f"{feeder} section {k + 1}"))
            buses.append(bus)
        feeder_lines[feeder] = tuple(lines)
        homes = sorted(h for h, f in grid.home_feeder.items() if f == feeder)
        for k, home in enumerate(homes):
            home_load[home] = pp.create_load(
                net, buses[k % grid.sections_per_feeder + 1], p_mw=0.0, name=home)
    return GridNetwork(net, home_load, feeder_lines, trafo)
