"""The virtual clock: scheduled actions run in time order (ties in scheduling order)."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any


class VirtualClock:
    """A discrete-event scheduler over unix seconds."""

    def __init__(self, start: int = 0) -> None:
        self.now = start
        self._queue: list[tuple[int, int, Callable[..., Any], tuple]] = []
        self._seq = 0

    def at(self, time: int, action: Callable[..., Any], *args: Any) -> None:
        """Schedule ``action(*args)`` at ``time``; scheduling into the past is an error."""
        if time < self.now:
            raise ValueError(f"cannot schedule at {time}, the clock is at {self.now}")
        heapq.heappush(self._queue, (time, self._seq, action, args))
        self._seq += 1

    def run(self) -> None:
        """Run every scheduled action (and those they schedule) in time order."""
        while self._queue:
            time, _, action, args = heapq.heappop(self._queue)
            self.now = time
            action(*args)
