"""The DSO's allotment of tomorrow morning's room to tonight's EV top-ups, cheapest first (pure).

Overnight EVs may leave part of their charging to the next morning (before they leave at 07:00).
Where that energy is more than a congestion point's morning can take, the DSO buys the
difference back: each carrier quotes the most it can charge tonight instead and its price per
Wh (its extra cost for doing so ÷ the energy moved), and the DSO takes the quotes in order of
price until every point's morning fits, the last one in part. A home under several points
(the transformer and its feeder's cable) counts its cut against each of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def cheapest_cuts(needs: Sequence[tuple[Sequence[str], float]],
                  quotes: Mapping[str, tuple[float, float]],
                  efficiency: Mapping[str, float]) -> dict[str, float]:
    """EV-side energy (Wh) to move out of tomorrow morning per home.

    ``needs``: per congestion point, its carriers and the grid-side energy (Wh) its morning is
    over by, in the order the points are served (best the feeder cables first: a cut there
    also serves the transformer). ``quotes``: per home,
    the most EV-side energy it can move (Wh) and its price (µ€ per Wh moved). ``efficiency``:
    each home's charger, EV side per grid side. A point's need falls by what earlier points'
    cuts already took from its homes.
    """
    cut: dict[str, float] = {}
    for homes, need in needs:
        need -= sum(cut.get(h, 0.0) / efficiency[h] for h in homes)
        for h in sorted((h for h in homes if h in quotes), key=lambda h: (quotes[h][1], h)):
            if need <= 0:
                break
            more = min(quotes[h][0] - cut.get(h, 0.0), need * efficiency[h])
            if more > 0:
                cut[h] = cut.get(h, 0.0) + more
                need -= more / efficiency[h]
    return cut
