"""Forecasts of a home's own load and PV from its own history (days × 96 slots, Wh)."""

from __future__ import annotations

import numpy as np

from protocol.units import SLOTS_PER_DAY


def seasonal_naive(history_wh: np.ndarray) -> np.ndarray:
    """Tomorrow = the same slots yesterday: the baseline every forecast must beat."""
    history_wh = np.atleast_2d(history_wh)
    if history_wh.shape[-1] != SLOTS_PER_DAY or len(history_wh) < 1:
        raise ValueError("history must be whole days of 96 slots")
    return history_wh[-1].astype(np.int64)


def same_slot_mean(history_wh: np.ndarray, days: int = 7) -> np.ndarray:
    """Mean of the same slot over the last ``days`` days (Wh, rounded)."""
    h = np.atleast_2d(history_wh)[-days:]
    return np.rint(h.mean(axis=0)).astype(np.int64)


def same_slot_spread(history_wh: np.ndarray, days: int = 7) -> np.ndarray:
    """Mean absolute deviation of the same slot over the last ``days`` days (Wh): the home's own
    measure of how unsure the forecast is."""
    h = np.atleast_2d(history_wh)[-days:]
    return np.rint(np.abs(h - h.mean(axis=0)).mean(axis=0)).astype(np.int64)


def mean_absolute_error(forecast: np.ndarray, actual: np.ndarray) -> float:
    """MAE in Wh per slot."""
    return float(np.mean(np.abs(np.asarray(forecast) - np.asarray(actual))))


def intraday_update(forecast_wh: np.ndarray, actual_wh: np.ndarray, now: int,
                    scale: bool = False, window: int = 4, decay: float = 0.85) -> np.ndarray:
    """The day's forecast revised at slot ``now`` from the slots metered so far (Wh).

    Slots before ``now`` become what was metered; each later slot carries the error of the last
    ``window`` slots forward, fading by ``decay`` per slot ahead (errors persist for hours, not
    days). ``scale``: the error as a ratio (PV: a cloudier day than forecast scales the whole
    curve, and no error is carried into the night); otherwise added in Wh (load), never below 0.
    """
    fc = np.asarray(forecast_wh, float)
    out = fc.copy()
    out[:now] = np.asarray(actual_wh, float)[:now]
    recent = slice(max(now - window, 0), now)
    if now <= 0 or now >= len(fc):
        return np.rint(out).astype(np.int64)
    fade = decay ** np.arange(1, len(fc) - now + 1)
    if scale:
        expected = fc[recent].sum()
        if expected > 0:
            ratio = float(np.clip(out[recent].sum() / expected, 0.0, 2.0))
            out[now:] = fc[now:] * (1 + (ratio - 1) * fade)
    else:
        error = float((out[recent] - fc[recent]).mean())
        out[now:] = np.maximum(fc[now:] + error * fade, 0.0)
    return np.rint(out).astype(np.int64)
