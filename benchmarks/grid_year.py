"""Benchmark: a year of AC power flow on the default LV grid, batched vs pandapower.

Run from the repo root after the README set-up:  .venv/bin/python benchmarks/grid_year.py

The default scenario's 184 homes (SimBench H0 load and PV profiles, no market: each home's
net import is load − PV) on its pandapower model (160 kVA, 3 feeders of NAYY 4x150 SE). The
batched Z-bus solver (dso/powerflow.py) runs every slot of the profile year at once; pandapower's
Newton-Raphson then solves 200 sampled slots — the 100 with the most loaded transformer and
100 drawn at random from the rest — and the largest differences in transformer and line
loading (percentage points) and voltage are reported. ``lossless_error_pct`` is how far the
market's lossless linear flow (sum of net imports ÷ rating) is from the exact transformer
loading, relative, over the year. ``ptdf_*_error_pct`` and ``relinearised_*_error_pct``: how far
the linear sensitivities of every congestion point (transformer and feeder head cables,
dso/sensitivity.py) are from the exact AC flow on the 100 most loaded slots, where a point is
over half its rating — linearised once (at 1 % load, or at rated import as the market's zonal
sensitivities are), or around the exact solution of the slot before.
The same year is then run on a real SimBench grid (1-LV-rural1--2-sw, its own customers and
profiles) with 50 sampled slots checked the same way (``simbench_rural1_2034``).
Last line: {"year_s": …, "max_error_pp": …, …}.
"""

from __future__ import annotations

import json
import time

import numpy as np
from rich.progress import track

from dso.network import build_network
from dso.powerflow import BatchedPowerFlow, pandapower_slot
from dso.sensitivity import PointFlows, rated_import_kw
from sim.profiles import simbench_profiles
from sim.scenario import default_scenario, home_year_wh
from sim.simbench_grid import simbench_network, simbench_scenario


def year_of(scenario, profiles, grid, samples: int) -> dict:
    """Batched power flow over the profile year, checked against pandapower on sampled slots."""
    by_id = {h.home_id: h for h in scenario.homes}
    net_wh = np.stack([np.subtract(*home_year_wh(by_id[h], profiles)) for h in grid.homes])
    p_mw = net_wh * 4 / 1e6  # Wh in a 15-minute slot → average MW
    t0 = time.perf_counter()
    solver = BatchedPowerFlow(grid)
    t1 = time.perf_counter()
    result = solver.solve(p_mw)
    t2 = time.perf_counter()

    trafo = result.trafo_loading_percent[0]
    rng = np.random.default_rng(0)
    top = np.argsort(trafo)[::-1][: samples // 2]
    rest = np.setdiff1d(np.arange(p_mw.shape[1]), top)
    picked = np.concatenate([top, rng.choice(rest, samples - len(top), replace=False)])
    err_trafo = err_line = err_vm = 0.0
    t3 = time.perf_counter()
    for k in track(picked, description="pandapower on sampled slots"):
        ref = pandapower_slot(grid, p_mw[:, k])
        err_trafo = max(err_trafo, float(np.abs(
            ref.trafo_loading_percent[:, 0] - result.trafo_loading_percent[:, k]).max()))
        err_line = max(err_line, float(np.abs(
            ref.line_loading_percent[:, 0] - result.line_loading_percent[:, k]).max()))
        err_vm = max(err_vm, float(np.abs(ref.vm_pu[:, 0] - result.vm_pu[:, k]).max()))
    pp_slot_s = (time.perf_counter() - t3) / len(picked)

    lin = linearisation_errors(grid, p_mw * 1000, top)
    lossless = np.abs(p_mw.sum(axis=0)) / (scenario.grid.transformer_kva / 1000) * 100
    loaded = trafo > 50  # relative error where it matters for congestion
    lossless_err = np.abs(lossless[loaded] - trafo[loaded]) / trafo[loaded] * 100
    year_s = t2 - t0
    return {
        "year_s": round(year_s, 3), "solve_s": round(t2 - t1, 3), "build_s": round(t1 - t0, 3),
        "slots": int(p_mw.shape[1]), "homes": len(grid.homes), "iterations": result.iterations,
        "max_error_pp": float(f"{max(err_trafo, err_line):.3g}"),
        "max_trafo_error_pp": float(f"{err_trafo:.3g}"),
        "max_line_error_pp": float(f"{err_line:.3g}"),
        "max_vm_error_pu": float(f"{err_vm:.3g}"), "sampled_slots": len(picked),
        "max_trafo_loading_percent": round(float(trafo.max()), 1),
        "max_line_loading_percent": round(float(result.line_loading_percent.max()), 1),
        "min_vm_pu": round(float(result.vm_pu.min()), 4),
        "max_vm_pu": round(float(result.vm_pu.max()), 4),
        "overloaded_slots": int((trafo > 100).sum()),
        "pandapower_ms_per_slot": round(pp_slot_s * 1000, 1),
        "pandapower_year_s_extrapolated": round(pp_slot_s * p_mw.shape[1], 1),
        "speedup_vs_pandapower": round(pp_slot_s * p_mw.shape[1] / year_s, 1),
        "lossless_error_pct_max": round(float(lossless_err.max()), 2),
        "lossless_error_pct_mean": round(float(lossless_err.mean()), 2),
        **lin,
    }


def linearisation_errors(grid, p_kw: np.ndarray, slots: np.ndarray) -> dict:
    """How far the linear models of the congestion points' flows (dso/sensitivity.py: the
    transformer and the feeder head cables) are from the exact AC flow, relative, in ``slots``
    (the most loaded), where a point is over half its rating: the PTDF linearised once at light
    load, the one at rated import the market checks capacities with, and the one re-linearised
    around the exact solution of the slot before (what the DSO's loop does between rounds)."""
    flows = PointFlows(grid)
    exact = flows.flows_kva(p_kw[:, slots])
    rating = flows.rating_kva[:, None]
    loaded = np.abs(exact) > rating / 2
    n = p_kw.shape[0]
    light = np.full((n, 1), flows.rating_kva[0] / n / 100)  # 1 % of the rating
    out = {}
    for key, around in (("ptdf_light_load", np.repeat(light, len(slots), 1)),
                        ("ptdf_rated_import", np.repeat(rated_import_kw(flows), len(slots), 1)),
                        ("relinearised_slot_before", p_kw[:, slots - 1])):
        predicted = flows.linearise(around).predict(p_kw[:, slots])
        err = np.abs(predicted - exact)[loaded] / np.abs(exact)[loaded] * 100
        out[f"{key}_error_pct_max"] = round(float(err.max()), 3) if err.size else 0.0
        out[f"{key}_error_pct_mean"] = round(float(err.mean()), 3) if err.size else 0.0
    out["linearisation_points_checked"] = int(loaded.sum())
    return out


def main() -> None:
    scenario = default_scenario()
    out = year_of(scenario, simbench_profiles(), build_network(scenario.grid), 200)
    code = "1-LV-rural1--2-sw"
    sb_scenario, sb_profiles = simbench_scenario(code)
    out["simbench_rural1_2034"] = {"code": code, **year_of(
        sb_scenario, sb_profiles, simbench_network(code), 50)}
    out["target"] = {"year_s": 5, "max_error_pp": 0.1}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
