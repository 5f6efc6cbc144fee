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

Only so much is there. :func:`coordinate` makes the local offers sequential: in a seeded order
each flexible home plans once more against what the others' latest A-plans leave
(:func:`residual_offers`: the surplus, or demand, of everyone else; beyond it the supplier's
price holds — ``node.milp.plan_home``'s ``local_import`` / ``local_export``), and the next one
plans against what is left after it, for a few sweeps until nobody's offer moves. A few homes
at a time (a block) plan side by side, each offered what it already holds and an equal share of
what nobody has taken yet: they cannot take more than there is between them, and the next block
plans against what they left (welfare and speed measured in ``sim.runner.LOCAL_OFFER_BLOCK``).
The flexible homes so take the street's surplus one block after another and never more than
there is: offered all of it at once, every flexible home moves into the same slots and turns a
surplus into an overload (measured in benchmarks/congestion.py). Equal shares of the surplus
instead (the first version, with one reallocation of what the new plans left unused) leave part
of it unused where few homes can take it and give the most flexible homes too little: welfare
ratio 0.871 against 0.895 (benchmarks/welfare.py, pooled). An offer is the aggregate of the
other homes' plans; what a home could learn by comparing two of its offers is the sum of the
changes of every home that planned in between: the whole street in the first sweep, in later
ones only those that moved (few, on a small street; a limit of the scheme, not yet mitigated).
"""

from __future__ import annotations

from collections.abc import Callable

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


def residual_offers(street_wh: np.ndarray, own_wh: np.ndarray, share: float = 1.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """What one home can expect from its neighbours per slot (Wh): (most it can buy, most it
    can sell) — the street's expected surplus, or demand, without its own planned net; of what
    nobody has taken yet (the street's own surplus, or demand), only ``share`` (homes that
    plan side by side split it)."""
    street = np.asarray(street_wh, dtype=np.float64)
    others = street - np.asarray(own_wh, dtype=np.float64)
    buy, sell = np.maximum(-others, 0.0), np.maximum(others, 0.0)
    if share >= 1.0:
        return buy, sell
    untaken = 1.0 - share
    return (np.maximum(buy - untaken * np.maximum(-street, 0.0), 0.0),
            np.maximum(sell - untaken * np.maximum(street, 0.0), 0.0))


Replan = Callable[[list[tuple[str, np.ndarray, np.ndarray]], int], list[np.ndarray]]


def coordinate(nets: dict[str, np.ndarray], rest_wh: np.ndarray, replan: Replan,
               orders: list[list[str]], tolerance_wh: float = 1.0, block: int = 1
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sequential local offers: in each sweep (``orders``: the homes in the order they plan),
    ``block`` homes at a time plan once more side by side (``replan([(home, buy_wh, sell_wh),
    …], sweep)`` → their new nets, Wh per slot) against what the street's latest plans leave —
    the surplus (or demand) of everyone else, ``rest_wh`` being the net of the homes that do
    not plan with offers; what nobody has taken yet is split equally among the block's homes
    (``residual_offers``' ``share``). Homes whose offer moved by no more than ``tolerance_wh``
    in any slot since they last planned keep their plan; a sweep in which nobody re-plans ends
    the loop. The flexible homes so take the street's surplus one block after another, never
    more than there is, and what one cannot use the next gets. ``nets`` is updated in place;
    returns the offers each home last planned with."""
    street = np.asarray(rest_wh, dtype=np.float64) + sum(nets.values())
    offers: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for sweep, order in enumerate(orders):
        moved = False
        for at in range(0, len(order), block):
            group = order[at:at + block]
            todo = []
            for home in group:
                buy, sell = residual_offers(street, nets[home], 1.0 / len(group))
                if home in offers:
                    was_buy, was_sell = offers[home]
                    if (np.abs(buy - was_buy).max() <= tolerance_wh
                            and np.abs(sell - was_sell).max() <= tolerance_wh):
                        continue
                offers[home] = (buy, sell)
                todo.append((home, buy, sell))
            if not todo:
                continue
            for (home, _, _), new in zip(todo, replan(todo, sweep), strict=True):
                new = np.asarray(new, dtype=np.float64)
                street = street + new - nets[home]
                nets[home] = new
            moved = True
        if not moved:
            break
    return offers
