"""Real LV grids from SimBench as scenarios, with their own yearly 15-minute profiles.

``simbench_scenario("1-LV-rural1--2-sw")`` loads the grid with the simbench package, makes one
home (customer) per load, gives it that load's absolute yearly profile, and gives each PV
generator to a customer on its bus (or, where its bus has none, to the customer of its feeder
with the least PV). Feeders are the grid's parts below the LV busbar. The SimBench codes'
``--0``, ``--1``, ``--2`` are today, 2024 and 2034 (more PV, heat pumps and EVs).

The pandapower model of the grid is SimBench's own net; each customer's load there carries its
net import (PV folded in at the customer's bus), as in :mod:`dso.network`.
"""

from __future__ import annotations

import copy
import datetime as dt
from functools import lru_cache

import numpy as np
import pandapower as pp
import pandapower.topology as top

from dso.grid import LVGrid
from dso.network import GridNetwork
from node.home import HomeConfig
from protocol.tariff import two_rate_tariff
from sim.profiles import Profiles
from sim.scenario import DEFAULT_START, Scenario, unix_day

SIMBENCH_LV_CODES = tuple(f"1-LV-{g}--{s}-sw" for g in (
    "rural1", "rural2", "rural3", "semiurb4", "semiurb5", "urban6") for s in (0, 1, 2))


@lru_cache(maxsize=4)
def _simbench(code: str):
    import simbench as sb

    if code not in SIMBENCH_LV_CODES:
        raise ValueError(f"unknown SimBench LV grid {code!r}; choose one of "
                         + ", ".join(SIMBENCH_LV_CODES))
    net = sb.get_simbench_net(code)
    values = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    return net, values


def _feeders(net: pp.pandapowerNet) -> dict[int, str]:
    """Feeder name of every LV bus below the transformer, numbered from the busbar outwards."""
    busbar = int(net.trafo.lv_bus.iloc[0])
    graph = top.create_nxgraph(net, include_trafos=False)
    graph.remove_node(busbar)
    parts = sorted((sorted(c) for c in top.connected_components(graph) if busbar not in c),
                   key=lambda c: c[0])
    lv = set(net.bus.index[net.bus.vn_kv < 1.0])
    out = {}
    for k, part in enumerate(p for p in parts if set(p) & lv):
        for bus in part:
            out[int(bus)] = f"f{k + 1}"
    out[busbar] = "f1"  # customers on the busbar itself join the first feeder
    return out


def simbench_scenario(code: str, days: int = 1, seed: int = 0,
                      start: dt.date = DEFAULT_START) -> tuple[Scenario, Profiles]:
    """The SimBench LV grid ``code`` as a scenario, and the profiles its customers follow."""
    net, values = _simbench(code)
    if len(net.trafo) != 1:
        raise ValueError(f"{code}: expected one MV/LV transformer, found {len(net.trafo)}")
    feeder_of = _feeders(net)
    load_kw = values[("load", "p_mw")].to_numpy() * 1000  # slots × loads
    pv_kw = values[("sgen", "p_mw")].to_numpy() * 1000
    series: dict[str, np.ndarray] = {}
    home_of_load = {}
    for col, idx in enumerate(net.load.index):
        home = f"c{idx}"
        home_of_load[int(idx)] = home
        series[f"{code}/load/{home}"] = load_kw[:, col]
    pv_of_home: dict[str, np.ndarray] = {}
    kwp_of_home: dict[str, float] = {}
    for col, (_idx, row) in enumerate(net.sgen.iterrows()):
        bus = int(row.bus)
        here = [home_of_load[i] for i in net.load.index[net.load.bus == bus]]
        if not here:  # no customer on this bus: the one of its feeder with the least PV
            feeder = feeder_of[bus]
            here = sorted((h for i, h in home_of_load.items()
                           if feeder_of[int(net.load.bus[i])] == feeder),
                          key=lambda h: kwp_of_home.get(h, 0.0))
        home = min(here, key=lambda h: kwp_of_home.get(h, 0.0))
        pv_of_home[home] = pv_of_home.get(home, 0) + pv_kw[:, col]
        kwp_of_home[home] = kwp_of_home.get(home, 0.0) + float(row.sn_mva) * 1000
    homes = []
    for idx, home in home_of_load.items():
        load = series[f"{code}/load/{home}"]
        pv_kwp = kwp_of_home.get(home, 0.0)
        if pv_kwp:
            series[f"{code}/pv/{home}"] = pv_of_home[home] / pv_kwp
        homes.append(HomeConfig(
            home_id=home, zone=feeder_of[int(net.load.bus[idx])],
            annual_kwh=max(float(load.sum()) * 0.25, 1e-9),
            load_profile=f"{code}/load/{home}",
            pv_kwp=pv_kwp, pv_profile=f"{code}/pv/{home}" if pv_kwp else ""))
    feeders = tuple(sorted({h.zone for h in homes}, key=lambda f: int(f[1:])))
    grid = LVGrid(float(net.trafo.sn_mva.iloc[0]) * 1000, feeders,
                  {h.home_id: h.zone for h in homes})
    scenario = Scenario(name=code, homes=homes, grid=grid, tariff=two_rate_tariff(),
                        start_day=unix_day(start), days=days, seed=seed,
                        network=simbench_network(code))
    return scenario, Profiles(series, f"simbench:{code}")


def simbench_network(code: str) -> GridNetwork:
    """SimBench's pandapower net of ``code``, one load per customer (generators switched off)."""
    net, _ = _simbench(code)
    net = copy.deepcopy(net)
    for kind in ("sgen", "gen", "storage"):
        net[kind]["in_service"] = False
    home_load = {f"c{idx}": int(idx) for idx in net.load.index}
    busbar = int(net.trafo.lv_bus.iloc[0])
    feeder_of = _feeders(net)
    feeder_lines: dict[str, list[int]] = {}
    for idx, line in net.line.iterrows():
        bus = int(line.to_bus) if int(line.from_bus) == busbar else int(line.from_bus)
        if bus in feeder_of:
            feeder_lines.setdefault(feeder_of[bus], []).append(int(idx))
    return GridNetwork(net, home_load, {f: tuple(v) for f, v in feeder_lines.items()},
                       int(net.trafo.index[0]))
