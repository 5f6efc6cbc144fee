"""SimBench LV grids as scenarios: their customers, their own profiles, their power flow."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from dso.powerflow import BatchedPowerFlow, pandapower_slot
from sim.scenario import home_day_wh, home_year_wh, unix_day
from sim.simbench_grid import _simbench, simbench_network, simbench_scenario
from tests.test_cli import flexmarket

CODE = "1-LV-rural1--2-sw"  # rural grid, 2034: its PV overloads the 160 kVA transformer


@pytest.fixture(scope="module")
def rural():
    return simbench_scenario(CODE)


def test_every_load_is_a_customer_with_the_grid_s_pv(rural):
    scenario, _ = rural
    net, _ = _simbench(CODE)
    assert len(scenario.homes) == len(net.load) == 28
    assert scenario.grid.transformer_kva == 160.0
    assert scenario.grid.feeders == ("f1", "f2", "f3", "f4")
    assert sum(h.pv_kwp for h in scenario.homes) == pytest.approx(net.sgen.sn_mva.sum() * 1000)


def test_customers_follow_simbench_absolute_profiles(rural):
    scenario, profiles = rural
    net, values = _simbench(CODE)
    day = unix_day(dt.date(2016, 7, 1))
    first = (day - unix_day(dt.date(2016, 1, 1))) * 96  # SimBench's year is 2016
    load_kw = values[("load", "p_mw")].to_numpy()[first:first + 96] * 1000
    pv_kw = values[("sgen", "p_mw")].to_numpy()[first:first + 96] * 1000
    loads, pvs = [], []
    for col, idx in enumerate(net.load.index):
        home = next(h for h in scenario.homes if h.home_id == f"c{idx}")
        load, pv = home_day_wh(home, profiles, day)
        assert np.abs(load - load_kw[:, col] * 250).max() <= 0.5  # Wh, rounding only
        loads.append(load)
        pvs.append(pv)
    assert abs(np.sum(pvs) - pv_kw.sum() * 250) <= 0.5 * len(pvs) * 96


def test_batched_power_flow_matches_pandapower_on_the_simbench_net(rural):
    scenario, profiles = rural
    grid = simbench_network(CODE)
    by_id = {h.home_id: h for h in scenario.homes}
    p_mw = np.stack([np.subtract(*home_year_wh(by_id[h], profiles)) for h in grid.homes]) * 4e-6
    result = BatchedPowerFlow(grid).solve(p_mw)
    loading = result.trafo_loading_percent[0]
    assert (loading > 100).sum() > 500  # the 2034 PV overloads the transformer without a market
    for k in [*np.argsort(loading)[-3:], 1000, 20_000]:
        ref = pandapower_slot(grid, p_mw[:, k])
        assert abs(ref.trafo_loading_percent[0, 0] - loading[k]) < 1e-4
        lines = result.line_loading_percent[:, k]
        assert np.abs(ref.line_loading_percent[:, 0] - lines).max() < 1e-4


def test_simulate_a_simbench_grid_end_to_end(tmp_path):
    out = tmp_path / "report"
    proc = flexmarket("simulate", "--grid", CODE, "--dso", "none", "--out", str(out),
                      "--no-audit")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"]["homes"] == 28
    assert summary["run"]["profiles"] == f"simbench:{CODE}"
    assert summary["transformer"]["overloaded_slots"] > 0  # the 2034 PV, without a DSO
    assert all(v is not False for v in summary["invariants"].values())


def test_operate_phase_clears_the_rural_grid_s_pv_overloads(tmp_path):
    out = tmp_path / "report"
    proc = flexmarket("simulate", "--grid", CODE, "--dso", "flexibility", "--out", str(out),
                      "--no-audit")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["transformer"]["overloaded_slots"] == 0  # 21 without (test above's run)
    assert summary["market"]["dso_cost_eur"] > 0
    # one day: its cost against a day of the scenario's reinforcement annuity (30 k€, 40 y, 4 %)
    assert summary["market"]["dso_cost_eur_per_day"] == summary["market"]["dso_cost_eur"]
    assert summary["market"]["reinforcement_annuity_eur_per_day"] == pytest.approx(4.153, abs=1e-3)
    assert summary["market"]["operate_activated_kwh"] > 0
    assert all(v is not False for v in summary["invariants"].values())


def test_the_dso_models_a_simbench_grid_s_cables_with_the_ac_power_flow(tmp_path):
    """``--grid-model ac`` on SimBench's own net: the transformer and each feeder's head cable
    are congestion points, measured by the AC power flow of the metered nets and priced by it."""
    out = tmp_path / "report"
    proc = flexmarket("simulate", "--grid", CODE, "--grid-model", "ac", "--out", str(out),
                      "--no-audit")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    points = summary["congestion_points"]
    assert list(points) == ["transformer", "f1-cable", "f2-cable", "f3-cable", "f4-cable"]
    assert points["transformer"]["rating_kva"] == 160.0
    # the 2034 PV: the AC prognosis exports beyond the rating day ahead (measured: 15 slots,
    # the lossless sum 17: at export the voltage rises and the current falls); prices are
    # posted there, and the operate phase curtails PV where the metered flow still overloads:
    # by the AC power flow of what the meters measured, nothing overloads (measured: 94.7 %)
    assert points["transformer"]["prognosed_overloaded_slots"] > 0
    assert summary["market"]["congestion_prices_posted"] > 0
    assert summary["market"]["operate_activated_kwh"] > 0
    assert all(p["overloaded_slots"] == 0 for p in points.values())
    assert 80 < points["transformer"]["peak_loading_percent"] <= 100
    assert "transformer (AC)" in proc.stdout
    assert (out / "congestion_points.png").stat().st_size > 10_000
