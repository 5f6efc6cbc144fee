"""Indicative local prices day ahead, from the street's aggregate A-plans (public market data).

The exchange aggregates the homes' A-plans (it does for the DSO's prognosis) and publishes, per
slot, only the street's aggregate: its expected surplus or demand, and the local price it
expects (:func:`local_price`). Where the street is expected to export, buyers are the scarce
side: a home's extra import meets a neighbour's surplus at a local price near the feed-in price
(its sellers' alternative); where it is expected to import, sellers are scarce and a home's
extra export meets a neighbour's demand at a price near retail (its buyers' alternative). Both
sides gain against the supplier at that price, and the scarce side's flexibility earns what it
is worth to the street: a battery charges from the neighbours' noon surplus and discharges into
their evening peak, an EV or a heat pump moves into the surplus. A single midpoint price instead
pays an evening discharge only half the spread, less than recharging at night costs. The agents
quote at the same published price, so the trades happen where the plans expected them.
No home sees another's plan. Pure; µ€/kWh.

Only so much is there: :func:`local_offers` gives each of ``homes`` planning homes an equal share
of the street's expected surplus (or demand) at the local price; beyond it the supplier's price
holds (``node.milp.plan_home``'s ``local_import`` / ``local_export``). Without the volumes
every flexible home moves into the same slots and turns a surplus into an overload (measured
in benchmarks/congestion.py). An equal share leaves most of it unused where few homes can take
it (an EV home has nothing to sell into the evening; a battery home could sell more):
:func:`reallocate` gives what the homes' new A-plans leave unused to the homes that used all of
theirs, and they plan once more.
"""

from __future__ import annotations

import numpy as np

#: the scarce side's local price lies this share of the retail − feed-in spread inside its
#: alternative (retail for sellers' buyers, feed-in for buyers' sellers); 0.5 is the midpoint.
#: Measured (benchmarks/welfare.py, default street): 0.5 → welfare ratio 0.801, 0.25 → 0.809,
#: 0.1 → 0.832: at 0.25 an evening sale (retail − ¼ spread) barely pays a battery's night
#: recharge through its 90 % round trip
SCARCITY_SHARE = 0.1


def local_price(street_wh: np.ndarray, retail: np.ndarray, feed_in: np.ndarray,
                share: float = SCARCITY_SHARE) -> np.ndarray:
    """Expected local price per slot (µ€/kWh): ``share`` of the spread above feed-in where the
    street is expected to export, below retail where it is expected to import, the midpoint
    where it is balanced."""
    street = np.asarray(street_wh, dtype=np.float64)
    retail = np.asarray(retail, dtype=np.int64)
    feed_in = np.asarray(feed_in, dtype=np.int64)
    spread = retail - feed_in
    inside = np.rint(spread * share).astype(np.int64)
    return np.where(street < 0, feed_in + inside,
                    np.where(street > 0, retail - inside, (retail + feed_in) // 2))


def local_offers(street_wh: np.ndarray, retail: np.ndarray, feed_in: np.ndarray, homes: int,
                 share: float = SCARCITY_SHARE
                 ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per planning home: ((buy price, most Wh), (sell price, most Wh)) per slot that it can
    expect from neighbours — the local price, up to its share of the street's surplus
    (demand)."""
    street = np.asarray(street_wh, dtype=np.float64)
    price = local_price(street, retail, feed_in, share)
    part = 1.0 / max(homes, 1)
    return ((price, np.maximum(-street, 0.0) * part), (price, np.maximum(street, 0.0) * part))


def reallocate(offered: dict[str, np.ndarray], used: dict[str, np.ndarray],
               tolerance_wh: float = 1.0) -> dict[str, np.ndarray]:
    """New volumes (Wh per slot) of one side of the local offers: each home keeps what its plan
    used of ``offered`` (its import, or export, where it was offered some); the rest of the
    street's volume (the sum of the offers) goes in equal parts to the homes that used all of
    theirs (within ``tolerance_wh``). Homes that used less are offered what they used."""
    volume = sum(offered.values())
    kept = {h: np.minimum(np.maximum(used[h], 0.0), offered[h]) for h in offered}
    full = {h: offered[h] > 0 for h in offered}
    for h in offered:
        full[h] &= kept[h] >= offered[h] - tolerance_wh
    takers = sum(f.astype(float) for f in full.values())
    left = np.maximum(volume - sum(kept.values()), 0.0)
    extra = np.where(takers > 0, left / np.maximum(takers, 1.0), 0.0)
    return {h: kept[h] + np.where(full[h], extra, 0.0) for h in offered}

