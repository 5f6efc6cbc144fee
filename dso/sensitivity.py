"""Congestion points' flows, exact and linearised: the AC sensitivities of the DSO's grid model.

A congestion point is the transformer or a cable with a rating. Its *flow* is signed apparent
power at nominal voltage (kVA): pandapower's loading ÷ 100 × the rating, + where active power
runs away from the MV grid (import into the LV grid or down the feeder), − where it runs back
(export). So ``|flow| > rating`` exactly when pandapower's loading exceeds 100 %.

Exact flows come from the batched Z-bus power flow (:mod:`dso.powerflow`). The linear model
around an operating point ``p0`` (kW consumed per home) is

    flow(p) ≈ flow(p0) + J(p0) · (p − p0),     J = ∂flow/∂p  (kVA per kW, points × homes),

with ``J`` from the power flow's own fixed point, differentiated analytically: at the solution
``V = Z·conj(S/V) + W`` a change ``dS`` of the injections moves the voltages by the solution
of ``dV + Z·diag(conj(S/V²))·conj(dV) = Z·diag(1/conj(V))·dS``, a real 2n × 2n system per slot.
Linearised at light load (``light_load_kw``; at no load at all a cable carries only its
charging current, whose magnitude has no useful derivative), ``J`` is the PTDF: ≈ 1 for the
points upstream of a home, 0 elsewhere, plus the losses' first order. In heavy congestion the
flow curves away from it; the DSO's price loop therefore solves each round's prognosis exactly
and uses the linearisation only to share each point's price among the zones
(``benchmarks/grid_year.py`` measures what the linear models err by, and by how much
re-linearising around an exact solution reduces it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pandapower.pypower.idx_brch import F_BUS

from dso.network import GridNetwork
from dso.powerflow import BatchedPowerFlow
from protocol.topology import CongestionPoint, Topology

TRANSFORMER = "transformer"


@dataclass(frozen=True)
class PointSpec:
    """A congestion point: the transformer (``kind="trafo"``) or a line, by pandapower index."""

    name: str
    kind: str
    index: int


def feeder_heads(grid: GridNetwork) -> tuple[PointSpec, ...]:
    """The transformer and every cable leaving the LV busbar (named ``"<feeder>-cable"``)."""
    net = grid.net
    busbar = int(net.trafo.lv_bus.loc[grid.trafo])
    feeder_of_line = {line: f for f, lines in grid.feeder_lines.items() for line in lines}
    touching = net.line.index[(net.line.from_bus == busbar) | (net.line.to_bus == busbar)]
    names: dict[str, int] = {}
    heads = []
    for idx in sorted(int(i) for i in touching):
        feeder = feeder_of_line.get(idx, f"line{idx}")
        names[feeder] = names.get(feeder, 0) + 1
        suffix = "" if names[feeder] == 1 else f"-{names[feeder]}"
        heads.append(PointSpec(f"{feeder}-cable{suffix}", "line", idx))
    heads.sort(key=lambda p: (len(p.name), p.name))  # f2 before f10
    return (PointSpec(TRANSFORMER, "trafo", grid.trafo), *heads)


@dataclass(frozen=True)
class LinearFlows:
    """The linear model of every point's flow around ``p0_kw`` (homes × slots)."""

    p0_kw: np.ndarray  # homes × slots
    flow0_kva: np.ndarray  # points × slots, exact at p0
    jacobian: np.ndarray  # points × homes × slots, kVA per kW

    def predict(self, p_kw: np.ndarray) -> np.ndarray:
        """Flows (kVA, points × slots) the linear model gives for loads ``p_kw``."""
        return self.flow0_kva + np.einsum("phs,hs->ps", self.jacobian,
                                          np.asarray(p_kw, float) - self.p0_kw)


class PointFlows:
    """Exact and linearised flows of a grid's congestion points for per-home net imports."""

    def __init__(self, grid: GridNetwork, points: tuple[PointSpec, ...] | None = None) -> None:
        self.grid = grid
        self.points = feeder_heads(grid) if points is None else points
        self.solver = BatchedPowerFlow(grid)
        s = self.solver
        net = grid.net
        branch = net._ppc["internal"]["branch"]
        lookups = net._pd2ppc_lookups["branch"]
        rows, scale_f, scale_t, rating = [], [], [], []
        for p in self.points:  # loading % per pu of current: the solver's own scales
            if p.kind == "trafo":
                k = net.trafo.index.get_loc(p.index)
                t = net.trafo.loc[p.index]
                rows.append(lookups["trafo"][0] + k)
                scale_f.append(s._trafo_scale[k])
                scale_t.append(s._trafo_scale[k])
                rating.append(float(t.sn_mva * t.parallel * t.df) * 1000)
            else:
                k = net.line.index.get_loc(p.index)
                ln = net.line.loc[p.index]
                rows.append(lookups["line"][0] + k)
                scale_f.append(s._line_scale_f[k])
                scale_t.append(s._line_scale_t[k])
                rating.append(np.sqrt(3) * float(net.bus.vn_kv.loc[ln.from_bus])
                              * float(ln.max_i_ka * ln.df * ln.parallel) * 1000)
        self._rows = np.asarray(rows, np.int64)
        self._from = np.real(branch[self._rows, F_BUS]).astype(np.int64)
        self._scale_f = np.asarray(scale_f)[:, None]
        self._scale_t = np.asarray(scale_t)[:, None]
        #: each point's rating (kVA)
        self.rating_kva = np.asarray(rating)
        self._yf = s._yf[self._rows]
        self._yt = s._yt[self._rows]
        # + = away from the MV grid: the direction active power takes when every home imports
        test = np.full((len(grid.homes), 1), self.rating_kva[0] / len(grid.homes) / 10)
        v = self.solver.voltages(test / 1000)[0]
        p_from = np.real(v[self._from] * np.conj(self._yf @ v))
        self._orient = np.where(p_from < 0, -1.0, 1.0)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.points)

    def _currents(self, v_all: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per point: from-side and to-side currents (pu) and the flow's sign."""
        i_f = self._yf @ v_all
        i_t = self._yt @ v_all
        sign = self._orient * np.where(np.real(v_all[self._from] * np.conj(i_f)) < 0, -1.0, 1.0)
        return i_f, i_t, sign

    def flows_kva(self, p_kw: np.ndarray) -> np.ndarray:
        """Exact signed flows (kVA, points × slots) for net imports ``p_kw`` (homes × slots)."""
        return self.flows_kva_from(self.solver.voltages(np.asarray(p_kw, float) / 1000)[0])

    def linearise(self, p0_kw: np.ndarray) -> LinearFlows:
        """The linear model around the exact solution at ``p0_kw`` (homes × slots)."""
        s = self.solver
        p0_kw = np.atleast_2d(np.asarray(p0_kw, float))
        v_all, _ = s.voltages(p0_kw / 1000)
        s_inj = s.injections(p0_kw / 1000)
        i_f, i_t, sign = self._currents(v_all)
        abs_f, abs_t = np.maximum(np.abs(i_f), 1e-12), np.maximum(np.abs(i_t), 1e-12)
        use_from = abs_f * self._scale_f >= abs_t * self._scale_t
        n = len(s._pq)
        eye = np.eye(n)
        # a home's kW consumed is −1/(1000·baseMVA) pu injected at its bus
        per_kw = -1.0 / (1000 * s._base_mva)
        jac = np.empty((len(self.points), p0_kw.shape[0], p0_kw.shape[1]))
        yf_pq = self._yf[:, s._pq].toarray()
        yt_pq = self._yt[:, s._pq].toarray()
        for k in range(p0_kw.shape[1]):
            v = v_all[s._pq, k]
            a = s._z * np.conj(s_inj[:, k] / v ** 2)[None, :]
            m = np.block([[eye + a.real, a.imag], [a.imag, eye - a.real]])
            rhs_c = s._z * (1 / np.conj(v))[None, :]
            ab = np.linalg.solve(m, np.vstack([rhs_c.real, rhs_c.imag]))
            dv = ab[:n] + 1j * ab[n:]  # ∂V_pq / ∂(real injection at each pq bus)
            d_if = yf_pq @ dv
            d_it = yt_pq @ dv
            # ∂|I| = Re(conj(I)·∂I) / |I|
            mag_f = np.real(np.conj(i_f[:, k])[:, None] * d_if) / abs_f[:, k][:, None]
            mag_t = np.real(np.conj(i_t[:, k])[:, None] * d_it) / abs_t[:, k][:, None]
            d_loading = np.where(use_from[:, k][:, None], mag_f * self._scale_f,
                                 mag_t * self._scale_t)
            per_bus = sign[:, k][:, None] * d_loading / 100 * self.rating_kva[:, None]
            jac[:, :, k] = per_bus[:, s._load_row] * per_kw
        return LinearFlows(p0_kw, self.flows_kva_from(v_all), jac)

    def flows_kva_from(self, v_all: np.ndarray) -> np.ndarray:
        """Signed flows (kVA, points × slots) at solved voltages ``v_all``."""
        i_f, i_t, sign = self._currents(v_all)
        loading = np.maximum(np.abs(i_f) * self._scale_f, np.abs(i_t) * self._scale_t)
        return sign * loading / 100 * self.rating_kva[:, None]


def light_load_kw(flows: PointFlows) -> np.ndarray:
    """Every home importing an equal share of 1 % of the transformer's rating (kW, homes × 1):
    where a linearisation is the classic PTDF (no loss, no voltage drop to speak of)."""
    n = len(flows.grid.homes)
    return np.full((n, 1), flows.rating_kva[0] / n / 100)


def rated_import_kw(flows: PointFlows) -> np.ndarray:
    """Every home importing an equal share of the transformer's rating (kW, homes × 1): the
    operating point where import capacity checks bind."""
    n = len(flows.grid.homes)
    return np.full((n, 1), flows.rating_kva[0] / n)


def zonal_topology(flows: PointFlows, home_zone: dict[str, str], zones: tuple[str, ...],
                   around_kw: np.ndarray | None = None) -> Topology:
    """The market's topology: each congestion point's injection sensitivity per zone (per-mille,
    minus the mean of its homes' ``J``), linearised at ``around_kw`` (homes × 1; default: light
    load, the PTDF, whose error ``benchmarks/grid_year.py`` measures against rated import's)."""
    lin = flows.linearise(light_load_kw(flows) if around_kw is None else around_kw)
    homes = flows.grid.homes
    points = []
    for k, name in enumerate(flows.names):
        sens = {}
        for zone in zones:
            rows = [i for i, h in enumerate(homes) if home_zone[h] == zone]
            s = -round(1000 * float(lin.jacobian[k, rows, 0].mean())) if rows else 0
            if s:
                sens[zone] = s
        points.append(CongestionPoint(name=name, sensitivity_permille=sens))
    return Topology(zones=zones, points=tuple(points))
