"""Home plans computed side by side in worker processes.

The homes that plan in one round of the simulation (the day-ahead plans, each block of the
exchange's local offers, the DSO's validation rounds, the re-plans at intraday prices and those
asked every ``replan_every`` slots, the no-market counterfactual's plans) plan each on its own
data and public prices: their plans are independent, and ``plan_home`` is a pure function of its
arguments — a re-plan's warm start too, whose basis travels with the plan it keeps
(``node.lp_basis``) — so a plan is the same whichever process computes it and the run's trades
and balances do not depend on the number of workers (``tests/test_plan_pool.py``).

Workers are forked from a clean server process (``forkserver``: no threads of the simulator
are copied), each with HiGHS on one thread, and kept for the life of the interpreter, so
successive simulations in one process share them. A pool starts its workers when it is made,
in the background (``PlanPool`` is made as the simulation sets up its chain), so the first
round's wall time holds plans, not process start-up (a 2030-green-high day on two workers: the
day-ahead round 0.9–1.9 s → about 0.7 s).
Threads instead of processes were measured and not taken: HiGHS runs without the GIL, and a
day's recorded plan rounds replayed on two threads took 5.6–6.2 s against 6.1–6.7 s on two
processes, but inside the simulator the threads planned no faster (agents' planning 6.4–9.3 s
over eight runs against 6.6–8.7 s over six, this machine's timings varying by a fifth).
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from node.milp import HomeAssets, MilpPlan, PlanInfeasible, plan_home

#: one plan's arguments: plan_home(*args, **kwargs)
PlanCall = tuple[tuple[Any, ...], dict[str, Any]]

_POOLS: dict[int, ProcessPoolExecutor] = {}


def _plan(call: PlanCall) -> MilpPlan | PlanInfeasible:
    args, kwargs = call
    try:
        return plan_home(*args, **kwargs)
    except PlanInfeasible as infeasible:  # an answer, not a failure: the caller decides
        return infeasible


def _warm() -> None:
    """A worker's first work, done before any plan is asked of it: the planner's modules
    loaded and HiGHS started, on a home of four slots."""
    plan_home(np.full(4, 100.0), np.zeros(4), HomeAssets(), np.full(4, 300_000.0),
              np.zeros(4))


def _pool(workers: int) -> ProcessPoolExecutor:
    if workers not in _POOLS:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["node.milp"])
        _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=context)
    return _POOLS[workers]


def chunk_size(calls: int, workers: int) -> int:
    """How many of a round's ``calls`` one task to a worker carries: a worker's share, so
    each worker is handed work once a round. A hand-over between processes costs a virtual
    CPU of this machine about a millisecond: a 2030-green-high day's recorded plan rounds
    replayed on two workers, four alternating runs, took 4.8–5.1 s so, against 5.2–5.9 s in
    chunks of an eighth of the round (the local offers' blocks of four 1.11–1.30 against
    1.24–1.48 s, the intraday re-plans 0.84–0.93 against 0.91–1.09 s)."""
    return -(-calls // workers)


#: the prefix of the stages whose plans are the no-market counterfactual's, which the simulator
#: makes to bill each home without the market (no agent's work)
COUNTERFACTUAL = "counterfactual"


@dataclass
class PlanPool:
    """Runs batches of ``plan_home`` calls, on ``workers`` processes (1: in this process), and
    counts the plans and the wall time spent on them (s) per stage of the day (``stages``:
    stage → [plans, s]); in all, and of the no-market counterfactual (``COUNTERFACTUAL``)."""

    workers: int = 1
    stages: dict[str, list] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Start the workers now, in the background, while the simulation sets up: starting
        processes is the simulator's cost, not the homes' planning."""
        if self.workers > 1 and self.workers not in _POOLS:
            pool = _pool(self.workers)
            for _ in range(self.workers):
                pool.submit(_warm)

    def map(self, calls: list[PlanCall], stage: str = "other"
            ) -> list[MilpPlan | PlanInfeasible]:
        """Each call's plan, in order; a ``PlanInfeasible`` in place of a plan that has none.
        ``stage``: what they are planned for, to count them by."""
        if not calls:
            return []
        t0 = time.perf_counter()
        if self.workers > 1 and len(calls) > 1:
            chunk = chunk_size(len(calls), self.workers)
            try:
                out = list(_pool(self.workers).map(_plan, calls, chunksize=chunk))
            except BrokenProcessPool:  # a worker died (killed, out of memory): the plans are
                _POOLS.pop(self.workers).shutdown(wait=False)  # pure, so a new pool redoes
                out = list(_pool(self.workers).map(_plan, calls, chunksize=chunk))  # them
        else:
            out = [_plan(call) for call in calls]
        counted = self.stages.setdefault(stage, [0, 0.0])
        counted[0] += len(calls)
        counted[1] += time.perf_counter() - t0
        return out

    def totals(self, counterfactual_only: bool = False) -> tuple[int, float]:
        """The plans and their wall time (s) over every stage, or over the counterfactual's."""
        chosen = [v for k, v in self.stages.items()
                  if not counterfactual_only or k.startswith(COUNTERFACTUAL)]
        return sum(n for n, _ in chosen), sum(s for _, s in chosen)

    @property
    def plans(self) -> int:
        return self.totals()[0]

    @property
    def wall_s(self) -> float:
        return self.totals()[1]
