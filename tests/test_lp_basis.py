"""A plan's last basis (node.lp_basis): HiGHS's own, carried as bytes; an anchored re-plan
started from the basis of the plan it keeps finds as cheap a plan in fewer simplex iterations;
a basis of another shape is not used, and a plan that is not anchored starts from scratch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import node.milp as milp
from node.assets import ElectricVehicle, HeatPump
from node.home import Battery
from node.lp_basis import (
    BASIC,
    LOWER,
    basis_bytes,
    packed,
    shape_of,
    start_from,
    statuses_of,
    with_last,
)
from node.milp import HomeAssets, plan_home

T = 96
BUY = np.array([180_000.0 if t < 28 or t >= 92 else 280_000.0 for t in range(T)])
SELL = np.full(T, 50_000.0)
LOAD = 150.0 + 100.0 * np.sin(np.arange(T) / 7.0) ** 2
PV = np.clip(900 * np.sin(np.pi * (np.arange(T) - 24) / 48), 0, None)
ASSETS = HomeAssets(battery=Battery(10_000, 5_000, initial_soc=0.3),
                    ev=ElectricVehicle(arrival=72, departure=96, energy_wh=12_000),
                    heat_pump=HeatPump())
ANCHOR = 5.0


def _programme(buy=BUY):
    """The home's day as HiGHS takes it: c, A and bounds, caught on their way to the solver."""
    caught = {}
    real = milp._solve

    def catch(c, A, R, V, *args, **kwargs):
        caught.update(c=c.copy(), A=A, row_lo=R.lo.copy(), row_hi=R.hi.copy(),
                      col_lo=V.lo.copy(), col_hi=V.hi.copy())
        return real(c, A, R, V, *args, **kwargs)
    milp._solve = catch
    try:
        plan_home(LOAD, PV, ASSETS, buy, SELL)
    finally:
        milp._solve = real
    return caught


def _solved(p, basis: bytes | None = None):
    model = milp._highs(p["c"], p["A"], p["row_lo"], p["row_hi"], p["col_lo"], p["col_hi"],
                        presolve=False)
    started = start_from(model, basis, *p["A"].shape[::-1])
    model.run()
    return model, started


def _basis(model, p) -> bytes:
    x = np.array(model.getSolution().col_value)
    return basis_bytes(model, x, p["A"], p["col_lo"], p["col_hi"], p["row_lo"], p["row_hi"])


def test_the_bytes_are_highs_own_basis():
    p = _programme()
    model, _ = _solved(p)
    basis = _basis(model, p)
    assert shape_of(basis) == p["A"].shape[::-1]
    ours = statuses_of(basis)
    theirs = model.getBasis()
    theirs = np.array([int(s) for s in theirs.col_status] + [int(s) for s in theirs.row_status])
    assert len(ours) == sum(p["A"].shape) and (ours == BASIC).sum() == p["A"].shape[0]
    # the same statuses, except where a variable or row is fixed (its bounds equal): either
    # bound is the same value, and HiGHS names the one its dual's sign points to
    fixed = np.concatenate([p["col_lo"] == p["col_hi"], p["row_lo"] == p["row_hi"]])
    assert np.array_equal(ours[~fixed], theirs[~fixed])
    assert np.array_equal(ours == BASIC, theirs == BASIC)


def test_new_prices_started_from_the_last_basis_are_solved_in_fewer_iterations_to_the_same_cost():
    p = _programme()
    model, _ = _solved(p)
    basis = _basis(model, p)
    moved = _programme(BUY + np.where(np.arange(T) % 9 == 0, 40_000.0, 0.0))
    cold = _solved(moved)[0].getInfo()  # read before the next programme: one instance
    warm, started = _solved(moved, basis)
    assert started
    assert warm.getInfo().objective_function_value == pytest.approx(
        cold.objective_function_value, rel=1e-9)
    assert warm.getInfo().simplex_iteration_count < cold.simplex_iteration_count / 2


def test_a_basis_of_another_shape_is_not_used():
    p = _programme()
    model = milp._highs(p["c"], p["A"], p["row_lo"], p["row_hi"], p["col_lo"], p["col_hi"])
    n_cols, n_rows = p["A"].shape[::-1]
    model.run()
    basis = _basis(model, p)
    # the same number of statuses, another split between columns and rows
    other_split = packed(n_cols - 1, n_rows + 1, statuses_of(basis).tobytes())
    assert not start_from(model, other_split, n_cols, n_rows)
    assert not start_from(model, None, n_cols, n_rows)
    assert start_from(model, basis, n_cols, n_rows)


def test_a_basis_without_the_anchor_gets_its_columns_at_their_bound_and_its_rows_basic():
    old = packed(3, 1, bytes([BASIC, LOWER, LOWER, LOWER]))  # 3 columns, 1 row
    assert with_last(old, 3, 1, 0, 0) == old
    grown = with_last(old, 5, 2, 2, 1)
    assert shape_of(grown) == (5, 2)
    assert statuses_of(grown).tolist() == [BASIC, LOWER, LOWER, LOWER, LOWER, LOWER, BASIC]
    assert (statuses_of(grown) == BASIC).sum() == 2  # a basic variable per row
    assert with_last(old, 6, 2, 2, 1) is None and with_last(None, 3, 1, 0, 0) is None


def _recording(monkeypatch) -> list[bool]:
    started: list[bool] = []

    def recording(*args):
        started.append(start_from(*args))
        return started[-1]
    monkeypatch.setattr(milp, "start_from", recording)
    return started


def test_an_anchored_re_plan_starts_from_the_basis_of_the_plan_it_keeps(monkeypatch):
    """The day's first re-plan has the anchor's block its day plan has not: started from the
    plan's basis grown by it; the next has the same shape as the first and starts from its
    basis. Each is as cheap as from scratch, and keeps its past."""
    started = _recording(monkeypatch)
    plan = plan_home(LOAD, PV, ASSETS, BUY, SELL)
    assert plan.basis is not None and started == [False]  # not anchored: from scratch
    first = plan_home(LOAD, PV, ASSETS, BUY, SELL, keep=plan, keep_until=40,
                      anchor_ueur_per_wh=ANCHOR)
    assert started[-1] and first.basis is not None
    later = BUY + np.where(np.arange(T) >= 60, 30_000.0, 0.0)
    warm = plan_home(LOAD, PV, ASSETS, later, SELL, keep=first, keep_until=48,
                     anchor_ueur_per_wh=ANCHOR)
    assert started[-1]
    cold = plan_home(LOAD, PV, ASSETS, later, SELL, keep=replace(first, basis=None),
                     keep_until=48, anchor_ueur_per_wh=ANCHOR)
    assert not started[-1]
    assert warm.cost_ueur == pytest.approx(cold.cost_ueur, rel=1e-9, abs=1e-3)
    assert np.allclose(warm.net_wh[:48], first.net_wh[:48], atol=1e-6)  # the past is kept


def test_a_plan_that_is_not_anchored_starts_from_scratch(monkeypatch):
    """Without the anchor a warm start would keep the last plan among equally cheap ones, which
    the solver's own path picks (node.milp.PRESOLVE_ANCHORED): only anchored plans start warm."""
    started = _recording(monkeypatch)
    plan = plan_home(LOAD, PV, ASSETS, BUY, SELL)
    plan_home(LOAD, PV, ASSETS, BUY, SELL, keep=plan, keep_until=40)
    plan_home(LOAD, PV, ASSETS, BUY, SELL, keep=plan, keep_until=40, anchor_ueur_per_wh=0.0)
    assert started == [False, False, False]
    monkeypatch.setattr(milp, "WARM_ANCHORED", False)
    plan_home(LOAD, PV, ASSETS, BUY, SELL, keep=plan, keep_until=40, anchor_ueur_per_wh=ANCHOR)
    assert started == [False] * 4
