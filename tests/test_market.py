from __future__ import annotations

from pathlib import Path

import pytest

from market.engine import Exchange
from market.journal import JournaledExchange, load_journal, replay
from protocol.messages import Cancel, CongestionPrice, EscrowUpdate, Order, Replace
from protocol.signing import Signed
from protocol.units import slot_start

SLOT = 1_000_000
NOW = slot_start(SLOT) - 3600  # an hour before delivery: gate (15 min) is open


class Harness:
    """An exchange plus per-sender nonces, for terse tests."""

    def __init__(self, config, directory, keys, credit=10**12):
        self.ex = Exchange(config, directory)
        self.keys = keys
        self.nonces: dict[str, int] = {}
        for p in ("a", "b", "c", "d"):
            self.send("operator", EscrowUpdate, participant=p, escrow_ueur=credit,
                      settled_through_slot=0)

    def env(self, sender, cls, **kw) -> Signed:
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        return self.keys[sender].sign(cls(sender=sender, nonce=self.nonces[sender], **kw))

    def send(self, sender, cls, now=NOW, **kw):
        return self.ex.submit(self.env(sender, cls, **kw), now)

    def order(self, sender, oid, side, qty, price, zone=None, slot=SLOT, now=NOW, **extra):
        zone = zone or self.ex.directory.zones[sender]
        return self.send(sender, Order, now=now, order_id=oid, slot=slot, zone=zone, side=side,
                         quantity_wh=qty, price=price, **extra)


@pytest.fixture()
def h(config, directory, keys) -> Harness:
    return Harness(config, directory, keys)


def snapshot(ex: Exchange):
    books = {(slot, zone): ex.book(slot, zone).depth() for slot in sorted(ex._open_slot_set)
             for zone in ex.config.topology.all_zones()}
    return books, dict(ex._nonces), len(ex.trades), ex.available_credit("a")


def test_price_time_priority_and_partial_fills(h):
    assert h.order("a", "a1", "sell", 300, 150_000).accepted
    assert h.order("b", "b1", "sell", 300, 140_000).accepted  # better price, later
    assert h.order("c", "c1", "sell", 300, 140_000).accepted  # same price, later still
    ack = h.order("d", "d1", "buy", 500, 160_000)
    assert ack.accepted
    assert [(t.seller, t.quantity_wh, t.price) for t in ack.trades] == [
        ("b", 300, 140_000),
        ("c", 200, 140_000),
    ]
    assert all(t.fee == 0 for t in ack.trades)  # feeder to feeder: no transformer flow
    _bids, asks = h.ex.book(SLOT, "f2").depth()
    assert asks == [(140_000, 100)]


def test_incoming_sell_trades_at_resting_bid(h):
    h.order("a", "a1", "buy", 400, 170_000)
    ack = h.order("c", "c1", "sell", 100, 100_000)
    assert [(t.buyer, t.seller, t.price, t.quantity_wh) for t in ack.trades] == [
        ("a", "c", 170_000, 100)
    ]


def test_supplier_is_always_there_at_retail_and_feed_in(h, config):
    retail = config.tariff.retail(SLOT)
    feed_in = config.tariff.feed_in_price(SLOT)
    buy = h.order("a", "a1", "buy", 700, retail)
    assert [(t.seller, t.price, t.quantity_wh) for t in buy.trades] == [("supplier", retail, 700)]
    sell = h.order("b", "b1", "sell", 900, feed_in)
    assert [(t.buyer, t.price, t.quantity_wh) for t in sell.trades] == [
        ("supplier", feed_in, 900)
    ]
    below = h.order("c", "c1", "buy", 100, retail - 1)
    assert below.accepted and below.trades == ()


def test_neighbour_at_the_supplier_price_comes_first(h, config):
    retail = config.tariff.retail(SLOT)
    h.order("b", "b1", "sell", 100, retail)
    ack = h.order("a", "a1", "buy", 150, retail)
    assert [(t.seller, t.quantity_wh) for t in ack.trades] == [("b", 100), ("supplier", 50)]


def test_congestion_fee_applies_only_to_flows_through_the_transformer(h, config):
    retail = config.tariff.retail(SLOT)
    assert h.send("dso", CongestionPrice, point="transformer", slot=SLOT, direction="import",
                  price=30_000).accepted
    assert h.ex.fee("upstream", "f1", SLOT) == 30_000
    assert h.ex.fee("f1", "upstream", SLOT) == 0  # export direction not congested
    assert h.ex.fee("f2", "f1", SLOT) == 0
    # At retail the supplier's effective ask (retail + fee) no longer crosses...
    assert h.order("a", "a1", "buy", 100, retail).trades == ()
    # ...but retail + fee does, and the fee is recorded apart from the price.
    ack = h.order("b", "b1", "buy", 100, retail + 30_000)
    (t,) = ack.trades
    assert (t.seller, t.price, t.fee) == ("supplier", retail, 30_000)
    # A neighbour's ask beats the congested import even at a higher price than retail.
    h.order("c", "c1", "sell", 100, retail + 10_000)
    (t,) = h.order("d", "d1", "buy", 100, retail + 30_000).trades
    assert (t.seller, t.fee) == ("c", 0)


def test_fees_and_capacities_follow_each_point_s_sensitivities(config, directory, keys):
    """AC congestion points (dso/sensitivity.py): a kWh into f1 moves the transformer's flow
    1.03 kWh and f1's head cable 1 kWh; f2's trades load only the transformer."""
    from protocol.topology import CongestionPoint, Topology

    topo = Topology(zones=("f1", "f2", "f3"), points=(
        CongestionPoint(name="transformer",
                        sensitivity_permille={"f1": -1030, "f2": -1030, "f3": -1030}),
        CongestionPoint(name="f1-cable", sensitivity_permille={"f1": -1000})))
    h = Harness(config.model_copy(update={"topology": topo}), directory, keys)
    h.send("dso", CongestionPrice, point="transformer", slot=SLOT, direction="import",
           price=30_000)
    h.send("dso", CongestionPrice, point="f1-cable", slot=SLOT, direction="import",
           price=50_000, capacity_wh=300)
    assert h.ex.fee("upstream", "f2", SLOT) == 30_900  # 30 000 × 1.03
    assert h.ex.fee("upstream", "f1", SLOT) == 80_900  # and the cable's 50 000 × 1.00
    assert h.ex.fee("f2", "f1", SLOT) == 50_000  # through the cable, not the transformer
    assert h.ex.fee("f1", "upstream", SLOT) == 0
    retail = config.tariff.retail(SLOT)
    ack = h.order("a", "a1", "buy", 400, retail + 80_900)  # f1: the cable's 300 Wh only
    assert [(t.seller, t.quantity_wh, t.fee) for t in ack.trades] == [("supplier", 300, 80_900)]
    (t,) = h.order("c", "c1", "buy", 400, retail + 30_900).trades  # f2: not the cable's
    assert (t.quantity_wh, t.fee) == (400, 30_900)


def test_export_fee_is_taken_from_the_seller(h, config):
    feed_in = config.tariff.feed_in_price(SLOT)
    h.send("dso", CongestionPrice, point="transformer", slot=SLOT, direction="export",
           price=20_000)
    assert h.order("a", "a1", "sell", 100, feed_in).trades == ()
    (t,) = h.order("b", "b1", "sell", 100, feed_in - 20_000).trades
    assert (t.buyer, t.price, t.fee, t.aggressor) == ("supplier", feed_in - 20_000, 20_000, "sell")


def test_trades_are_cut_to_posted_capacity(h, config):
    retail = config.tariff.retail(SLOT)
    h.send("dso", CongestionPrice, point="transformer", slot=SLOT, direction="import", price=0,
           capacity_wh=250)
    ack = h.order("a", "a1", "buy", 400, retail)
    assert sum(t.quantity_wh for t in ack.trades) == 250
    assert h.ex.open_order("a", "a1").remaining_wh == 150
    assert h.order("b", "b1", "buy", 100, retail).trades == ()  # headroom used up
    # A neighbour's energy does not load the transformer: it still fills a's resting bid.
    (t,) = h.order("c", "c1", "sell", 80, 100_000).trades
    assert (t.buyer, t.seller, t.quantity_wh) == ("a", "c", 80)


def test_later_price_changes_apply_to_later_matches_only(h, config):
    retail = config.tariff.retail(SLOT)
    (t1,) = h.order("a", "a1", "buy", 100, retail + 50_000).trades
    h.send("dso", CongestionPrice, point="transformer", slot=SLOT, direction="import",
           price=40_000, version=1)
    (t2,) = h.order("b", "b1", "buy", 100, retail + 50_000).trades
    assert (t1.fee, t2.fee) == (0, 40_000)
    stale = h.send("dso", CongestionPrice, point="transformer", slot=SLOT, direction="import",
                   price=0, version=0)
    assert not stale.accepted and "older" in stale.reason


def test_cancel_removes_the_rest(h, config):
    h.order("a", "a1", "sell", 300, 150_000)
    assert h.send("a", Cancel, order_id="a1").accepted
    (t,) = h.order("c", "c1", "buy", 100, config.tariff.retail(SLOT)).trades
    assert t.seller == "supplier"
    again = h.send("a", Cancel, order_id="a1")
    assert not again.accepted and "no open order" in again.reason


def test_self_trade_is_prevented(h):
    h.order("a", "a1", "sell", 100, 150_000)
    ack = h.order("a", "a2", "buy", 100, 150_000)
    assert all(t.seller != "a" for t in ack.trades)
    assert h.ex.open_order("a", "a1") is None


@pytest.mark.parametrize(
    "case",
    ["time_backwards", "closed_gate", "beyond_horizon", "wrong_zone", "replayed_nonce",
     "bad_signature", "duplicate_id", "no_escrow", "dso_orders", "home_posts_price",
     "price_beyond_horizon", "home_states_escrow"],
)
def test_bad_input_is_rejected_with_reason_and_changes_nothing(h, keys, case):
    h.order("a", "a0", "sell", 100, 150_000)
    h.order("c", "c0", "buy", 100, 100_000)
    before = snapshot(h.ex)
    if case == "closed_gate":
        h.ex.advance(slot_start(SLOT) - 900)  # time passing expires the slot's books...
        before = snapshot(h.ex)
        ack = h.order("b", "x", "buy", 100, 200_000, now=slot_start(SLOT) - 900)
        expect = "gate closed"  # ...the rejected order itself changes nothing more
    elif case == "time_backwards":
        ack = h.order("b", "x", "buy", 100, 200_000, now=NOW - 1)
        expect = "before the exchange clock"
    elif case == "beyond_horizon":
        ack = h.order("b", "x", "buy", 100, 200_000, slot=SLOT + 96 * 3)
        expect = "horizon"
    elif case == "wrong_zone":
        ack = h.order("b", "x", "buy", 100, 200_000, zone="f3")
        expect = "registered zone"
    elif case == "replayed_nonce":
        env = h.env("b", Order, order_id="x", slot=SLOT, zone="f1", side="buy",
                    quantity_wh=100, price=200_000)
        assert h.ex.submit(env, NOW).accepted
        before = snapshot(h.ex)
        ack = h.ex.submit(env, NOW)
        expect = "replayed nonce"
    elif case == "bad_signature":
        env = h.env("b", Order, order_id="x", slot=SLOT, zone="f1", side="buy",
                    quantity_wh=100, price=200_000)
        forged = Signed[Order](message=env.message.model_copy(update={"quantity_wh": 9000}),
                               signature=env.signature)
        ack = h.ex.submit(forged, NOW)
        expect = "bad signature"
    elif case == "duplicate_id":
        ack = h.order("a", "a0", "sell", 100, 150_000)
        expect = "duplicate order id"
    elif case == "no_escrow":
        h.send("operator", EscrowUpdate, participant="b", escrow_ueur=10,
               settled_through_slot=0)
        before = snapshot(h.ex)
        ack = h.order("b", "x", "buy", 100, 200_000)
        expect = "insufficient escrow"
    elif case == "dso_orders":
        ack = h.send("dso", Order, order_id="x", slot=SLOT, zone="upstream", side="buy",
                     quantity_wh=100, price=200_000)
        expect = "may not place orders"
    elif case == "home_posts_price":
        ack = h.send("a", CongestionPrice, point="transformer", slot=SLOT, direction="import",
                     price=1)
        expect = "only the DSO"
    elif case == "price_beyond_horizon":  # far-future slots would overflow the C++ core
        ack = h.send("dso", CongestionPrice, point="transformer", slot=10**30,
                     direction="import", price=1)
        expect = "beyond the trading horizon"
    else:
        ack = h.send("a", EscrowUpdate, participant="a", escrow_ueur=10**15,
                     settled_through_slot=0)
        expect = "only the settlement operator"
    assert not ack.accepted
    assert expect in ack.reason
    assert snapshot(h.ex) == before


def test_escrow_covers_open_bids_and_unsettled_purchases(h):
    h.send("operator", EscrowUpdate, participant="b", escrow_ueur=50_000, settled_through_slot=0)
    assert h.order("b", "b1", "buy", 200, 200_000).accepted  # commits 40,000 µ€
    assert h.ex.available_credit("b") == 10_000
    assert not h.order("b", "b2", "buy", 100, 200_000).accepted
    h.send("b", Cancel, order_id="b1")
    assert h.ex.available_credit("b") == 50_000


def test_gate_closure_expires_orders_and_releases_commitments(h):
    h.send("operator", EscrowUpdate, participant="b", escrow_ueur=50_000, settled_through_slot=0)
    h.order("b", "b1", "buy", 200, 200_000)
    later = slot_start(SLOT) - 900
    h.order("a", "a1", "sell", 100, 150_000, slot=SLOT + 10, now=later)
    assert h.ex.open_order("b", "b1") is None
    assert h.ex.available_credit("b") == 50_000


def test_journal_replays_to_the_identical_tape(config, directory, keys, tmp_path: Path):
    import random

    rng = random.Random(7)
    jx = JournaledExchange(config, directory, path=tmp_path / "journal.jsonl")
    h = Harness.__new__(Harness)
    h.ex, h.keys, h.nonces = jx, keys, {}
    for p in ("a", "b", "c", "d"):
        h.send("operator", EscrowUpdate, participant=p, escrow_ueur=10**12,
               settled_through_slot=0)
    open_ids = []
    for i in range(400):
        sender = rng.choice("abcd")
        if open_ids and rng.random() < 0.3:
            s, oid = open_ids.pop(rng.randrange(len(open_ids)))
            h.send(s, Cancel, order_id=oid)
            continue
        oid = f"o{i}"
        side = rng.choice(["buy", "sell"])
        price = rng.randrange(40_000, 300_000, 5_000)
        h.send(sender, Order, order_id=oid, slot=SLOT + rng.randrange(3),
               zone=directory.zones[sender], side=side, quantity_wh=rng.randrange(1, 800),
               price=price)
        open_ids.append((sender, oid))
    tape = jx.exchange.trades
    assert len(tape) > 50
    jx.journal.close()
    cfg, d, entries = load_journal(tmp_path / "journal.jsonl")
    assert replay(cfg, d, entries) == tape
    assert replay(config, directory, jx.journal.envelopes()) == tape


def test_replace_keeps_priority_only_when_price_same_and_size_not_growing(h, config):
    retail = config.tariff.retail(SLOT)
    h.order("a", "a1", "sell", 100, 150_000)
    h.order("b", "b1", "sell", 100, 150_000)
    assert h.send("a", Replace, order_id="a1", quantity_wh=60, price=150_000).accepted
    (t,) = h.order("c", "c1", "buy", 50, retail).trades
    assert t.seller == "a"  # shrinking kept a's place at the head of the queue
    assert h.send("a", Replace, order_id="a1", quantity_wh=200, price=150_000).accepted
    (t,) = h.order("d", "d1", "buy", 50, retail).trades
    assert t.seller == "b"  # growing sent a to the back
    ack = h.send("b", Replace, order_id="b1", quantity_wh=50, price=100_000)
    assert ack.accepted and ack.trades == ()  # a better price, but nothing to meet
    (t,) = h.order("c", "c2", "buy", 10, retail).trades
    assert (t.seller, t.price) == ("b", 100_000)


def test_replace_that_crosses_trades_at_once(h):
    h.order("a", "a1", "buy", 100, 100_000)
    h.order("c", "c1", "sell", 100, 150_000)
    ack = h.send("a", Replace, order_id="a1", quantity_wh=100, price=160_000)
    assert [(t.seller, t.price, t.quantity_wh) for t in ack.trades] == [("c", 150_000, 100)]


def test_ioc_never_rests_and_fok_fills_all_or_nothing(h, config):
    h.order("c", "c1", "sell", 100, 150_000)
    ioc = h.order("a", "a1", "buy", 300, 160_000, tif="ioc")
    assert sum(t.quantity_wh for t in ioc.trades) == 100
    assert h.ex.open_order("a", "a1") is None
    h.order("c", "c2", "sell", 100, 150_000)
    fok = h.order("b", "b1", "buy", 300, 160_000, tif="fok")
    assert fok.accepted and fok.trades == ()  # 100 on offer: nothing happens
    assert h.ex.open_order("c", "c2").remaining_wh == 100
    full = h.order("b", "b2", "buy", 100, 160_000, tif="fok")
    assert sum(t.quantity_wh for t in full.trades) == 100
    retail = config.tariff.retail(SLOT)
    supplied = h.order("d", "d1", "buy", 10_000, retail, tif="fok")  # the supplier has depth
    assert sum(t.quantity_wh for t in supplied.trades) == 10_000


def test_orders_expire_at_their_time(h, config):
    h.order("c", "c1", "sell", 100, 150_000, expires_at=NOW + 60)
    h.ex.advance(NOW + 60)
    (t,) = h.order("a", "a1", "buy", 100, config.tariff.retail(SLOT), now=NOW + 60).trades
    assert t.seller == "supplier"
    late = h.order("b", "b1", "sell", 100, 150_000, now=NOW + 61, expires_at=NOW + 61)
    assert not late.accepted and "expires before it arrives" in late.reason


def test_recovery_continues_the_same_hash_chain(config, directory, keys, tmp_path: Path):
    path = tmp_path / "j.jsonl"
    jx = JournaledExchange(config, directory, path=path)
    h = Harness.__new__(Harness)
    h.ex, h.keys, h.nonces = jx, keys, {}
    for p in ("a", "c"):
        h.send("operator", EscrowUpdate, participant=p, escrow_ueur=10**12,
               settled_through_slot=0)
    h.order("a", "a1", "sell", 100, 150_000, zone="f1")
    h.order("c", "c1", "buy", 60, 160_000, zone="f2")
    head, tape = jx.journal.head, list(jx.exchange.trades)
    jx.journal.close()
    with open(path, "ab") as f:
        f.write(b'{"t": 1, "m": {"trunc')  # a write the crash tore in half
    again = JournaledExchange.recover(path)
    assert again.journal.head == head and again.exchange.trades == tape
    h.ex = again
    assert h.order("c", "c2", "buy", 40, 160_000, zone="f2").trades[0].quantity_wh == 40
    again.journal.close()
    assert replay(*load_journal(path)) == again.exchange.trades


def test_capacity_beyond_bound_is_refused_at_parse():
    from pydantic import ValidationError

    from protocol.units import MAX_CAPACITY_WH

    with pytest.raises(ValidationError, match="less than or equal"):
        CongestionPrice(sender="dso", nonce=1, point="transformer", slot=SLOT,
                        direction="import", price=1, capacity_wh=MAX_CAPACITY_WH + 1)
