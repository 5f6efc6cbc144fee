"""The continuous double auction: a pure, deterministic state machine over signed messages.

``Exchange.submit(envelope, now)`` verifies the signature and applies the message at virtual or
wall time ``now`` (unix s); ``Exchange.apply(message, now)`` is the same without the signature
check, for a gateway that verified already. Both return an :class:`Ack`; a rejected message
changes nothing. The same sequence of (now, message) pairs always yields the same trades: that
sequence is the journal.

Matching: one book per (slot, zone). An incoming order meets the best *effective* quote over all
zones: for a buy at zone j, ask(i) + fee(i→j); for a sell at zone i, bid(j) − fee(i→j). The
supplier stands in the upstream zone with infinite depth at the retail price (ask) and the feed-in
price (bid), behind any order at the same effective price. Trades happen at the resting order's
limit: the seller receives ``price``, the buyer pays ``price + fee``; the fee goes to the DSO.
``fee(i→j)`` sums, over the congestion points the trade loads, the point's posted price in that
direction times the per-mille its flow moves per unit traded (``protocol.topology``).
A trade that would exceed a posted capacity is cut to the remaining headroom.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from market.book import BookView, RestingOrder
from market.config import MarketConfig
from market.ladder import Ladder
from protocol.errors import FlexmarketError, Rejected
from protocol.messages import Cancel, CongestionPrice, EscrowUpdate, Order, Replace, Trade
from protocol.signing import KeyDirectory, Signed
from protocol.units import slot_start, value_ueur, value_ueur_ceil


@dataclass(frozen=True)
class Ack:
    """Outcome of one submitted message: accepted with its trades, or rejected with a reason."""

    accepted: bool
    reason: str = ""
    trades: tuple[Trade, ...] = ()


@dataclass
class _Credit:
    escrow_ueur: int = 0
    settled_through_slot: int = -1
    committed_ueur: int = 0
    spent_by_slot: dict[int, int] = field(default_factory=dict)

    def available(self) -> int:
        unsettled = sum(v for s, v in self.spent_by_slot.items() if s > self.settled_through_slot)
        return self.escrow_ueur - self.committed_ueur - unsettled


def _commitment(order: RestingOrder, remaining: int) -> int:
    return value_ueur_ceil(remaining, max(order.price, 0)) if order.side == "buy" else 0


class Exchange:
    """Books, nonces, congestion prices, capacities and escrow cover of one exchange."""

    def __init__(self, config: MarketConfig, directory: KeyDirectory) -> None:
        self.config = config
        self.directory = directory
        self._zones = config.topology.all_zones()
        self._lv_zones = frozenset(config.topology.zones)
        self._upstream = config.topology.upstream
        self._points = config.topology.points
        self._point_names = frozenset(p.name for p in self._points)
        # flow change (per-mille) of every point for every zone pair, computed once
        self._flow = {
            (i, j): tuple((p.name, p.flow_change_permille(i, j)) for p in self._points
                          if p.flow_change_permille(i, j))
            for i in self._zones for j in self._zones
        }
        self._zone_index = {z: k for k, z in enumerate(self._zones)}
        # constraints: every congestion point in each direction; coef = per-mille load of i → j
        self._constraints = [(p.name, d) for p in self._points for d in ("import", "export")]
        coef = []
        for i in self._zones:
            for j in self._zones:
                for p in self._points:
                    change = p.flow_change_permille(i, j)
                    coef += [max(change, 0), max(-change, 0)]
        self._ladder = Ladder(len(self._zones), self._zone_index[self._upstream],
                              len(self._constraints), coef)
        self._owner_ids: dict[str, int] = {}
        self._by_seq: dict[int, RestingOrder] = {}  # resting orders by their ladder seq
        self._orders: dict[tuple[str, str], RestingOrder] = {}
        self._orders_by_slot: dict[int, set[tuple[str, str]]] = {}
        self._expiries: list[tuple[int, int, tuple[str, str]]] = []
        self._used_ids: set[tuple[str, str]] = set()
        self._nonces: dict[str, int] = {}
        self._prices: dict[tuple[str, int, str], int] = {}
        self._price_versions: dict[tuple[str, int, str], int] = {}
        self._fees: dict[int, dict[tuple[str, str], int]] = {}  # slot → memo of fee(i, j)
        self._credit: dict[str, _Credit] = {}
        self._open_slots: list[int] = []
        self._open_slot_set: set[int] = set()
        self._seq = 0
        self._trade_seq = 0
        self.clock = 0
        self.trades: list[Trade] = []

    # ---- public API -------------------------------------------------------------------------
    def submit(self, envelope: Signed, now: int) -> Ack:
        """Verify and apply one signed message received at ``now``; never raises on bad input."""
        msg = envelope.message
        sender = getattr(msg, "sender", None)
        try:
            if sender is None:
                raise Rejected(f"{type(msg).__name__} is not accepted by the exchange")
            self.directory.verify(envelope, sender)
        except FlexmarketError as exc:
            return Ack(False, exc.reason)
        return self.apply(msg, now)

    def apply(self, msg, now: int) -> Ack:
        """Apply one message whose signature was verified; never raises on bad input."""
        try:
            return self._apply(msg, now)
        except FlexmarketError as exc:
            return Ack(False, exc.reason)

    def advance(self, now: int) -> None:
        """Move the exchange clock to ``now``: expired orders and closed gates are withdrawn.

        Time only moves forward; this is the only state change that is not a message's.
        """
        if now > self.clock:
            self.clock = now
            self._expire(now)
            self._close_gates(now)

    def book(self, slot: int, zone: str) -> BookView:
        """A snapshot of the live orders of (slot, zone), best first; empty if none."""
        z = self._zone_index.get(zone)
        if z is None or slot not in self._open_slot_set:
            return BookView((), ())
        bids, asks = (tuple(self._by_seq[q] for q in self._ladder.resting(slot, z, side))
                      for side in (0, 1))
        return BookView(bids, asks)

    def headroom(self, point: str, slot: int, direction: str) -> int | None:
        """Capacity (Wh) left for trades on ``point`` in ``direction``, or None if uncapped."""
        if slot not in self._open_slot_set or (point, direction) not in self._constraints:
            return None
        return self._ladder.headroom_of(slot, self._constraints.index((point, direction)))

    def fee(self, from_zone: str, to_zone: str, slot: int) -> int:
        """Congestion fee (µ€/kWh) on energy traded ``from_zone`` → ``to_zone`` in ``slot``."""
        memo = self._fees.setdefault(slot, {})
        fee = memo.get((from_zone, to_zone))
        if fee is None:
            fee = 0
            for name, change in self._flow[(from_zone, to_zone)]:
                direction = "import" if change > 0 else "export"
                # the point's price per kWh of its flow, times the kWh its flow moves per kWh
                fee += (self._prices.get((name, slot, direction), 0) * abs(change) + 500) // 1000
            memo[(from_zone, to_zone)] = fee
        return fee

    def available_credit(self, participant: str) -> int:
        """Escrow (µ€) not yet committed to open bids or spent on unsettled purchases."""
        return self._credit.get(participant, _Credit()).available()

    def exposure(self, participant: str) -> int:
        """µ€ of escrow tied up: open bid commitments plus purchases not yet settled."""
        credit = self._credit.get(participant)
        return 0 if credit is None else credit.escrow_ueur - credit.available()

    def open_order(self, sender: str, order_id: str) -> RestingOrder | None:
        order = self._orders.get((sender, order_id))
        return order if order is not None and order.remaining_wh > 0 else None

    # ---- dispatch ---------------------------------------------------------------------------
    def _apply(self, msg, now: int) -> Ack:
        sender = getattr(msg, "sender", None)
        if sender is None:
            raise Rejected(f"{type(msg).__name__} is not accepted by the exchange")
        if now < self.clock:
            raise Rejected(f"message time {now} is before the exchange clock {self.clock}")
        if sender not in self.directory.keys:
            raise Rejected(f"unknown participant {sender!r}")
        if msg.nonce <= self._nonces.get(sender, -1):
            raise Rejected(f"replayed nonce {msg.nonce} from {sender}")
        self.advance(now)
        if isinstance(msg, Order):
            self._check_order(msg, now)
            self._nonces[sender] = msg.nonce
            return Ack(True, trades=tuple(self._place(msg)))
        if isinstance(msg, Cancel):
            order = self._check_open(msg.sender, msg.order_id, now)
            self._nonces[sender] = msg.nonce
            self._cancel(order)
            return Ack(True)
        if isinstance(msg, Replace):
            order = self._check_open(msg.sender, msg.order_id, now)
            self._check_replace(order, msg)
            self._nonces[sender] = msg.nonce
            return Ack(True, trades=tuple(self._replace(order, msg)))
        if isinstance(msg, CongestionPrice):
            self._check_price(msg, now)
            self._nonces[sender] = msg.nonce
            self._post_price(msg)
            return Ack(True)
        if isinstance(msg, EscrowUpdate):
            self._check_escrow(msg)
            self._nonces[sender] = msg.nonce
            credit = self._credit.setdefault(msg.participant, _Credit())
            credit.escrow_ueur = msg.escrow_ueur
            credit.settled_through_slot = msg.settled_through_slot
            credit.spent_by_slot = {
                s: v for s, v in credit.spent_by_slot.items() if s > msg.settled_through_slot
            }
            return Ack(True)
        raise Rejected(f"{type(msg).__name__} is not accepted by the exchange")

    # ---- validation (no mutation) -----------------------------------------------------------
    def _gate(self, slot: int) -> int:
        return slot_start(slot) - self.config.gate_closure_s

    def _check_order(self, o: Order, now: int) -> None:
        role = self.directory.roles.get(o.sender)
        if role in (None, "dso", "operator", "supplier"):
            raise Rejected(f"role {role!r} may not place orders")
        if now >= self._gate(o.slot):
            raise Rejected(f"gate closed for slot {o.slot}")
        if slot_start(o.slot) > now + self.config.horizon_s:
            raise Rejected(f"slot {o.slot} is beyond the trading horizon")
        if o.zone != self.directory.zones.get(o.sender):
            raise Rejected(f"zone {o.zone!r} is not {o.sender}'s registered zone")
        if o.zone not in self._lv_zones:
            raise Rejected(f"unknown zone {o.zone!r}")
        if o.expires_at is not None and o.expires_at <= now:
            raise Rejected("order expires before it arrives")
        if (o.sender, o.order_id) in self._used_ids:
            raise Rejected(f"duplicate order id {o.order_id!r}")
        if o.side == "buy":
            need = value_ueur_ceil(o.quantity_wh, max(o.price, 0))
            have = self.available_credit(o.sender)
            if need > have:
                raise Rejected(f"insufficient escrow: bid needs {need} µ€, {have} µ€ available")

    def _check_open(self, sender: str, order_id: str, now: int) -> RestingOrder:
        order = self._orders.get((sender, order_id))
        if order is None or order.remaining_wh <= 0:
            raise Rejected(f"no open order {order_id!r}")
        if now >= self._gate(order.slot):
            raise Rejected(f"gate closed for slot {order.slot}")
        return order

    def _check_replace(self, order: RestingOrder, r: Replace) -> None:
        if order.side == "buy":
            extra = (value_ueur_ceil(r.quantity_wh, max(r.price, 0))
                     - _commitment(order, order.remaining_wh))
            have = self.available_credit(r.sender)
            if extra > have:
                raise Rejected(f"insufficient escrow: replace needs {extra} µ€ more, "
                               f"{have} µ€ available")

    def _check_price(self, p: CongestionPrice, now: int) -> None:
        if self.directory.roles.get(p.sender) != "dso":
            raise Rejected("only the DSO may post congestion prices")
        if p.point not in self._point_names:
            raise Rejected(f"unknown congestion point {p.point!r}")
        if now >= self._gate(p.slot):
            raise Rejected(f"gate closed for slot {p.slot}")
        if slot_start(p.slot) > now + self.config.horizon_s:
            raise Rejected(f"slot {p.slot} is beyond the trading horizon")
        if p.version < self._price_versions.get((p.point, p.slot, p.direction), -1):
            raise Rejected("congestion price version is older than the posted one")

    def _check_escrow(self, e: EscrowUpdate) -> None:
        if self.directory.roles.get(e.sender) != "operator":
            raise Rejected("only the settlement operator may state escrow")
        if e.participant not in self.directory.keys:
            raise Rejected(f"unknown participant {e.participant!r}")

    # ---- state changes ----------------------------------------------------------------------
    def _expire(self, now: int) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            _, _, key = heapq.heappop(self._expiries)
            order = self._orders.get(key)
            if order is not None and order.expires_at is not None and order.expires_at <= now:
                self._cancel(order)

    def _close_gates(self, now: int) -> None:
        """Expire every slot whose gate has closed: release the commitments of its orders."""
        while self._open_slots and now >= self._gate(self._open_slots[0]):
            slot = heapq.heappop(self._open_slots)
            self._open_slot_set.discard(slot)
            for key in list(self._orders_by_slot.pop(slot, ())):
                order = self._orders.get(key)
                if order is not None:
                    self._cancel(order)
            self._ladder.drop_slot(slot)
            self._fees.pop(slot, None)

    def _open_slot(self, slot: int) -> None:
        """Give the ladder the slot's supplier quotes, fees and capacities on first use."""
        if slot in self._open_slot_set:
            return
        self._open_slot_set.add(slot)
        heapq.heappush(self._open_slots, slot)
        self._ladder.open_slot(slot, self._supplier_price(True, slot),
                               self._supplier_price(False, slot))

    def _post_price(self, p: CongestionPrice) -> None:
        key = (p.point, p.slot, p.direction)
        self._prices[key] = p.price
        self._price_versions[key] = p.version
        self._fees.pop(p.slot, None)
        self._open_slot(p.slot)
        for i, zi in enumerate(self._zones):
            for j, zj in enumerate(self._zones):
                if self._flow[(zi, zj)]:
                    self._ladder.set_fee(p.slot, i, j, self.fee(zi, zj, p.slot))
        c = self._constraints.index((p.point, p.direction))
        self._ladder.set_headroom(p.slot, c, -1 if p.capacity_wh is None else p.capacity_wh)

    def _cancel(self, order: RestingOrder) -> None:
        self._ladder.cancel(order.seq)
        self._release(order)

    def _release(self, order: RestingOrder) -> None:
        """Bookkeeping of an order the ladder no longer holds: its commitment and records."""
        if order.side == "buy":
            self._credit[order.key[0]].committed_ueur -= _commitment(order, order.remaining_wh)
        order.remaining_wh = 0
        self._forget(order)

    def _forget(self, order: RestingOrder) -> None:
        if self._orders.pop(order.key, None) is not None:
            self._by_seq.pop(order.seq, None)
            keys = self._orders_by_slot.get(order.slot)
            if keys is not None:
                keys.discard(order.key)

    def _rest(self, order: RestingOrder) -> None:
        self._by_seq[order.seq] = order
        self._orders[order.key] = order
        self._orders_by_slot.setdefault(order.slot, set()).add(order.key)
        if order.expires_at is not None:
            heapq.heappush(self._expiries, (order.expires_at, order.seq, order.key))

    def _owner(self, sender: str) -> int:
        owner = self._owner_ids.get(sender)
        if owner is None:
            owner = self._owner_ids[sender] = len(self._owner_ids)
        return owner

    def _place(self, o: Order) -> list[Trade]:
        key = (o.sender, o.order_id)
        self._used_ids.add(key)
        self._seq += 1
        order = RestingOrder(key, o.side, o.slot, o.zone, o.price, o.quantity_wh, self._seq,
                             o.expires_at)
        self._open_slot(o.slot)
        if o.tif == "fok" and self._ladder.fillable(
                self._owner(o.sender), 0 if o.side == "buy" else 1, o.slot,
                self._zone_index[o.zone], o.price, o.quantity_wh) < o.quantity_wh:
            return []  # fill-or-kill that cannot fill entirely: nothing happens but the nonce
        if o.side == "buy":
            self._credit.setdefault(o.sender, _Credit()).committed_ueur += _commitment(
                order, o.quantity_wh)
        trades = self._match(order, rest=o.tif == "gtc")
        if order.remaining_wh > 0 and o.tif != "gtc" and order.side == "buy":
            # IOC rest is cancelled: release its commitment
            self._credit[o.sender].committed_ueur -= _commitment(order, order.remaining_wh)
        return trades

    def _replace(self, order: RestingOrder, r: Replace) -> list[Trade]:
        keeps_priority = r.price == order.price and r.quantity_wh <= order.remaining_wh
        sender = order.key[0]
        if order.side == "buy":
            credit = self._credit[sender]
            credit.committed_ueur -= _commitment(order, order.remaining_wh)
        if keeps_priority:
            order.remaining_wh = r.quantity_wh
            self._ladder.reduce(order.seq, r.quantity_wh)
            if order.side == "buy":
                credit.committed_ueur += _commitment(order, order.remaining_wh)
            return []
        self._ladder.cancel(order.seq)  # the old queue entry dies; a new one takes its place
        order.remaining_wh = 0
        self._forget(order)
        self._seq += 1
        new = RestingOrder(order.key, order.side, order.slot, order.zone, r.price,
                           r.quantity_wh, self._seq, order.expires_at)
        if new.side == "buy":
            credit.committed_ueur += _commitment(new, new.remaining_wh)
        return self._match(new, rest=True)

    # ---- matching ---------------------------------------------------------------------------
    def _supplier_price(self, buying: bool, slot: int) -> int:
        """The supplier's standing quote met by an incoming buy (retail) or sell (feed-in)."""
        tariff = self.config.tariff
        return tariff.retail(slot) if buying else tariff.feed_in_price(slot)

    def _match(self, incoming: RestingOrder, rest: bool) -> list[Trade]:
        """Match ``incoming`` in the ladder, book its trades, and rest what is left if ``rest``."""
        buying = incoming.side == "buy"
        ladder = self._ladder
        ladder.place(self._owner(incoming.key[0]), 0 if buying else 1, incoming.slot,
                     self._zone_index[incoming.zone], incoming.price, incoming.remaining_wh,
                     incoming.seq, rest)
        for seq in ladder.self_cancelled:
            self._release(self._by_seq[seq])  # self-trade prevention
        trades: list[Trade] = []
        for seq, z, price, fee, qty, _left in ladder.fills:
            resting = self._by_seq[seq] if seq >= 0 else None
            counterparty = resting.key if resting is not None else (self.config.supplier, "")
            zone = self._zones[z]
            seller_zone, buyer_zone = (zone, incoming.zone) if buying else (incoming.zone, zone)
            buyer, seller = (incoming.key, counterparty) if buying else (counterparty, incoming.key)
            trade = Trade(
                seq=self._trade_seq, slot=incoming.slot, buyer=buyer[0], seller=seller[0],
                buy_order_id=buyer[1], sell_order_id=seller[1], buyer_zone=buyer_zone,
                seller_zone=seller_zone, quantity_wh=qty, price=price, fee=fee,
                aggressor=incoming.side,
            )
            self._trade_seq += 1
            self._fill(incoming, qty, trade)
            if resting is not None:
                self._fill(resting, qty, trade)
            trades.append(trade)
            self.trades.append(trade)
        if ladder.rested:
            self._rest(incoming)
        return trades

    def _fill(self, order: RestingOrder, qty: int, trade: Trade) -> None:
        sender = order.key[0]
        if order.side == "buy":
            credit = self._credit.setdefault(sender, _Credit())
            credit.committed_ueur -= (_commitment(order, order.remaining_wh)
                                      - _commitment(order, order.remaining_wh - qty))
            paid = value_ueur(qty, trade.price) + value_ueur(qty, trade.fee)
            credit.spent_by_slot[trade.slot] = credit.spent_by_slot.get(trade.slot, 0) + paid
        order.remaining_wh -= qty
        if order.remaining_wh <= 0:
            self._forget(order)
