"""A solved LP's simplex basis as bytes, and a new LP of the same shape started from it.

A home re-plans many times a day, each time a programme of the same shape as the last with a
few more slots kept and its forecasts, prices or offers moved: started from the basis of the
plan it keeps, HiGHS's dual simplex needs a few dozen iterations instead of about three hundred
(a 2030-green-high day's periodic and intraday re-plans: 293 → 33 and 283 → 18 on average). The
basis travels with the plan (``node.milp.MilpPlan.basis``) as bytes — its shape, then a byte
per column and row — so which process planned a home does not change its next plan.
``highspy``'s own ``getBasis`` builds a Python list of statuses (0.7 ms a plan); this reads the
basic variables and puts every other at the bound its value sits on (0.1 ms).
"""

from __future__ import annotations

from functools import cache

import numpy as np

#: HiGHS's basis statuses by their codes (``highspy.HighsBasisStatus``'s values)
LOWER, BASIC, UPPER, ZERO = 0, 1, 2, 3


@cache
def _by_code() -> np.ndarray:
    """``highspy.HighsBasisStatus`` by code, as an object array to index with the codes."""
    import highspy

    members = {int(status): status for status in highspy.HighsBasisStatus.__members__.values()}
    by_code = np.empty(max(members) + 1, object)
    for code, status in members.items():
        by_code[code] = status
    return by_code


def _statuses(value: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A nonbasic variable's status: at its nearer bound, ZERO where it has none."""
    status = np.where(np.abs(value - lo) <= np.abs(value - hi), LOWER, UPPER).astype(np.int8)
    status[np.isinf(lo) & np.isinf(hi)] = ZERO
    return status


def array_of(values: list, dtype: type = np.float64) -> np.ndarray:
    """A list highspy returns (a solution's values or duals, the basic variables) as an array
    of ``dtype``: read with its type and length known, in a third of ``np.array``'s time on a
    plan's thousand values (13 against 41 µs), which the start search pays twice an LP."""
    return np.fromiter(values, dtype, len(values))


#: the bytes of a basis's shape (columns and rows, int32) before its statuses
_HEADER = 8


def packed(n_cols: int, n_rows: int, statuses: bytes) -> bytes:
    """A basis as bytes: its shape, then ``statuses``, a byte per column and then per row."""
    return np.array([n_cols, n_rows], np.int32).tobytes() + statuses


def shape_of(basis: bytes) -> tuple[int, int]:
    """The (columns, rows) of the programme ``basis`` (``packed``) is a basis of."""
    n_cols, n_rows = np.frombuffer(basis[:_HEADER], np.int32)
    return int(n_cols), int(n_rows)


def statuses_of(basis: bytes) -> np.ndarray:
    """``basis``'s statuses (``packed``): per column, then per row."""
    return np.frombuffer(basis, np.int8, offset=_HEADER)


def basis_bytes(model, x: np.ndarray, A, col_lo: np.ndarray, col_hi: np.ndarray,
                row_lo: np.ndarray, row_hi: np.ndarray) -> bytes:
    """The basis ``model`` (a ``highspy.Highs`` of min c·x, row_lo ≤ A·x ≤ row_hi, col_lo ≤ x ≤
    col_hi, just solved to ``x``) ends with: its shape, a status byte per column, then per
    row."""
    basic = array_of(model.getBasicVariables()[1], np.int64)
    cols = _statuses(x, col_lo, col_hi)
    rows = _statuses(A @ x, row_lo, row_hi)
    cols[basic[basic >= 0]] = BASIC
    rows[-basic[basic < 0] - 1] = BASIC
    return packed(len(cols), len(rows), cols.tobytes() + rows.tobytes())


def with_last(basis: bytes | None, n_cols: int, n_rows: int, new_cols: int, new_rows: int
              ) -> bytes | None:
    """``basis`` for a programme of ``n_cols`` × ``n_rows``: as it is where it has that shape;
    where it lacks only the last ``new_cols`` columns and ``new_rows`` rows (a plan without the
    re-plan's anchor, ``node.milp.plan_home``), with those columns at their lower bound and
    those rows basic — still a basis, and feasible where the new rows hold at the old point;
    else None."""
    if basis is None:
        return None
    shape = shape_of(basis)
    if shape == (n_cols, n_rows):
        return basis
    old_cols = n_cols - new_cols
    if shape != (old_cols, n_rows - new_rows):
        return None
    statuses = basis[_HEADER:]
    return packed(n_cols, n_rows, statuses[:old_cols] + bytes([LOWER]) * new_cols
                  + statuses[old_cols:] + bytes([BASIC]) * new_rows)


def start_from(model, basis: bytes | None, n_cols: int, n_rows: int) -> bool:
    """Start ``model`` (a ``highspy.Highs``, ``n_cols`` × ``n_rows``) from ``basis``
    (``basis_bytes`` of a programme of the same shape); False, and nothing set, where there is
    none or the shape differs."""
    import highspy

    if basis is None or shape_of(basis) != (n_cols, n_rows):
        return False
    statuses = _by_code()[statuses_of(basis)]
    start = highspy.HighsBasis()
    start.col_status = statuses[:n_cols].tolist()
    start.row_status = statuses[n_cols:].tolist()
    start.valid = True
    return model.setBasis(start) == highspy.HighsStatus.kOk
