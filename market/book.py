"""Resting orders and read-only snapshots of a (slot, zone) book.

The live books are price ladders in :mod:`market.ladder`; the exchange keeps one
:class:`RestingOrder` per open order for validation and escrow, keyed by its ``seq``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class RestingOrder:
    """An order in a book; ``remaining_wh`` shrinks as it fills."""

    key: tuple[str, str]  # (sender, order_id)
    side: str
    slot: int
    zone: str
    price: int
    remaining_wh: int
    seq: int
    expires_at: int | None = None


@dataclass(frozen=True, slots=True)
class BookView:
    """Live bids (highest price first) and asks (lowest first), earliest first at a price."""

    bids: tuple[RestingOrder, ...]
    asks: tuple[RestingOrder, ...]

    def best_bid(self) -> RestingOrder | None:
        return self.bids[0] if self.bids else None

    def best_ask(self) -> RestingOrder | None:
        return self.asks[0] if self.asks else None

    def orders(self, side: str) -> list[RestingOrder]:
        """Live orders on ``side`` ("buy" = bids), best first."""
        return list(self.bids if side == "buy" else self.asks)

    def depth(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Aggregated (price, Wh) levels of bids and asks, best first (for display and tests)."""
        levels: list[list[tuple[int, int]]] = []
        for orders in (self.bids, self.asks):
            agg: dict[int, int] = {}
            for o in orders:
                agg[o.price] = agg.get(o.price, 0) + o.remaining_wh
            levels.append(list(agg.items()))
        return levels[0], levels[1]
