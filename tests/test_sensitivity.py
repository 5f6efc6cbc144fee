"""AC congestion points: exact flows, their linear sensitivities, and the DSO's model of them."""

from __future__ import annotations

import numpy as np
import pytest

from dso.congestion_model import congestion_model
from dso.grid import LVGrid
from dso.network import build_network
from dso.powerflow import pandapower_slot
from dso.sensitivity import PointFlows, light_load_kw, rated_import_kw, zonal_topology

FEEDERS = ("f1", "f2", "f3")


@pytest.fixture(scope="module")
def lv():
    homes = {f"h{i}": FEEDERS[i % 3] for i in range(60)}
    return LVGrid(60.0, FEEDERS, homes, sections_per_feeder=5)


@pytest.fixture(scope="module")
def flows(lv):
    return PointFlows(build_network(lv))


@pytest.fixture(scope="module")
def loads():
    rng = np.random.default_rng(1)
    p = rng.normal(0.8, 1.0, (60, 5))  # kW per home
    p[:, 1] = -2.0  # 120 kW export on 60 kVA
    p[:, 3] = 1.8  # 108 kW import: 180 % before losses
    p[:30, 4] = 3.0  # f1 and f2 homes (even/odd mix) import, the rest export
    p[30:, 4] = -1.0
    return p


def test_points_are_the_transformer_and_each_feeder_head_with_their_ratings(flows):
    assert flows.names == ("transformer", "f1-cable", "f2-cable", "f3-cable")
    # NAYY 4x150 SE: 0.27 kA at 0.4 kV
    assert flows.rating_kva == pytest.approx([60, *[np.sqrt(3) * 0.4 * 270] * 3])


def test_exact_flows_are_pandapower_loadings_signed_by_direction(flows, loads):
    got = flows.flows_kva(loads)
    for k in range(loads.shape[1]):
        ref = pandapower_slot(flows.grid, loads[:, k] / 1000)
        net_import = loads[:, k].sum()
        assert abs(got[0, k]) == pytest.approx(ref.trafo_loading_percent[0, 0] / 100 * 60,
                                               rel=1e-7)
        assert np.sign(got[0, k]) == np.sign(net_import)
        for f, feeder in enumerate(FEEDERS):
            head = flows.grid.feeder_lines[feeder][0]
            loading = ref.line_loading_percent[head, 0] / 100 * flows.rating_kva[1 + f]
            assert abs(got[1 + f, k]) == pytest.approx(loading, rel=1e-7)
            homes = [i for i, h in enumerate(flows.grid.homes) if h in
                     {f"h{j}" for j in range(f, 60, 3)}]
            assert np.sign(got[1 + f, k]) == np.sign(loads[homes, k].sum())


def test_the_jacobian_is_the_derivative_of_the_exact_flows(flows, loads):
    lin = flows.linearise(loads)
    eps = 1e-3
    for home in (0, 7, 59):
        up, down = loads.copy(), loads.copy()
        up[home] += eps
        down[home] -= eps
        numeric = (flows.flows_kva(up) - flows.flows_kva(down)) / (2 * eps)
        assert np.abs(numeric - lin.jacobian[:, home, :]).max() < 1e-6
    # a home's kW loads the transformer and its own feeder's head, about one for one (losses
    # and the voltage drop add a few per cent at 180 %), and the other feeders barely
    j = lin.jacobian[:, 0, 3]  # h0 is on f1, slot 3
    assert 1.0 < j[0] < 1.1 and 1.0 < j[1] < 1.1
    assert abs(j[2]) < 0.02 and abs(j[3]) < 0.02


def test_relinearising_around_the_exact_solution_beats_the_light_load_ptdf(flows, loads):
    heavy = loads[:, [3]]  # 180 % import
    moved = heavy * 1.05  # the homes' next round: 5 % more
    exact = flows.flows_kva(moved)[0, 0]
    ptdf = flows.linearise(light_load_kw(flows)).predict(moved)[0, 0]
    around = flows.linearise(heavy).predict(moved)[0, 0]
    assert abs(ptdf - exact) / exact > 0.03  # the curvature of heavy congestion
    assert abs(around - exact) / exact < 0.003
    assert flows.linearise(heavy).predict(heavy)[0, 0] == pytest.approx(
        flows.flows_kva(heavy)[0, 0])


def test_zonal_topology_gives_each_zone_its_points(flows, lv):
    topo = zonal_topology(flows, lv.home_feeder, FEEDERS)
    transformer, *cables = topo.points
    assert all(-1010 < transformer.sensitivity_permille[z] < -980 for z in FEEDERS)
    for feeder, cable in zip(FEEDERS, cables, strict=True):
        assert cable.name == f"{feeder}-cable"
        assert set(cable.sensitivity_permille) == {feeder}  # others round to 0
    rated = zonal_topology(flows, lv.home_feeder, FEEDERS, rated_import_kw(flows))
    assert all(s < -1010 for s in rated.points[0].sensitivity_permille.values())


def test_the_dso_s_models(lv):
    lossless = congestion_model(lv)
    assert lossless.topology == lv.topology() and lossless.flows is None
    assert lossless.lossless_limits() == [(None, lv.transformer_limit_wh)]
    nets = {h: np.full(96, 100) for h in lv.home_feeder}
    assert lossless.point_flows_wh(nets)[0].tolist() == [6000] * 96
    ac = congestion_model(lv, "ac")
    assert ac.names == ("transformer", "f1-cable", "f2-cable", "f3-cable")
    flow = ac.point_flows_wh(nets)
    assert 6000 < flow[0, 0] < 6000 * 1.05 and 2000 < flow[1, 0] < 2000 * 1.05
    limits = ac.lossless_limits()
    # at rated import the transformer carries more than the sum: the lossless limit is lower
    assert limits[0][0] is None and 0.95 * 15000 < limits[0][1] < 15000
    assert [z for z, _ in limits[1:]] == list(FEEDERS)
    imp = np.zeros((4, 96), np.int64)
    imp[0, 10], imp[2, 10] = 100_000, 50_000  # transformer and f2's cable
    f1_fee, _ = ac.home_fees("f1", imp, np.zeros_like(imp))
    f2_fee, _ = ac.home_fees("f2", imp, np.zeros_like(imp))
    assert f1_fee[10] == round(100_000 * -ac.topology.points[0].sensitivity_permille["f1"] / 1000)
    assert f2_fee[10] > f1_fee[10] + 49_000 and f1_fee[:10].sum() == 0
    with pytest.raises(ValueError, match="unknown grid model"):
        congestion_model(lv, "dc")


def test_validate_prices_each_point_in_its_own_slots():
    from dso.usef import validate

    # two points: the transformer (limit 300) and one cable (limit 100) below it
    base = np.array([[200.0, 200, 200], [50, 50, 50]])
    first = np.array([[350.0, 200, 200], [150, 50, 50]])  # slot 0 overloads both

    def replan(imp, exp):
        assert imp.shape == (2, 3)
        flow = base.copy()
        cheapest = (imp[0] + imp[1]) == (imp[0] + imp[1]).min()  # the cable's homes move
        flow[:, cheapest] += 100 / cheapest.sum()
        return flow

    result = validate(first, np.array([300, 100]), replan, max_rounds=5)
    assert result.within_limits and result.overloaded_per_round[0] == 1
    assert result.import_price[0, 0] > 0 and result.import_price[1, 0] > 0
    assert (result.import_price[:, 1:] == 0).all() and (result.export_price == 0).all()


def test_a_street_whose_feeder_cable_congests_is_priced_at_the_cable():
    """2030-green-high, 24 homes for a day under 200 kVA, f1's head cable rated 10 kVA: the
    transformer never congests, the cable does (measured: 5 slots in the first prognosis,
    0 after 4 rounds). Only energy through the cable pays for it, no home is worse off than
    without the market, and where forecast error still overloads the cable in operation, the
    operate phase relieves it with f1's homes (measured by the AC power flow of the metered
    nets: 4 overloaded slots before the operate phase knew the cables, 0 now, peak 96.8 %)."""
    from sim.kpi import check_invariants, summarise
    from sim.profiles import synthetic_profiles
    from sim.runner import run_simulation
    from sim.scenario import preset_scenario

    sc = preset_scenario("2030-green-high", homes=24, days=1, seed=3, transformer_kva=200.0)
    sc.grid_model = "ac"
    network = build_network(sc.grid)
    head = network.feeder_lines["f1"][0]
    network.net.line.loc[head, "max_i_ka"] = 10.0 / (np.sqrt(3) * 0.4) / 1000
    sc.network = network
    result = run_simulation(sc, synthetic_profiles(3))
    (rounds,) = result.validation_rounds
    assert rounds[0] > 0 and rounds[-1] == 0
    assert result.point_names == ("transformer", "f1-cable", "f2-cable", "f3-cable")
    (day,) = result.days
    limits = result.point_limits_wh
    assert (np.abs(day.point_prognosis_wh) <= limits[:, None] + 1e-6).all()
    priced = {p.point for p in day.posted_prices}
    assert priced == {"f1-cable"}
    s = summarise(result, audit_replay=True)
    assert s["congestion_points"]["f1-cable"]["rating_kva"] == 10.0
    assert s["congestion_points"]["f1-cable"]["prognosed_overloaded_slots"] == 0
    assert s["congestion_points"]["transformer"]["overloaded_slots"] == 0
    assert s["congestion_points"]["f1-cable"]["overloaded_slots"] == 0
    assert s["congestion_points"]["f1-cable"]["peak_loading_percent"] > 90
    # the fees fall on energy through f1's cable only: to or from f1's homes
    f1 = {h.home_id for h in sc.homes if h.zone == "f1"}
    charged = [t for t in result.trades if t.fee > 0]
    assert all(t.buyer in f1 or t.seller in f1 for t in charged)
    counterparts = {t.seller if t.aggressor == "sell" else t.buyer for t in charged}
    paying = {h for h, b in s["bills"]["per_home"].items() if b["congestion_fees_eur"] > 0}
    assert paying & f1 and paying <= f1 | counterparts
    assert s["bills"]["homes_worse_off"] == 0
    assert check_invariants(result, audit_replay=True).all_hold()


def test_a_cable_that_leads_to_no_home_is_no_congestion_point(lv):
    import pandapower as pp

    grid = build_network(lv)
    busbar = int(grid.net.trafo.lv_bus.iloc[0])
    stub = pp.create_bus(grid.net, vn_kv=0.4, name="stub")
    pp.create_line(grid.net, busbar, stub, length_km=0.03, std_type=lv.cable, name="stub")
    assert len(PointFlows(grid).names) == 5  # the stub leaves the busbar too …
    model = congestion_model(lv, "ac", grid)
    assert model.names == ("transformer", "f1-cable", "f2-cable", "f3-cable")  # … but no zone
    assert [z for z, _ in model.lossless_limits()] == [None, *FEEDERS]
