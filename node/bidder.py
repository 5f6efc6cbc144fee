"""The home's bidding agent: turns its plan into signed orders, before each gate closes.

Strategy (truthful at the gate): at the opening of a day the agent quotes its planned position at
the exchange's published local price for the slot (``market.indicative.local_price``; without
one, the midpoint between the supplier's feed-in and retail prices), where neighbours' opposite
quotes meet it; just before the gate it re-quotes what is left of its (possibly re-planned)
position at that price, and once every agent has, it cancels what is still open and sends the
remainder at its reservation price — the supplier's quote with the posted congestion fee — less
one µ€: it meets every neighbour's quote still open that beats the supply contract, and what no
neighbour takes is left to the contract, settled after delivery as a deviation that first nets
with the street's other deviations in the community pool (``ledger.settlement_batch``).
Buying the rest from the supplier at the gate instead would pay retail for energy that a
neighbour's unsold surplus then feeds back at the feed-in price, in the same slot.
With a quoting ``strategy`` (``node.strategy``: ZIC, truthful re-quoting, adaptive ZIP) the
opening quote and the re-quote are the strategy's prices for rounds 0 and 1 of 3, within the
agent's limit, the re-quote seeing the slot's last trade price; the gate is round 2, at the
limit. The limit is one µ€ inside the supplier's quote (before fees), and, where the plan prices
its slots (``Plan.marginal_value``, the MILP's balance duals), no further than what the plan
says a Wh is worth there: a battery planned to charge from a neighbour's surplus at the local
price does not pay a neighbour near retail for it (what it does not buy settles in the pool).
It only uses its own plan and public market data (tariff, posted fees, trade prices).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from node.strategy import Strategy
from protocol.messages import Cancel, Order
from protocol.signing import KeyPair, Signed
from protocol.tariff import Tariff


@dataclass
class Bidder:
    """One home's agent state: key, nonce, and open orders per slot."""

    home_id: str
    zone: str
    key: KeyPair
    tariff: Tariff
    nonce: int = 0
    upstream: str = "upstream"
    open_orders: dict[int, list] = field(default_factory=dict)  # slot → [id, open Wh, side]
    filled_wh: dict[int, int] = field(default_factory=dict)  # slot → signed net bought (Wh)
    # a fresh quoting strategy per slot (``strategy(slot)``); None: quote the local price
    strategy: Callable[[int], Strategy] | None = None
    _strategies: dict[int, Strategy] = field(default_factory=dict)

    ROUNDS = 3  # opening, re-quote, gate

    def limit(self, slot: int, side: str, value: int | None = None) -> int:
        """The quoting limit (µ€/kWh): one µ€ inside the supplier's quote, before fees (posted
        fees only widen a buyer's reservation and narrow a seller's; the gate order has them),
        and no further than the plan's marginal ``value`` of a Wh in the slot if known: a buyer
        pays no more than it is worth to it, a seller takes no less."""
        if side == "buy":
            supplier = self.tariff.retail(slot) - 1
            return supplier if value is None else min(supplier, value)
        supplier = self.tariff.feed_in_price(slot) + 1
        return supplier if value is None else max(supplier, value)

    def _price(self, slot: int, side: str, round_k: int, local_price: int | None,
               last_trade: int | None, value: int | None = None) -> int:
        if self.strategy is None:
            return self.quote_price(slot, local_price)
        strategy = self._strategies.get(slot)
        if strategy is None:
            strategy = self._strategies[slot] = self.strategy(slot)
        return strategy.quote(side, self.limit(slot, side, value), round_k, self.ROUNDS,
                              last_trade)

    def _next_nonce(self) -> int:
        self.nonce += 1
        return self.nonce

    def quote_price(self, slot: int, local_price: int | None = None) -> int:
        """The opening quote (µ€/kWh): the published local price, else the midpoint."""
        if local_price is not None:
            return int(local_price)
        return (self.tariff.retail(slot) + self.tariff.feed_in_price(slot)) // 2

    def opening_orders(self, first_slot: int, net_wh: list[int],
                       local_prices: list[int] | None = None,
                       values: list[int | None] | None = None) -> list[Signed]:
        """Orders at the local price (``local_prices`` per slot, published by the exchange;
        else the midpoint) for every slot of the plan with a non-zero position; with a
        strategy, at its opening price within the limit (``values``: the plan's marginal value
        per slot, µ€/kWh, None where unknown)."""
        out = []
        for i, net in enumerate(net_wh):
            if net == 0:
                continue
            slot = first_slot + i
            side = "buy" if net > 0 else "sell"
            price = self._price(slot, side, 0, None if local_prices is None else local_prices[i],
                                None, None if values is None else values[i])
            out.append(self._order(slot, side, abs(int(net)), price, tag="o"))
        return out

    def requote(self, slot: int, planned_net_wh: int, local_price: int | None = None,
                last_trade: int | None = None, value: int | None = None) -> list[Signed]:
        """Just before the gate: the position may have changed since the opening (re-plans),
        so cancel the open quote and quote what is left at the local price again (or at the
        strategy's second-round price, given the slot's ``last_trade`` price), where the
        neighbours' remainders meet it before anyone turns to the supplier."""
        remaining = planned_net_wh - self.filled_wh.get(slot, 0)
        _, open_wh, side = self.open_orders.get(slot, ("", 0, "buy"))
        if (self.strategy is None and open_wh > 0
                and open_wh * (1 if side == "buy" else -1) == remaining):
            return []  # the quote stands as it is
        out = self._cancel_open(slot)
        if remaining:
            side = "buy" if remaining > 0 else "sell"
            out.append(self._order(slot, side, abs(remaining),
                                   self._price(slot, side, 1, local_price, last_trade, value),
                                   tag="o"))
        return out

    def gate_orders(self, slot: int, planned_net_wh: int,
                    fee: Callable[[str, str, int], int], value: int | None = None
                    ) -> list[Signed]:
        """Cancel the slot's open order and send the unfilled remainder at one µ€ inside the
        reservation price (the supplier's quote with its fee): it fills with neighbours only.
        With a strategy and the plan's marginal ``value`` (µ€/kWh), no further than it.

        ``fee(from_zone, to_zone, slot)`` is the public congestion fee of the exchange.
        """
        out = self._cancel_open(slot)
        self._strategies.pop(slot, None)
        remaining = planned_net_wh - self.filled_wh.get(slot, 0)
        bounded = self.strategy is not None and value is not None
        if remaining > 0:
            price = self.tariff.retail(slot) + fee(self.upstream, self.zone, slot) - 1
            out.append(self._order(slot, "buy", remaining, min(price, value) if bounded
                                   else price, tag="g"))
        elif remaining < 0:
            price = self.tariff.feed_in_price(slot) - fee(self.zone, self.upstream, slot) + 1
            out.append(self._order(slot, "sell", -remaining, max(price, value) if bounded
                                   else price, tag="g"))
        return out

    def _cancel_open(self, slot: int) -> list[Signed]:
        """The cancel of the slot's open quote, if any is still open (forgotten either way)."""
        order_id, open_wh, _ = self.open_orders.pop(slot, ("", 0, ""))
        if open_wh <= 0:
            return []
        return [self.key.sign(Cancel(sender=self.home_id, nonce=self._next_nonce(),
                                     order_id=order_id))]

    def on_fill(self, order_id: str, slot: int, side: str, quantity_wh: int) -> None:
        """Record a fill of one of this agent's orders."""
        opened = self.open_orders.get(slot)
        if opened is not None and opened[0] == order_id:
            opened[1] -= quantity_wh
        signed = quantity_wh if side == "buy" else -quantity_wh
        self.filled_wh[slot] = self.filled_wh.get(slot, 0) + signed

    def _order(self, slot: int, side: str, qty: int, price: int, tag: str) -> Signed:
        order_id = f"{tag}{slot}-{self.nonce + 1}"
        order = Order(sender=self.home_id, nonce=self._next_nonce(), order_id=order_id,
                      slot=slot, zone=self.zone, side=side, quantity_wh=qty, price=price)
        if tag == "o":
            self.open_orders[slot] = [order_id, qty, side]
        return self.key.sign(order)
