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
