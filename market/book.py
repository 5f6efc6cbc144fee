"""One side-pair of price-time-priority queues for one (slot, zone).

Heaps with lazy deletion: cancelled or filled orders leave the heap when they reach its top.
"""

from __future__ import annotations

import heapq
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


class Book:
    """Bids (highest price first) and asks (lowest first), earliest ``seq`` first at a price."""

    __slots__ = ("_asks", "_bids")

    def __init__(self) -> None:
        self._bids: list[tuple[int, int, RestingOrder]] = []
        self._asks: list[tuple[int, int, RestingOrder]] = []

    def add(self, order: RestingOrder) -> None:
        if order.side == "buy":
            heapq.heappush(self._bids, (-order.price, order.seq, order))
        else:
            heapq.heappush(self._asks, (order.price, order.seq, order))

    @staticmethod
    def _top(heap: list[tuple[int, int, RestingOrder]]) -> RestingOrder | None:
        while heap and heap[0][2].remaining_wh <= 0:
            heapq.heappop(heap)
        return heap[0][2] if heap else None

    def best_bid(self) -> RestingOrder | None:
        return self._top(self._bids)

    def best_ask(self) -> RestingOrder | None:
        return self._top(self._asks)

    def orders(self, side: str) -> list[RestingOrder]:
        """Live orders on ``side`` ("buy" = bids), best first."""
        heap = self._bids if side == "buy" else self._asks
        return [o for _, _, o in sorted(heap) if o.remaining_wh > 0]

    def depth(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Aggregated (price, Wh) levels of bids and asks, best first (for display and tests)."""
        levels: list[list[tuple[int, int]]] = []
        for heap, sign in ((self._bids, -1), (self._asks, 1)):
            agg: dict[int, int] = {}
            for _, _, o in heap:
                if o.remaining_wh > 0:
                    agg[o.price] = agg.get(o.price, 0) + o.remaining_wh
            levels.append(sorted(agg.items(), key=lambda kv: sign * kv[0]))
        return levels[0], levels[1]
