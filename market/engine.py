"""The continuous double auction: a pure, deterministic state machine over signed messages.

``Exchange.submit(envelope, now)`` verifies, validates and applies one message at virtual or wall
time ``now`` (unix s) and returns an :class:`Ack`. A rejected message changes nothing. The same
sequence of (now, envelope) pairs always yields the same trades: that sequence is the journal.

Matching: one book per (slot, zone). An incoming order meets the best *effective* quote over all
zones: for a buy at zone j, ask(i) + fee(i→j); for a sell at zone i, bid(j) − fee(i→j). The
supplier stands in the upstream zone with infinite depth at the retail price (ask) and the feed-in
price (bid), behind any order at the same effective price. Trades happen at the resting order's
limit: the seller receives ``price``, the buyer pays ``price + fee``; the fee goes to the DSO.
A trade that would exceed a posted capacity is cut to the remaining headroom.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from market.book import Book, RestingOrder
from market.config import MarketConfig
from protocol.errors import FlexmarketError, Rejected
from protocol.messages import Cancel, CongestionPrice, EscrowUpdate, Order, Trade
from protocol.signing import KeyDirectory, Signed
from protocol.units import slot_start, value_ueur, value_ueur_ceil

SUPPLIER_SEQ = 1 << 62  # the supplier's quotes rank behind every order at the same price
UNLIMITED = 1 << 62


@dataclass(frozen=True)
class Ack:
    """Outcome of one submitted message: accepted with its trades, or rejected with a reason."""

    accepted: bool
    reason: str = ""
    trades: tuple[Trade, ...] = ()


@dataclass
class _Quote:
    """A candidate counterparty during matching: a resting order or the supplier."""

    effective: int
    seq: int
    price: int
    fee: int
    zone: str
    order: RestingOrder | None  # None = the supplier
    cap_wh: int


@dataclass
class _Credit:
    escrow_ueur: int = 0
    settled_through_slot: int = -1
    committed_ueur: int = 0
    spent_by_slot: dict[int, int] = field(default_factory=dict)

    def available(self) -> int:
        unsettled = sum(v for s, v in self.spent_by_slot.items() if s > self.settled_through_slot)
        return self.escrow_ueur - self.committed_ueur - unsettled


class Exchange:
    """Books, nonces, congestion prices, capacities and escrow cover of one exchange."""

    def __init__(self, config: MarketConfig, directory: KeyDirectory) -> None:
        self.config = config
        self.directory = directory
        self._zones = config.topology.all_zones()
        self._books: dict[tuple[int, str], Book] = {}
        self._orders: dict[tuple[str, str], RestingOrder] = {}
        self._used_ids: set[tuple[str, str]] = set()
        self._nonces: dict[str, int] = {}
        self._prices: dict[tuple[str, int, str], int] = {}
        self._price_versions: dict[tuple[str, int, str], int] = {}
        self._headroom: dict[tuple[str, int, str], int] = {}
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
        try:
            return self._submit(envelope, now)
        except FlexmarketError as exc:
            return Ack(False, exc.reason)

    def advance(self, now: int) -> None:
        """Move the exchange clock to ``now``: every slot whose gate has closed is expired.

        Time only moves forward; this is the only state change that is not a message's.
        """
        if now > self.clock:
            self.clock = now
            self._close_gates(now)

    def book(self, slot: int, zone: str) -> Book:
        """The book of (slot, zone), empty if none."""
        return self._books.get((slot, zone)) or Book()

    def fee(self, from_zone: str, to_zone: str, slot: int) -> int:
        """Congestion fee (µ€/kWh) on energy traded ``from_zone`` → ``to_zone`` in ``slot``."""
        total = 0
        for point in self.config.topology.points:
            change = point.flow_change_permille(from_zone, to_zone)
            if change:
                direction = "import" if change > 0 else "export"
                total += self._prices.get((point.name, slot, direction), 0)
        return total

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
    def _submit(self, envelope: Signed, now: int) -> Ack:
        msg = envelope.message
        sender = getattr(msg, "sender", None)
        if sender is None:
            raise Rejected(f"{type(msg).__name__} is not accepted by the exchange")
        if now < self.clock:
            raise Rejected(f"message time {now} is before the exchange clock {self.clock}")
        self.directory.verify(envelope, sender)
        if msg.nonce <= self._nonces.get(sender, -1):
            raise Rejected(f"replayed nonce {msg.nonce} from {sender}")
        self.advance(now)
        if isinstance(msg, Order):
            self._check_order(msg, now)
            self._nonces[sender] = msg.nonce
            return Ack(True, trades=tuple(self._place(msg)))
        if isinstance(msg, Cancel):
            order = self._check_cancel(msg, now)
            self._nonces[sender] = msg.nonce
            self._cancel(order)
            return Ack(True)
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
        if o.zone not in self.config.topology.zones:
            raise Rejected(f"unknown zone {o.zone!r}")
        if (o.sender, o.order_id) in self._used_ids:
            raise Rejected(f"duplicate order id {o.order_id!r}")
        if o.side == "buy":
            need = value_ueur_ceil(o.quantity_wh, max(o.price, 0))
            have = self.available_credit(o.sender)
            if need > have:
                raise Rejected(f"insufficient escrow: bid needs {need} µ€, {have} µ€ available")

    def _check_cancel(self, c: Cancel, now: int) -> RestingOrder:
        order = self._orders.get((c.sender, c.order_id))
        if order is None or order.remaining_wh <= 0:
            raise Rejected(f"no open order {c.order_id!r}")
        if now >= self._gate(order.slot):
            raise Rejected(f"gate closed for slot {order.slot}")
        return order

    def _check_price(self, p: CongestionPrice, now: int) -> None:
        if self.directory.roles.get(p.sender) != "dso":
            raise Rejected("only the DSO may post congestion prices")
        if p.point not in {cp.name for cp in self.config.topology.points}:
            raise Rejected(f"unknown congestion point {p.point!r}")
        if now >= self._gate(p.slot):
            raise Rejected(f"gate closed for slot {p.slot}")
        if p.version < self._price_versions.get((p.point, p.slot, p.direction), -1):
            raise Rejected("congestion price version is older than the posted one")

    def _check_escrow(self, e: EscrowUpdate) -> None:
        if self.directory.roles.get(e.sender) != "operator":
            raise Rejected("only the settlement operator may state escrow")
        if e.participant not in self.directory.keys:
            raise Rejected(f"unknown participant {e.participant!r}")

    # ---- state changes ----------------------------------------------------------------------
    def _close_gates(self, now: int) -> None:
        """Expire every slot whose gate has closed: release the commitments of its orders."""
        while self._open_slots and now >= self._gate(self._open_slots[0]):
            slot = heapq.heappop(self._open_slots)
            self._open_slot_set.discard(slot)
            for zone in self._zones:
                self._books.pop((slot, zone), None)
            for key in [k for k, o in self._orders.items() if o.slot == slot]:
                self._cancel(self._orders[key])

    def _post_price(self, p: CongestionPrice) -> None:
        key = (p.point, p.slot, p.direction)
        self._prices[key] = p.price
        self._price_versions[key] = p.version
        if p.capacity_wh is None:
            self._headroom.pop(key, None)
        else:
            self._headroom[key] = p.capacity_wh

    def _cancel(self, order: RestingOrder) -> None:
        sender = order.key[0]
        if order.side == "buy":
            self._credit[sender].committed_ueur -= value_ueur_ceil(
                order.remaining_wh, max(order.price, 0)
            )
        order.remaining_wh = 0
        self._orders.pop(order.key, None)

    def _place(self, o: Order) -> list[Trade]:
        key = (o.sender, o.order_id)
        self._used_ids.add(key)
        self._seq += 1
        order = RestingOrder(key, o.side, o.slot, o.zone, o.price, o.quantity_wh, self._seq)
        if o.side == "buy":
            self._credit.setdefault(o.sender, _Credit()).committed_ueur += value_ueur_ceil(
                o.quantity_wh, max(o.price, 0)
            )
        trades = self._match(order)
        if order.remaining_wh > 0:
            self._orders[key] = order
            self._books.setdefault((o.slot, o.zone), Book()).add(order)
            if o.slot not in self._open_slot_set:
                self._open_slot_set.add(o.slot)
                heapq.heappush(self._open_slots, o.slot)
        return trades

    def _capacity(self, from_zone: str, to_zone: str, slot: int) -> int:
        """Largest energy (Wh) tradable i → j before some posted capacity is exhausted."""
        cap = UNLIMITED
        for point in self.config.topology.points:
            change = point.flow_change_permille(from_zone, to_zone)
            if not change:
                continue
            direction = "import" if change > 0 else "export"
            headroom = self._headroom.get((point.name, slot, direction))
            if headroom is not None:
                cap = min(cap, headroom * 1000 // abs(change))
        return cap

    def _use_capacity(self, from_zone: str, to_zone: str, slot: int, wh: int) -> None:
        for point in self.config.topology.points:
            change = point.flow_change_permille(from_zone, to_zone)
            if not change:
                continue
            key = (point.name, slot, "import" if change > 0 else "export")
            if key in self._headroom:
                self._headroom[key] -= -(-wh * abs(change) // 1000)
                self._headroom[key] = max(self._headroom[key], 0)

    def _best_quote(self, incoming: RestingOrder) -> _Quote | None:
        """The best effective counterparty quote over all zones, or None."""
        buying = incoming.side == "buy"
        opposite = "sell" if buying else "buy"
        best: _Quote | None = None
        for zone in self._zones:
            seller_zone, buyer_zone = (zone, incoming.zone) if buying else (incoming.zone, zone)
            cap = self._capacity(seller_zone, buyer_zone, incoming.slot)
            if cap <= 0:
                continue
            fee = self.fee(seller_zone, buyer_zone, incoming.slot)
            book = self._books.get((incoming.slot, zone))
            top = book.best(opposite) if book is not None else None
            while top is not None and top.key[0] == incoming.key[0]:
                self._cancel(top)  # self-trade prevention: the resting order is cancelled
                top = book.best(opposite)
            candidates = []
            if top is not None:
                candidates.append((top.price, top.seq, top))
            if zone == self.config.topology.upstream:
                tariff = self.config.tariff
                price = tariff.retail(incoming.slot) if buying else tariff.feed_in_price(
                    incoming.slot
                )
                candidates.append((price, SUPPLIER_SEQ, None))
            for price, seq, order in candidates:
                effective = price + fee if buying else price - fee
                quote = _Quote(effective, seq, price, fee, zone, order, cap)
                if best is None or _better(quote, best, buying):
                    best = quote
        return best

    def _match(self, incoming: RestingOrder) -> list[Trade]:
        trades: list[Trade] = []
        buying = incoming.side == "buy"
        while incoming.remaining_wh > 0:
            q = self._best_quote(incoming)
            if q is None:
                break
            if buying and incoming.price < q.effective:
                break
            if not buying and incoming.price > q.effective:
                break
            resting_left = q.order.remaining_wh if q.order is not None else UNLIMITED
            qty = min(incoming.remaining_wh, resting_left, q.cap_wh)
            counterparty = q.order.key if q.order is not None else (self.config.supplier, "")
            seller_zone, buyer_zone = (q.zone, incoming.zone) if buying else (incoming.zone, q.zone)
            # The resting side trades at its limit; for a resting bid the seller gets bid − fee.
            price = q.price if buying else q.price - q.fee
            buyer, seller = (incoming.key, counterparty) if buying else (counterparty, incoming.key)
            trade = Trade(
                seq=self._trade_seq,
                slot=incoming.slot,
                buyer=buyer[0],
                seller=seller[0],
                buy_order_id=buyer[1],
                sell_order_id=seller[1],
                buyer_zone=buyer_zone,
                seller_zone=seller_zone,
                quantity_wh=qty,
                price=price,
                fee=q.fee,
                aggressor=incoming.side,
            )
            self._trade_seq += 1
            self._fill(incoming, qty, trade)
            if q.order is not None:
                self._fill(q.order, qty, trade)
            self._use_capacity(seller_zone, buyer_zone, incoming.slot, qty)
            trades.append(trade)
            self.trades.append(trade)
        return trades

    def _fill(self, order: RestingOrder, qty: int, trade: Trade) -> None:
        sender = order.key[0]
        if order.side == "buy":
            credit = self._credit.setdefault(sender, _Credit())
            before = value_ueur_ceil(order.remaining_wh, max(order.price, 0))
            after = value_ueur_ceil(order.remaining_wh - qty, max(order.price, 0))
            credit.committed_ueur -= before - after
            paid = value_ueur(qty, trade.price) + value_ueur(qty, trade.fee)
            credit.spent_by_slot[trade.slot] = credit.spent_by_slot.get(trade.slot, 0) + paid
        order.remaining_wh -= qty
        if order.remaining_wh <= 0:
            self._orders.pop(order.key, None)


def _better(a: _Quote, b: _Quote, buying: bool) -> bool:
    """Is quote ``a`` preferred to ``b`` by an incoming buy (lower) or sell (higher)?"""
    if a.effective != b.effective:
        return a.effective < b.effective if buying else a.effective > b.effective
    return a.seq < b.seq
