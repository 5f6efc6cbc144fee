"""Indicative local prices day ahead, from the street's aggregate A-plans (public market data).

The exchange aggregates the homes' A-plans (it does for the DSO's prognosis) and publishes, per
slot, only the street's aggregate: its expected surplus or demand. Where the street is expected to
export, a home's extra import would meet a neighbour's surplus at the local price — the
midpoint between retail and feed-in, where opening quotes meet — instead of retail; where it is
expected to import, a home's extra export would meet a neighbour's demand at the midpoint
instead of the feed-in price. Homes plan once more at these expected prices: a battery charges
from the neighbours' noon surplus for the evening, an EV or a heat pump moves into it. No home
sees another's plan. Pure; µ€/kWh.

Only so much is there: :func:`local_offers` gives each of ``homes`` planning homes an equal share
of the street's expected surplus (or demand) at the local price; beyond it the supplier's price
holds (``node.milp.plan_home``'s ``local_import`` / ``local_export``). Without the volumes
every flexible home moves into the same slots and turns a surplus into an overload (measured
in benchmarks/congestion.py).
"""

from __future__ import annotations

import numpy as np


def local_offers(street_wh: np.ndarray, retail: np.ndarray, feed_in: np.ndarray, homes: int
                 ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per planning home: ((buy price, most Wh), (sell price, most Wh)) per slot that it can
    expect from neighbours — the midpoint, up to its share of the street's surplus (demand)."""
    street = np.asarray(street_wh, dtype=np.float64)
    mid = (np.asarray(retail, dtype=np.int64) + np.asarray(feed_in, dtype=np.int64)) // 2
    share = 1.0 / max(homes, 1)
    return ((mid, np.maximum(-street, 0.0) * share), (mid, np.maximum(street, 0.0) * share))
