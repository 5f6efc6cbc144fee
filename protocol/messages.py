"""Message models shared by all services (one pydantic model per message).

All fields are integers, strings or booleans, so the canonical encoding is exact. Energy is Wh,
money µ€, prices µ€/kWh, time unix seconds (UTC) or slots. A message that a participant sends
carries ``sender`` and a strictly increasing ``nonce``; it travels inside :class:`Signed`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from protocol.units import MAX_ABS_PRICE, MAX_CAPACITY_WH, MAX_ORDER_WH

ParticipantId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Price = Annotated[int, Field(ge=-MAX_ABS_PRICE, le=MAX_ABS_PRICE)]
Slot = Annotated[int, Field(ge=0)]
Nonce = Annotated[int, Field(ge=0)]
WhPositive = Annotated[int, Field(gt=0, le=MAX_ORDER_WH)]
WhNonNegative = Annotated[int, Field(ge=0)]


class Message(BaseModel):
    """Base: frozen, strict, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Order(Message):
    """A limit order for one delivery slot in one zone.

    ``price`` is the limit in µ€/kWh: the most a buyer pays including congestion fees, the least a
    seller receives after them. ``quantity_wh`` is the energy to buy or sell in the slot.
    ``tif``: good till cancelled (rests until filled, cancelled, expired or the gate closes),
    immediate-or-cancel (the rest is cancelled), fill-or-kill (all at once or nothing).
    ``expires_at`` (unix s) withdraws a resting order earlier than the gate.
    """

    type: Literal["order"] = "order"
    sender: ParticipantId
    nonce: Nonce
    order_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    slot: Slot
    zone: ParticipantId
    side: Literal["buy", "sell"]
    quantity_wh: WhPositive
    price: Price
    tif: Literal["gtc", "ioc", "fok"] = "gtc"
    expires_at: Annotated[int, Field(ge=0)] | None = None


class Replace(Message):
    """Changes a resting order's remaining quantity and/or price.

    The order keeps its time priority only if the price is unchanged and the quantity does not
    grow; otherwise it goes to the back of the queue at its (new) price.
    """

    type: Literal["replace"] = "replace"
    sender: ParticipantId
    nonce: Nonce
    order_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    quantity_wh: WhPositive
    price: Price


class Cancel(Message):
    """Withdraws the rest of one of the sender's resting orders."""

    type: Literal["cancel"] = "cancel"
    sender: ParticipantId
    nonce: Nonce
    order_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class CongestionPrice(Message):
    """The DSO's price (µ€/kWh) on flows that load ``point`` in ``direction`` during ``slot``.

    ``direction`` is the congested direction of the point's reference flow ("import" = from the
    upstream grid into the LV grid). ``capacity_wh`` optionally caps the energy that market trades
    may add in that direction in the slot. ``version`` grows with each re-posting.
    """

    type: Literal["congestion_price"] = "congestion_price"
    sender: ParticipantId
    nonce: Nonce
    point: ParticipantId
    slot: Slot
    direction: Literal["import", "export"]
    price: Annotated[int, Field(ge=0, le=MAX_ABS_PRICE)]
    capacity_wh: Annotated[int, Field(ge=0, le=MAX_CAPACITY_WH)] | None = None
    version: Annotated[int, Field(ge=0)] = 0


class EscrowUpdate(Message):
    """The operator's statement of a participant's escrow (µ€) after settling up to a slot.

    The exchange covers bids with it: the sum of open bid commitments and unsettled purchases may
    not exceed ``escrow_ueur``. Purchases in slots ≤ ``settled_through_slot`` are already in it.
    """

    type: Literal["escrow_update"] = "escrow_update"
    sender: ParticipantId
    nonce: Nonce
    participant: ParticipantId
    escrow_ueur: Annotated[int, Field(ge=0)]
    settled_through_slot: int


class Trade(Message):
    """One match. The seller receives ``price``, the buyer pays ``price + fee`` (µ€/kWh).

    ``fee`` is the congestion fee for the flow from the seller's to the buyer's zone; it goes to
    the DSO. The resting order trades at its limit, so the fee falls on the ``aggressor`` (the
    side of the incoming order). ``seq`` is the exchange's trade sequence number (the tape order).
    """

    type: Literal["trade"] = "trade"
    seq: Annotated[int, Field(ge=0)]
    slot: Slot
    buyer: ParticipantId
    seller: ParticipantId
    buy_order_id: str
    sell_order_id: str
    buyer_zone: ParticipantId
    seller_zone: ParticipantId
    quantity_wh: WhPositive
    price: Price
    fee: Annotated[int, Field(ge=0, le=2 * MAX_ABS_PRICE)]
    aggressor: Literal["buy", "sell"]


class Reading(Message):
    """One meter's energy in one slot, from its cumulative registers.

    ``import_register_wh``/``export_register_wh`` are the register values at the slot's end.
    ``prev_hash`` is the hash of the meter's previous signed reading (all zeros for the first).
    """

    type: Literal["reading"] = "reading"
    meter_id: ParticipantId
    slot: Slot
    import_wh: WhNonNegative
    export_wh: WhNonNegative
    import_register_wh: WhNonNegative
    export_register_wh: WhNonNegative
    estimated: bool = False
    prev_hash: Hex32


class SettlementEntry(Message):
    """Net money change of one participant in a settlement period (µ€, + = receives)."""

    participant: ParticipantId
    delta_ueur: int


class SettlementBatch(Message):
    """Everything one settlement period puts on chain.

    ``entries`` sum to ``-fees_ueur`` (fees leave the participants and go to the DSO).
    ``imbalance_ueur`` is the total money of deviations settled with the supplier.
    Roots are keccak-256 Merkle roots (hex) of the period's trades and accepted readings;
    ``journal_hash`` is the market journal's chained hash at the end of the period.
    ``held`` lists ``participant@slot`` pairs settled without a valid reading.
    """

    type: Literal["settlement_batch"] = "settlement_batch"
    period: Annotated[int, Field(ge=0)]
    first_slot: Slot
    last_slot: Slot
    entries: tuple[SettlementEntry, ...]
    fees_ueur: Annotated[int, Field(ge=0)]
    imbalance_ueur: Annotated[int, Field(ge=0)] = 0
    trades_root: Hex32
    readings_root: Hex32
    journal_hash: Hex32
    held: tuple[str, ...] = ()


#: Messages a participant signs and sends.
SentMessage = Annotated[
    Order | Cancel | Replace | CongestionPrice | EscrowUpdate | Reading,
    Field(discriminator="type"),
]
