from __future__ import annotations

from ledger.settlement_batch import build_batch
from meter_oracle.intervals import Interval
from meter_oracle.oracle import MeterOracle
from protocol.messages import Trade
from protocol.signing import KeyPair
from protocol.tariff import two_rate_tariff
from protocol.units import value_ueur

TARIFF = two_rate_tariff()
SLOT = 1_000_000  # a day-rate slot


def _trade(seq, buyer, seller, q, price, fee=0, aggressor="buy"):
    return Trade(seq=seq, slot=SLOT, buyer=buyer, seller=seller, buy_order_id="b",
                 sell_order_id="s", buyer_zone="f1", seller_zone="f1", quantity_wh=q,
                 price=price, fee=fee, aggressor=aggressor)


def _readings(values: dict[str, tuple[int, int]]):
    out = []
    for meter, (imp, exp) in values.items():
        oracle = MeterOracle(meter, KeyPair.from_seed(meter.encode()))
        out.append(oracle.sign(Interval(SLOT, imp, exp, imp, exp, False)))
    return out


def _batch(trades, readings, fee=lambda p, s, d: 0):
    return build_batch(7, SLOT, SLOT, trades, readings, ["a", "b"], TARIFF, "supplier",
                       "00" * 32, supply_fee=fee)


def test_delivered_trade_settles_at_trade_price_and_conserves_money():
    res = _batch([_trade(0, "a", "b", 1000, 150_000, fee=10_000)],
                 _readings({"a": (1000, 0), "b": (0, 1000)}))
    deltas = {e.participant: e.delta_ueur for e in res.batch.entries}
    assert deltas == {"a": -160_000, "b": 150_000}
    assert sum(deltas.values()) == -res.batch.fees_ueur == -10_000
    assert res.trade_seqs == [0]
    assert res.statements["a"].congestion_borne_ueur == 10_000  # the aggressor bears the fee
    seller_hit = _batch([_trade(0, "a", "b", 1000, 150_000, fee=10_000, aggressor="sell")],
                        _readings({"a": (1000, 0), "b": (0, 1000)}))
    assert seller_hit.statements["b"].congestion_borne_ueur == 10_000


def test_undelivered_sale_is_bought_back_at_the_imbalance_price():
    res = _batch([_trade(0, "a", "b", 1000, 150_000)], _readings({"a": (1000, 0), "b": (0, 400)}))
    st = res.statements["b"]
    assert st.imbalance_wh == 600
    assert st.imbalance_ueur == -value_ueur(600, TARIFF.imbalance_short(SLOT))
    # Paid for 1,000 Wh, delivered 400: b nets less than 400 Wh at the trade price.
    assert st.net_ueur < value_ueur(400, 150_000)
    assert sum(e.delta_ueur for e in res.batch.entries) == -res.batch.fees_ueur


def test_untraded_energy_is_ordinary_supply_with_congestion_fee():
    fee = lambda p, s, d: 20_000 if d == "import" else 0  # noqa: E731
    res = _batch([], _readings({"a": (500, 0), "b": (0, 0)}), fee)
    a = res.statements["a"]
    assert a.imbalance_ueur == -value_ueur(500, TARIFF.retail(SLOT))
    assert a.fees_ueur == value_ueur(500, 20_000)
    assert res.batch.fees_ueur == value_ueur(500, 20_000)
    assert sum(e.delta_ueur for e in res.batch.entries) == -res.batch.fees_ueur


def test_neighbours_untraded_energy_meets_in_the_community_pool():
    fee = lambda p, s, d: 20_000 if d == "import" else 0  # noqa: E731
    res = _batch([], _readings({"a": (500, 0), "b": (0, 300)}), fee)
    a, b = res.statements["a"], res.statements["b"]
    mid = (TARIFF.retail(SLOT) + TARIFF.feed_in) // 2
    # 300 Wh of a's import is b's export, at the mid price; 200 Wh come from the supplier
    assert a.imbalance_ueur == -(value_ueur(300, mid) + value_ueur(200, TARIFF.retail(SLOT)))
    assert b.imbalance_ueur == value_ueur(300, mid)
    assert (a.pooled_wh, b.pooled_wh) == (300, 300)
    assert a.fees_ueur == value_ueur(200, 20_000)  # only what crosses the transformer
    assert sum(e.delta_ueur for e in res.batch.entries) == -res.batch.fees_ueur


def test_community_pool_settles_at_the_published_local_price():
    """With the exchange's local price for the slot the pool uses it (the price the slot's
    trades were quoted at); what the pool does not match is the supplier's, and says so."""
    local = TARIFF.retail(SLOT) - 23_000
    res = build_batch(7, SLOT, SLOT, [], _readings({"a": (500, 0), "b": (0, 300)}), ["a", "b"],
                      TARIFF, "supplier", "00" * 32, pool_price=lambda slot: local)
    a, b = res.statements["a"], res.statements["b"]
    assert a.imbalance_ueur == -(value_ueur(300, local) + value_ueur(200, TARIFF.retail(SLOT)))
    assert b.imbalance_ueur == value_ueur(300, local)
    assert (a.supplied_wh, a.fed_back_wh, b.supplied_wh, b.fed_back_wh) == (200, 0, 0, 0)
    assert sum(e.delta_ueur for e in res.batch.entries) == 0


def test_community_pool_priced_by_the_direction_the_slot_really_had():
    """With ``pool_price_realised`` the pool's price follows what the slot turned out to be:
    a street left short (extra imports beyond extra exports) prices it near retail, one left
    long near feed-in, whatever was published day ahead."""
    seen = []

    def realised(slot, short_wh):
        seen.append((slot, short_wh))
        return TARIFF.retail(slot) - 23_000 if short_wh > 0 else TARIFF.feed_in + 23_000

    short = build_batch(7, SLOT, SLOT, [], _readings({"a": (500, 0), "b": (0, 300)}), ["a", "b"],
                        TARIFF, "supplier", "00" * 32, pool_price=lambda slot: 60_000,
                        pool_price_realised=realised)
    assert seen == [(SLOT, 200)]
    high = TARIFF.retail(SLOT) - 23_000
    assert short.statements["b"].imbalance_ueur == value_ueur(300, high)
    assert short.statements["a"].imbalance_ueur == -(value_ueur(300, high)
                                                     + value_ueur(200, TARIFF.retail(SLOT)))
    long_ = build_batch(7, SLOT, SLOT, [], _readings({"a": (300, 0), "b": (0, 500)}), ["a", "b"],
                        TARIFF, "supplier", "00" * 32, pool_price_realised=realised)
    assert seen[-1] == (SLOT, -200)
    assert long_.statements["a"].imbalance_ueur == -value_ueur(300, TARIFF.feed_in + 23_000)
    for res in (short, long_):
        assert sum(e.delta_ueur for e in res.batch.entries) == 0


def test_a_sale_not_delivered_is_bought_back_from_the_pool_at_no_less_than_it_sold_for():
    """b sold 1000 Wh and delivered 400; a's extra export of 400 covered part of the rest inside
    the street: those 400 Wh come from the pool at the higher of the pool price and b's sale
    price, the other 200 from the supplier at the imbalance price. a gets the pool price."""
    mid = (TARIFF.retail(SLOT) + TARIFF.feed_in_price(SLOT)) // 2
    for sale in (mid - 20_000, mid + 20_000):
        res = _batch([_trade(0, "supplier", "b", 1000, sale)],
                     _readings({"a": (0, 400), "b": (0, 400)}))
        a, b = res.statements["a"], res.statements["b"]
        assert b.imbalance_ueur == -(value_ueur(400, max(mid, sale))
                                     + value_ueur(200, TARIFF.imbalance_short(SLOT)))
        assert b.pooled_wh == 400 and b.supplied_wh == 200
        assert a.imbalance_ueur == value_ueur(400, mid)
        # b gains nothing on the 600 Wh it did not deliver
        assert b.trade_ueur + b.imbalance_ueur <= value_ueur(400, sale)
        assert sum(e.delta_ueur for e in res.batch.entries) == 0


def test_the_pool_covers_a_contract_not_kept_before_ordinary_extra_use():
    """a sold 1000 Wh and delivered 600; c took 300 more than it bought; b exported 400 more.
    The pool's 400 Wh go to a's 400 undelivered first — that is what b's surplus covered —
    so a pays no imbalance premium, and c's 300 are the supplier's at retail."""
    mid = (TARIFF.retail(SLOT) + TARIFF.feed_in_price(SLOT)) // 2
    res = build_batch(7, SLOT, SLOT, [_trade(0, "supplier", "a", 1000, mid)],
                      _readings({"a": (0, 600), "b": (0, 400), "c": (300, 0)}), ["a", "b", "c"],
                      TARIFF, "supplier", "00" * 32)
    a, b, c = (res.statements[p] for p in "abc")
    assert a.imbalance_ueur == -value_ueur(400, mid) and a.pooled_wh == 400
    assert c.imbalance_ueur == -value_ueur(300, TARIFF.retail(SLOT)) and c.pooled_wh == 0
    assert b.imbalance_ueur == value_ueur(400, mid)
    assert sum(e.delta_ueur for e in res.batch.entries) == 0


def test_a_purchase_not_taken_is_sold_back_to_the_pool_at_no_more_than_it_cost():
    mid = (TARIFF.retail(SLOT) + TARIFF.feed_in_price(SLOT)) // 2
    for price in (mid - 20_000, mid + 20_000):  # b bought 1000, took 400; a took 300 extra
        res = _batch([_trade(0, "b", "supplier", 1000, price)],
                     _readings({"a": (300, 0), "b": (400, 0)}))
        b = res.statements["b"]
        assert b.imbalance_ueur == (value_ueur(300, min(mid, price))
                                    + value_ueur(300, TARIFF.imbalance_long(SLOT)))
        assert sum(e.delta_ueur for e in res.batch.entries) == 0


def test_missing_reading_holds_the_slot_and_counts_the_sale_undelivered():
    res = _batch([_trade(0, "a", "b", 1000, 150_000)], _readings({"a": (1000, 0)}))
    assert res.held == [("b", SLOT)]
    assert res.batch.held == (f"b@{SLOT}",)
    assert res.statements["b"].net_ueur <= 0  # never paid for energy its meter did not show


def test_roots_change_with_any_trade_or_reading():
    r1 = _readings({"a": (1000, 0), "b": (0, 1000)})
    base = _batch([_trade(0, "a", "b", 1000, 150_000)], r1).batch
    other = _batch([_trade(0, "a", "b", 1000, 150_001)], r1).batch
    assert base.trades_root != other.trades_root
    r2 = _readings({"a": (1001, 0), "b": (0, 1000)})
    changed = _batch([_trade(0, "a", "b", 1000, 150_000)], r2).batch
    assert base.readings_root != changed.readings_root


def test_buyer_pays_the_trade_price_only_for_energy_it_took():
    """Bought 1,000 Wh, took 400: energy charge on 400, imbalance spread on the 600 not taken."""
    p = 150_000
    res = _batch([_trade(0, "a", "b", 1000, p)], _readings({"a": (400, 0), "b": (0, 1000)}))
    a = res.statements["a"]
    spread = p - TARIFF.imbalance_long(SLOT)
    assert a.net_ueur == -(value_ueur(400, p) + value_ueur(600, spread))
    assert a.imbalance_wh == -600
    b = res.statements["b"]  # the seller delivered all it sold and is paid for all of it
    assert b.net_ueur == value_ueur(1000, p)


def test_capacity_charge_bills_each_days_import_peak_to_the_dso():
    from protocol.tariff import two_rate_tariff

    tariff = two_rate_tariff(capacity_per_kw_day=100_000)
    res = build_batch(7, SLOT, SLOT, [], _readings({"a": (2500, 0), "b": (0, 300)}), ["a", "b"],
                      tariff, "supplier", "00" * 32)
    a, b = res.statements["a"], res.statements["b"]
    assert a.capacity_ueur == 2500 * 4 * 100_000 // 1000  # a 10 kW quarter-hour peak
    assert b.capacity_ueur == 0  # exports have no import peak
    assert res.batch.fees_ueur == a.capacity_ueur
    assert sum(e.delta_ueur for e in res.batch.entries) == -res.batch.fees_ueur


def test_capacity_charge_bills_at_least_the_tariffs_minimum_peak():
    """As in Flanders, a peak below 2.5 kW is billed as 2.5 kW; one above it as itself."""
    from protocol.tariff import FLANDERS_MIN_PEAK_WH, two_rate_tariff

    tariff = two_rate_tariff(capacity_per_kw_day=100_000, capacity_min_peak_wh=FLANDERS_MIN_PEAK_WH)
    res = build_batch(7, SLOT, SLOT, [], _readings({"a": (2500, 0), "b": (300, 0), "c": (0, 300)}),
                      ["a", "b", "c"], tariff, "supplier", "00" * 32)
    st = res.statements
    assert st["a"].capacity_ueur == 2500 * 4 * 100_000 // 1000
    assert st["b"].capacity_ueur == st["c"].capacity_ueur == 625 * 4 * 100_000 // 1000 == 250_000
    assert res.batch.fees_ueur == sum(s.capacity_ueur for s in st.values() if s.capacity_ueur)
    assert sum(e.delta_ueur for e in res.batch.entries) == -res.batch.fees_ueur


def test_dso_activation_settles_as_an_energy_transfer_correction():
    """b sold 1,000 Wh to a; the DSO curtailed 600 Wh of b's PV. b settles as if it had
    delivered (no imbalance), and the DSO pays the supplier 600 Wh at the feed-in price."""
    import numpy as np
    import pytest

    trades = [_trade(0, "a", "b", 1000, 150_000)]
    activated = _readings({"a": (1000, 0), "b": (0, 400)})
    unactivated = _batch(trades, _readings({"a": (1000, 0), "b": (0, 1000)}))
    res = build_batch(7, SLOT, SLOT, trades, activated, ["a", "b"], TARIFF, "supplier",
                      "00" * 32, corrections={"b": np.array([600])}, dso="dso")
    for home in ("a", "b"):
        assert res.statements[home].net_ueur == unactivated.statements[home].net_ueur
    assert res.statements["b"].imbalance_wh == 0 and res.statements["b"].corrected_wh == 600
    assert res.statements["b"].metered_export_wh == 400  # reported as metered
    owed = value_ueur(600, TARIFF.feed_in_price(SLOT))
    assert res.correction_ueur == {"b": owed}
    deltas = {e.participant: e.delta_ueur for e in res.batch.entries}
    assert deltas["dso"] == -owed
    assert deltas["supplier"] == unactivated.statements["supplier"].net_ueur + owed
    assert sum(deltas.values()) == -res.batch.fees_ueur  # money conserved
    # a deferral moves energy between slots at one price: nothing owed
    oracle = MeterOracle("a", KeyPair.from_seed(b"a"))

    def two_slots(first: int, second: int):
        return [oracle.sign(Interval(SLOT + k, wh, 0, wh, 0, False))
                for k, wh in enumerate((first, second))]

    def moved(readings, corrections):
        return build_batch(7, SLOT, SLOT + 1, [], readings, ["a"], TARIFF, "supplier",
                           "00" * 32, corrections=corrections, dso="dso")

    deferred = moved(two_slots(500, 500), {"a": np.array([-500, 500])})
    assert deferred.correction_ueur == {"a": 0}
    assert deferred.statements["a"].net_ueur == moved(two_slots(1000, 0), {}).statements[
        "a"].net_ueur
    # a slot without a reading is held and settles uncorrected
    held = moved(two_slots(500, 500)[:1], {"a": np.array([-500, 500])})
    assert held.correction_ueur == {"a": -value_ueur(500, TARIFF.feed_in_price(SLOT))}
    with pytest.raises(ValueError, match="DSO"):
        build_batch(7, SLOT, SLOT, trades, activated, ["a", "b"], TARIFF, "supplier", "00" * 32,
                    corrections={"b": np.array([600])})
