"""The pandapower grid model and the batched Z-bus power flow against pandapower's own."""

from __future__ import annotations

import numpy as np
import pytest

from dso.grid import LVGrid
from dso.network import build_network
from dso.powerflow import BatchedPowerFlow, pandapower_slot


@pytest.fixture(scope="module")
def grid():
    homes = {f"h{i}": ("f1", "f2", "f3")[i % 3] for i in range(60)}
    return build_network(LVGrid(60.0, ("f1", "f2", "f3"), homes, sections_per_feeder=5))


def test_network_layout(grid):
    net = grid.net
    assert len(net.trafo) == 1 and net.trafo.sn_mva.iloc[0] == pytest.approx(0.06)
    assert len(net.load) == 60 and len(net.line) == 15
    assert all(len(lines) == 5 for lines in grid.feeder_lines.values())
    # homes of a feeder spread over its buses: 20 homes on 5 buses → 4 per bus
    assert net.load.groupby("bus").size().tolist() == [4] * 15


def test_batched_matches_pandapower_from_export_to_overload(grid):
    rng = np.random.default_rng(3)
    p = rng.normal(0.0005, 0.002, size=(60, 40))
    p[:, 0] = 0.002   # 120 kW import on 60 kVA: 200 % transformer loading
    p[:, 1] = -0.004  # 240 kW export: about 380 % (the voltage rises, the current falls)
    result = BatchedPowerFlow(grid).solve(p)
    assert result.trafo_loading_percent[0, 0] > 190 and result.trafo_loading_percent[0, 1] > 370
    for k in range(0, 40, 4):
        ref = pandapower_slot(grid, p[:, k])
        assert np.abs(ref.trafo_loading_percent[:, 0]
                      - result.trafo_loading_percent[:, k]).max() < 1e-4
        assert np.abs(ref.line_loading_percent[:, 0]
                      - result.line_loading_percent[:, k]).max() < 1e-4
        assert np.abs(ref.vm_pu[:, 0] - result.vm_pu[:, k]).max() < 1e-8


def test_export_raises_voltage_and_import_lowers_it(grid):
    result = BatchedPowerFlow(grid).solve(np.stack([np.full(60, 0.001), np.full(60, -0.001)], 1))
    assert result.vm_pu[:, 0].min() < 0.99 < 1.01 < result.vm_pu[:, 1].max()


def test_non_convergence_is_an_error(grid):
    with pytest.raises(RuntimeError, match="did not converge"):
        BatchedPowerFlow(grid, max_iter=1).solve(np.full((60, 1), 0.001))
