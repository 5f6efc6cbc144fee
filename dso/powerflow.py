"""AC power flow for many slots at once: a Z-bus fixed point on pandapower's admittance matrices.

pandapower's own Newton-Raphson takes tens of milliseconds a slot; a year is 35,040 slots. This
solver builds the bus admittance matrix once (by running pandapower on the net, so every
element model — cable π-sections, the transformer's short-circuit and magnetising branches —
is pandapower's), inverts its PQ block, and iterates the implicit Z-bus equation

    V_pq = Z · conj(S_pq / V_pq) + W,    Z = Y_pq,pq⁻¹,   W = −Z · Y_pq,slack · V_slack

for all slots together as one (buses × slots) complex array. Loads are constant power, as in
pandapower's default. Branch currents come from pandapower's Yf/Yt matrices, and loadings
follow pandapower's definitions (line: max end current ÷ max_i_ka; transformer: max side current
÷ rated current), so results compare one to one with ``pandapower.runpp``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandapower as pp
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from pandapower.pypower.idx_bus import BASE_KV

from dso.network import GridNetwork


@dataclass(frozen=True)
class PowerFlowResult:
    """Voltages and loadings per element (rows, pandapower order) and slot (columns)."""

    vm_pu: np.ndarray  # buses × slots
    line_loading_percent: np.ndarray  # lines × slots
    trafo_loading_percent: np.ndarray  # trafos × slots
    iterations: int


class BatchedPowerFlow:
    """The Z-bus power flow of one pandapower net, for load matrices of any number of slots."""

    def __init__(self, grid: GridNetwork, tol_pu: float = 1e-10, max_iter: int = 100) -> None:
        net = grid.net
        for kind in ("sgen", "gen", "storage"):
            if kind in net and len(net[kind]) and net[kind]["in_service"].any():
                raise ValueError(f"in-service {kind} elements: this model puts every injection "
                                 "on the loads (net import per customer)")
        self.grid = grid
        self.tol_pu = tol_pu
        self.max_iter = max_iter
        net.load["p_mw"] = 0.0
        net.load["q_mvar"] = 0.0
        # builds the internal model; a DC start copes with the transformer's phase shift
        pp.runpp(net, calculate_voltage_angles=True, init="dc", numba=False)
        ppci = net._ppc["internal"]
        self._base_mva = float(ppci["baseMVA"])
        n_bus = ppci["bus"].shape[0]
        ref = np.asarray(ppci["ref"], dtype=np.int64)
        pq = np.setdiff1d(np.arange(n_bus), ref)
        ybus = ppci["Ybus"].tocsr()
        v_ref = ppci["V"][ref] if "V" in ppci else np.ones(len(ref), dtype=complex)
        y_pq = ybus[pq][:, pq].toarray()
        self._z = np.linalg.inv(y_pq)
        self._w = -self._z @ (ybus[pq][:, ref] @ v_ref)
        self._pq = pq
        self._ref = ref
        self._v_ref = v_ref
        self._n_bus = n_bus
        bus_lookup = net._pd2ppc_lookups["bus"]
        position = np.full(n_bus, -1, dtype=np.int64)
        position[pq] = np.arange(len(pq))
        self._load_row = position[bus_lookup[net.load["bus"].to_numpy()]]
        if (self._load_row < 0).any():
            raise ValueError("a load sits on the slack bus")
        self._bus_row = bus_lookup[net.bus.index.to_numpy()]  # pandapower bus → ppci bus
        branch = ppci["branch"]
        self._yf = ppci["Yf"].tocsr()
        self._yt = ppci["Yt"].tocsr()
        f_kv = ppci["bus"][np.real(branch[:, F_BUS]).astype(np.int64), BASE_KV]
        t_kv = ppci["bus"][np.real(branch[:, T_BUS]).astype(np.int64), BASE_KV]
        lookups = net._pd2ppc_lookups["branch"]
        lf, lt = lookups["line"]
        line = net.line
        i_max = (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy()
        # loading % = |I_pu| · (baseMVA / (√3 · kV)) kA ÷ i_max · 100
        self._line = slice(lf, lt)
        self._line_scale_f = self._base_mva / (np.sqrt(3) * f_kv[lf:lt]) / i_max * 100
        self._line_scale_t = self._base_mva / (np.sqrt(3) * t_kv[lf:lt]) / i_max * 100
        tf, tt = lookups["trafo"]
        trafo = net.trafo
        self._trafo = slice(tf, tt)
        self._trafo_scale = (self._base_mva / (trafo["sn_mva"] * trafo["parallel"] * trafo["df"])
                             ).to_numpy() * 100

    def voltages(self, p_mw: np.ndarray, q_mvar: np.ndarray | None = None
                 ) -> tuple[np.ndarray, int]:
        """Complex bus voltages (internal buses × slots, pu) and iterations for loads ``p_mw``
        (loads × slots, MW consumed; negative = export)."""
        p_mw = np.atleast_2d(np.asarray(p_mw, dtype=float))
        n_slots = p_mw.shape[1]
        s_inj = self.injections(p_mw, q_mvar)
        v = np.repeat(self._w[:, None], n_slots, axis=1)
        iterations, step = 0, np.inf
        while step >= self.tol_pu:
            if iterations == self.max_iter:
                raise RuntimeError(
                    f"Z-bus power flow did not converge in {self.max_iter} iterations")
            v_new = self._z @ np.conj(s_inj / v) + self._w[:, None]
            step = np.max(np.abs(v_new - v)) if n_slots else 0.0
            v = v_new
            iterations += 1
        v_all = np.empty((self._n_bus, n_slots), dtype=complex)
        v_all[self._pq] = v
        v_all[self._ref] = self._v_ref[:, None]
        return v_all, iterations

    def injections(self, p_mw: np.ndarray, q_mvar: np.ndarray | None = None) -> np.ndarray:
        """Complex power injected at each PQ bus (rows in ``pq`` order × slots, pu)."""
        p_mw = np.atleast_2d(np.asarray(p_mw, dtype=float))
        s_load = p_mw + 1j * (0 if q_mvar is None else np.atleast_2d(q_mvar))
        s_inj = np.zeros((len(self._pq), p_mw.shape[1]), dtype=complex)
        np.add.at(s_inj, self._load_row, -s_load / self._base_mva)
        return s_inj

    def solve(self, p_mw: np.ndarray, q_mvar: np.ndarray | None = None) -> PowerFlowResult:
        """Solve every column of ``p_mw`` (loads × slots, MW consumed; negative = export)."""
        v_all, iterations = self.voltages(p_mw, q_mvar)
        i_f = np.abs(self._yf @ v_all)
        i_t = np.abs(self._yt @ v_all)
        line = np.maximum(i_f[self._line] * self._line_scale_f[:, None],
                          i_t[self._line] * self._line_scale_t[:, None])
        trafo = np.maximum(i_f[self._trafo], i_t[self._trafo]) * self._trafo_scale[:, None]
        return PowerFlowResult(np.abs(v_all[self._bus_row]), line, trafo, iterations)


def pandapower_slot(grid: GridNetwork, p_mw: np.ndarray) -> PowerFlowResult:
    """pandapower's Newton-Raphson for one slot (the oracle the batched solver is tested on)."""
    net = grid.net
    net.load["p_mw"] = np.asarray(p_mw, dtype=float)
    net.load["q_mvar"] = 0.0
    pp.runpp(net, calculate_voltage_angles=True, tolerance_mva=1e-10, numba=False)
    return PowerFlowResult(net.res_bus["vm_pu"].to_numpy()[:, None],
                           net.res_line["loading_percent"].to_numpy()[:, None],
                           net.res_trafo["loading_percent"].to_numpy()[:, None],
                           int(net._ppc["iterations"]) if "iterations" in net._ppc else 0)
