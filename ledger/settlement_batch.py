"""Net positions of a settlement period from trades and verified meter readings (pure).

Per participant and slot: contracted net import ``c`` = bought − sold (from trades); metered net
import ``n`` = import − export (from accepted signed readings). The deviation ``d = n − c`` settles
with the supplier under the home's supply contract:

* ``d > 0`` (took more than contracted): the part that makes up a sale not delivered,
  ``min(d, max(−c, 0))``, is bought back at the imbalance-short price (retail + premium); the
  rest is ordinary supply at retail.
* ``d < 0`` (took less): the part that undoes a purchase not taken, ``min(−d, max(c, 0))``, is
  sold back at the imbalance-long price (feed-in − discount); the rest is ordinary feed-in.
* Community pool: in each slot different homes' deviations (extra imports and extra exports)
  first meet each other — they do inside the LV grid — at the slot's local price
  (``pool_price``: the exchange's published one, at which the slot's trades were quoted; by
  default the mid price between retail and feed-in; or ``pool_price_realised``, by the
  direction the slot really had, so that a battery answering the street's imbalance is paid
  what it was worth there: ``node.balancing``). The parts
  that reverse a contract come first, pro rata, then the ordinary parts, pro rata: a sale one
  home did not deliver is what a neighbour's surplus covered, and only what the street's own
  deviations cannot cover reaches the supplier at its imbalance price. A sale not delivered is
  bought back from the pool at no less than it was sold for, a purchase not taken sold back at
  no more than it cost: nobody gains from a contract it did not keep. Only the unmatched rest is
  supplied or bought by the supplier and crosses the transformer. Agents leave what no neighbour
  took at the gate to this (``node.bidder``), so the supplier sees only the street's net.

Energy topped up from or fed back to the supplier crosses the transformer, so it pays the DSO's
congestion fee for that direction exactly like a trade would. Fees go to the DSO. A home with no
accepted reading for a slot is held: its sale counts as undelivered (export 0) and its purchase
as taken, and the ``participant@slot`` pair is listed in the batch.

Energy-transfer correction (USEF): where the DSO activated a home's flexibility in operation
(deferred its EV, curtailed its PV), ``corrections`` gives the change it made to the home's
metered net per slot. The home settles on its metered net less the correction — as if it had not
been activated: its contracts, imbalance and capacity charge are untouched — and the DSO owes the
supplier, whose perimeter absorbed the change, the corrected energy at the transfer price: an
entry of the batch from the DSO's escrow to the supplier's (``SettlementResult.correction_ueur``
per home, + = the DSO pays; negative where it moved energy out of the supplier's bill). Metered
energy is reported as metered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ledger.merkle import root_of_envelopes, root_of_models
from protocol.messages import Reading, SettlementBatch, SettlementEntry, Trade
from protocol.signing import Signed
from protocol.tariff import Tariff
from protocol.units import SLOTS_PER_DAY, value_ueur


@dataclass
class HomeStatement:
    """One participant's period, for bills and wallets (Wh, µ€; + = received)."""

    bought_wh: int = 0
    sold_wh: int = 0
    bought_local_wh: int = 0
    sold_local_wh: int = 0
    trade_ueur: int = 0
    fees_ueur: int = 0
    imbalance_wh: int = 0
    imbalance_ueur: int = 0
    congestion_borne_ueur: int = 0  # congestion fees this participant bore (incl. via trade price)
    capacity_ueur: int = 0  # capacity charge on its daily import peaks
    pooled_wh: int = 0  # untraded energy settled with neighbours through the community pool
    supplied_wh: int = 0  # deviation energy the supplier supplied (after the pool)
    fed_back_wh: int = 0  # deviation energy fed back to the supplier (after the pool)
    metered_import_wh: int = 0
    metered_export_wh: int = 0
    corrected_wh: int = 0  # Σ |energy-transfer correction| (DSO activation) in its settlement
    correction_ueur: int = 0  # DSO ↔ supplier payment for corrected energy (+ = received)

    @property
    def net_ueur(self) -> int:
        return self.trade_ueur - self.fees_ueur + self.imbalance_ueur + self.correction_ueur


@dataclass
class SettlementResult:
    batch: SettlementBatch
    statements: dict[str, HomeStatement]
    trade_seqs: list[int]
    held: list[tuple[str, int]] = field(default_factory=list)
    correction_ueur: dict[str, int] = field(default_factory=dict)  # DSO → supplier, per home


def _pool_shares(reversing: np.ndarray, ordinary: np.ndarray, matched: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One side's shares (Wh, participants × slots) of the ``matched`` pool energy per slot:
    the parts that reverse a contract first, pro rata, then the ordinary parts, pro rata."""
    rev_total, ord_total = reversing.sum(axis=0), ordinary.sum(axis=0)
    to_rev = np.minimum(matched, rev_total)
    return (reversing * to_rev // np.maximum(rev_total, 1),
            ordinary * (matched - to_rev) // np.maximum(ord_total, 1))


def build_batch(
    period: int,
    first_slot: int,
    last_slot: int,
    trades: list[Trade],
    readings: list[Signed[Reading]],
    metered_participants: list[str],
    tariff: Tariff,
    supplier: str,
    journal_hash: str,
    supply_fee: Callable[[str, int, str], int] = lambda participant, slot, direction: 0,
    corrections: Mapping[str, np.ndarray] | None = None,
    transfer_price: Callable[[int], int] | None = None,
    dso: str | None = None,
    pool_price: Callable[[int], int] | None = None,
    pool_price_realised: Callable[[int, int], int] | None = None,
) -> SettlementResult:
    """The settlement batch of slots ``first_slot..last_slot`` (inclusive).

    ``supply_fee(participant, slot, direction)`` is the congestion fee (µ€/kWh) on energy between
    the supplier and the participant ("import" = supplied to it, "export" = fed back).
    ``corrections``: per home, the DSO activation's change to its metered net (Wh per slot of the
    period); ``transfer_price(slot)`` (µ€/kWh, default the feed-in price, the supplier's
    wholesale proxy) values it, paid by ``dso`` (required with corrections).
    ``pool_price(slot)``: the community pool's price (µ€/kWh; default the mid price). See the
    module docstring. ``pool_price_realised(slot, short_wh)``, if given, prices the pool
    instead by what the slot turned out to be: ``short_wh`` is the street's extra imports less
    its extra exports (Wh, > 0: the street was short and imported the rest).
    """
    if corrections and dso is None:
        raise ValueError("energy-transfer corrections need the DSO who pays for them")
    period_trades = [t for t in trades if first_slot <= t.slot <= last_slot]
    period_readings = sorted(
        (r for r in readings if first_slot <= r.message.slot <= last_slot),
        key=lambda r: (r.message.meter_id, r.message.slot),
    )
    st: dict[str, HomeStatement] = defaultdict(HomeStatement)
    # (participant, slot) → [bought Wh, sold Wh, Σ Wh × µ€/kWh paid (incl. fee), … received]
    contracted: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    fees = 0
    for t in period_trades:
        seller_gets = value_ueur(t.quantity_wh, t.price)
        fee = value_ueur(t.quantity_wh, t.fee)
        local = t.buyer != supplier and t.seller != supplier
        b, s = st[t.buyer], st[t.seller]
        b.bought_wh += t.quantity_wh
        b.trade_ueur -= seller_gets
        b.fees_ueur += fee
        s.sold_wh += t.quantity_wh
        s.trade_ueur += seller_gets
        if local:
            b.bought_local_wh += t.quantity_wh
            s.sold_local_wh += t.quantity_wh
        fees += fee
        (b if t.aggressor == "buy" else s).congestion_borne_ueur += fee
        bought_c, sold_c = contracted[(t.buyer, t.slot)], contracted[(t.seller, t.slot)]
        bought_c[0] += t.quantity_wh
        bought_c[2] += t.quantity_wh * (t.price + t.fee)
        sold_c[1] += t.quantity_wh
        sold_c[3] += t.quantity_wh * t.price

    # Deviations of every metered participant in every slot, as integer arrays (exact: Wh × µ€/kWh
    # stays far below 2^63, and numpy's // floors like value_ueur).
    index = {p: i for i, p in enumerate(metered_participants)}
    n_slots = last_slot - first_slot + 1
    shape = (len(metered_participants), n_slots)
    bought, sold = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    imp, exp = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    has_reading = np.zeros(shape, bool)
    buy_price, sale_price = np.zeros(shape, np.int64), np.zeros(shape, np.int64)  # µ€/kWh
    for (p, slot), (b, s_, bv, sv) in contracted.items():
        if p in index:
            i, j = index[p], slot - first_slot
            bought[i, j], sold[i, j] = b, s_
            buy_price[i, j] = bv // b if b else 0
            sale_price[i, j] = -(-sv // s_) if s_ else 0  # rounded up: never below it
    for r in period_readings:
        m = r.message
        if m.meter_id in index:
            i, j = index[m.meter_id], m.slot - first_slot
            imp[i, j], exp[i, j], has_reading[i, j] = m.import_wh, m.export_wh, True
    held = [(metered_participants[i], first_slot + j) for i, j in zip(*np.nonzero(~has_reading),
                                                                     strict=True)]
    imp = np.where(has_reading, imp, bought)  # held: the purchase taken, the sale undelivered
    exp = np.where(has_reading, exp, 0)
    metered_imp, metered_exp = imp, exp
    correction = np.zeros(shape, np.int64)
    for p, corr in (corrections or {}).items():
        if p in index:
            correction[index[p]] = np.asarray(corr, np.int64)[:n_slots]
    correction = np.where(has_reading, correction, 0)  # a held slot settles without readings
    if correction.any():  # settle on the net as it would have been without the activation
        baseline = imp - exp - correction
        imp, exp = np.maximum(baseline, 0), np.maximum(-baseline, 0)

    slots = range(first_slot, last_slot + 1)
    short = np.array([tariff.imbalance_short(t) for t in slots], np.int64)
    retail = np.array([tariff.retail(t) for t in slots], np.int64)
    long_ = np.array([tariff.imbalance_long(t) for t in slots], np.int64)
    feed_in = np.array([tariff.feed_in_price(t) for t in slots], np.int64)
    fee_in = np.array([[supply_fee(p, t, "import") for t in slots] for p in metered_participants],
                      np.int64).reshape(shape)
    fee_out = np.array([[supply_fee(p, t, "export") for t in slots] for p in metered_participants],
                       np.int64).reshape(shape)

    net = bought - sold
    dev = (imp - exp) - net
    up, down = np.maximum(dev, 0), np.maximum(-dev, 0)
    rev_up = np.minimum(up, np.maximum(-net, 0))  # a sale not delivered, bought back
    rev_down = np.minimum(down, np.maximum(net, 0))  # a purchase not taken, sold back
    # Community pool: in each slot the extra imports and extra exports of different homes
    # meet inside the LV grid — a sale one home did not deliver is what another's surplus
    # covered; the matched part settles between them at the local price (contracts not kept
    # first, then the ordinary parts, each pro rata) and never crosses the transformer. Only
    # the rest is the supplier's: at its imbalance prices where it reverses a contract, at the
    # contract's prices otherwise.
    ord_up, ord_down = up - rev_up, down - rev_down
    total_up, total_down = up.sum(axis=0), down.sum(axis=0)
    matched = np.minimum(total_up, total_down)
    pool_rev_up, pool_ord_up = _pool_shares(rev_up, ord_up, matched)
    pool_rev_down, pool_ord_down = _pool_shares(rev_down, ord_down, matched)
    pool_up, pool_down = pool_rev_up + pool_ord_up, pool_rev_down + pool_ord_down
    if pool_price_realised is not None:
        mid = np.array([pool_price_realised(t, int(u - d))
                        for t, u, d in zip(slots, total_up, total_down, strict=True)], np.int64)
    elif pool_price is not None:
        mid = np.array([pool_price(t) for t in slots], np.int64)
    else:
        mid = (retail + feed_in) // 2
    # … but a sale not delivered is bought back from the pool at no less than it was sold for,
    # a purchase not taken sold back at no more than it cost: nobody gains from a contract
    # it did not keep (the difference is the supplier's, which balances the batch)
    pay = ((rev_up - pool_rev_up) * short // 1000 + (ord_up - pool_ord_up) * retail // 1000
           + pool_ord_up * mid // 1000 + pool_rev_up * np.maximum(mid, sale_price) // 1000)
    get = ((rev_down - pool_rev_down) * long_ // 1000
           + (ord_down - pool_ord_down) * feed_in // 1000 + pool_ord_down * mid // 1000
           + pool_rev_down * np.minimum(mid, buy_price) // 1000)
    fee = (up - pool_up) * fee_in // 1000 + (down - pool_down) * fee_out // 1000
    # Capacity charge on each day's 15-minute import peak, at least the tariff's minimum (to the
    # DSO, with the fees).
    capacity = np.zeros(len(metered_participants), np.int64)
    if tariff.capacity_per_kw_day:
        for d0 in range(0, n_slots, SLOTS_PER_DAY):
            peak = np.maximum(imp[:, d0:d0 + SLOTS_PER_DAY].max(axis=1),
                              tariff.capacity_min_peak_wh)  # Flanders bills at least 2.5 kW
            capacity += peak * 4 * tariff.capacity_per_kw_day // 1000
    price = transfer_price or tariff.feed_in_price
    transfer = np.array([price(t) for t in slots], np.int64)
    correction_ueur = {}
    sup = st[supplier]
    for p, i in index.items():
        s = st[p]
        s.metered_import_wh += int(metered_imp[i].sum())
        s.metered_export_wh += int(metered_exp[i].sum())
        if correction[i].any():
            s.corrected_wh += int(np.abs(correction[i]).sum())
            # rounded per slot towards the supplier, like every other value
            correction_ueur[p] = int(-((-correction[i] * transfer) // 1000).sum())
        s.imbalance_wh += int(dev[i].sum())
        s.pooled_wh += int(pool_up[i].sum() + pool_down[i].sum())
        s.supplied_wh += int((up[i] - pool_up[i]).sum())
        s.fed_back_wh += int((down[i] - pool_down[i]).sum())
        s.imbalance_ueur += int(get[i].sum()) - int(pay[i].sum())
        s.fees_ueur += int(fee[i].sum()) + int(capacity[i])
        s.congestion_borne_ueur += int(fee[i].sum())
        s.capacity_ueur += int(capacity[i])
    sup.imbalance_ueur += int(pay.sum()) - int(get.sum())
    owed = sum(correction_ueur.values())
    if owed:
        st[dso].correction_ueur -= owed
        sup.correction_ueur += owed
    fees += int(fee.sum()) + int(capacity.sum())

    entries = tuple(
        SettlementEntry(participant=p, delta_ueur=st[p].net_ueur)
        for p in sorted(st)
        if st[p].net_ueur != 0
    )
    imbalance = sum(abs(st[p].imbalance_ueur) for p in metered_participants if p in st)
    batch = SettlementBatch(
        period=period,
        imbalance_ueur=imbalance,
        first_slot=first_slot,
        last_slot=last_slot,
        entries=entries,
        fees_ueur=fees,
        trades_root=root_of_models(period_trades),
        readings_root=root_of_envelopes(period_readings),
        journal_hash=journal_hash,
        held=tuple(f"{p}@{s}" for p, s in held),
    )
    return SettlementResult(batch, dict(st), [t.seq for t in period_trades], held,
                            correction_ueur)
