"""The C++ matching core on its own: order table growth, slot recycling, FOK consistency.

Its matching semantics are checked through the Exchange against the reference matcher
(tests/test_market_properties.py); these tests cover what small streams do not reach.
"""

from __future__ import annotations

import random

import pytest
from market.ladder import Ladder

SLOT = 1_000_000
BUY, SELL = 0, 1


def transformer_ladder(fee: int = 0) -> Ladder:
    """3 feeders + upstream (index 3); one transformer, import/export constraints 0/1."""
    sens = [-1000, -1000, -1000, 0]
    coef = []
    for i in range(4):
        for j in range(4):
            change = sens[i] - sens[j]
            coef += [max(change, 0), max(-change, 0)]
    ladder = Ladder(4, 3, 2, coef)
    ladder.open_slot(SLOT, 300_000, 50_000)
    for z in range(3):
        ladder.set_fee(SLOT, 3, z, fee)
    return ladder


def test_thousands_of_orders_survive_table_growth_and_cancels_in_price_time_order():
    rng = random.Random(7)
    ladder = transformer_ladder()
    asks = {}
    for seq in range(1, 20_001):  # the seq table starts at 1,024 slots: it grows many times
        price = rng.randint(100, 200) * 1000
        ladder.place(seq % 50, SELL, SLOT, seq % 3, price, 10, seq, True)
        asks[seq] = price
    for seq in rng.sample(sorted(asks), 12_000):
        assert ladder.cancel(seq)
        del asks[seq]
    assert not ladder.cancel(5_000_000)  # never placed
    assert len(ladder) == len(asks) == 8_000
    assert all(ladder.remaining(s) == 10 for s in asks)
    # one buy below the supplier's retail price sweeps every ask, best price then earliest first
    n = ladder.place(999, BUY, SLOT, 0, 250_000, 10 * len(asks), 30_000, False)
    assert n == len(asks)
    assert [f[0] for f in ladder.fills] == sorted(asks, key=lambda s: (asks[s], s))
    assert len(ladder) == 0


def test_dropped_slot_recycles_books_and_forgets_orders():
    ladder = transformer_ladder()
    for seq in range(1, 101):
        ladder.place(1, BUY, SLOT, 0, 90_000, 5, seq, True)
    ladder.drop_slot(SLOT)
    assert len(ladder) == 0 and not ladder.cancel(1)
    with pytest.raises(KeyError):
        ladder.place(1, BUY, SLOT, 0, 90_000, 5, 101, True)
    ladder.open_slot(SLOT + 1, 300_000, 50_000)
    ladder.place(2, SELL, SLOT + 1, 1, 80_000, 5, 102, True)
    assert ladder.resting(SLOT + 1, 1, SELL) == [102]
    assert ladder.resting(SLOT + 1, 0, BUY) == []


@pytest.mark.parametrize("seed", range(20))
def test_fillable_equals_what_matching_fills(seed):
    rng = random.Random(seed)
    ladder = transformer_ladder(fee=rng.choice([0, 15_000]))
    ladder.set_headroom(SLOT, 0, rng.choice([-1, 300, 2_000]))  # transformer import cap
    ladder.set_headroom(SLOT, 1, rng.choice([-1, 500]))
    for seq in range(1, 200):
        side = rng.randrange(2)
        price = rng.randint(40, 320) * 1000
        ladder.place(rng.randrange(6), side, SLOT, rng.randrange(3), price, rng.randint(1, 300),
                     seq, True)
    owner, side, zone = rng.randrange(7), rng.randrange(2), rng.randrange(3)
    price, qty = rng.randint(0, 400) * 1000, rng.randint(1, 5_000)
    expected = ladder.fillable(owner, side, SLOT, zone, price, qty)
    ladder.place(owner, side, SLOT, zone, price, qty, 10_000, False)
    assert sum(f[4] for f in ladder.fills) == expected
