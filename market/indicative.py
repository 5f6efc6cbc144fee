"""Indicative local prices day ahead, from the street's aggregate A-plans (public market data).

The exchange aggregates the homes' A-plans (it does for the DSO's prognosis) and publishes, per
slot, only which way the street as a whole is expected to go. Where the street is expected to
export, a home's extra import would meet a neighbour's surplus at the local price — the
midpoint between retail and feed-in, where opening quotes meet — instead of retail; where it is
expected to import, a home's extra export would meet a neighbour's demand at the midpoint
instead of the feed-in price. Homes plan once more at these expected prices: a battery charges
from the neighbours' noon surplus for the evening, an EV or a heat pump moves into it. No home
sees another's plan. Pure; µ€/kWh.
"""

from __future__ import annotations

import numpy as np


def indicative_prices(street_wh: np.ndarray, retail: np.ndarray,
                      feed_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected buy and sell prices per slot (µ€/kWh) given the street's aggregate planned net
    import ``street_wh`` (Wh per slot, + = import) and the supplier's retail and feed-in."""
    street = np.asarray(street_wh)
    retail = np.asarray(retail, dtype=np.int64)
    feed_in = np.asarray(feed_in, dtype=np.int64)
    mid = (retail + feed_in) // 2
    return np.where(street < 0, mid, retail), np.where(street > 0, mid, feed_in)
