"""A whole simulated market on the embedded chain, checked against its invariants every day."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.messages import Reading
from protocol.signing import KeyPair, Signed
from sim.kpi import check_invariants, summarise
from sim.participants import SUPPLIER
from sim.profiles import synthetic_profiles
from sim.runner import Simulation
from sim.scenario import default_scenario

HOMES, DAYS = 12, 2


def _money_on_chain(sim: Simulation) -> int:
    client = sim.chain.client
    return sum(client.escrow_of(a) + client.balance_of(a) for a in sim.addresses.values())


def _run(tap=None):
    sc = default_scenario(homes=HOMES, days=DAYS, seed=3, transformer_kva=8.0)
    daily_money: list[int] = []
    sim_box: list[Simulation] = []

    def progress(phase, done, total):
        if phase == "settle":
            daily_money.append(_money_on_chain(sim_box[0]))

    sim = Simulation(sc, synthetic_profiles(3), progress=progress)
    sim_box.append(sim)  # progress is only called once the run starts
    if tap is not None:
        sim.reading_tap = lambda i, readings: tap(sim, i, readings)
    return sim, sim.run(), daily_money


@pytest.fixture(scope="module")
def clean():
    return _run()


def test_money_is_conserved_after_every_settled_day(clean):
    sim, result, daily_money = clean
    assert len(daily_money) == DAYS
    assert all(m == sim.chain.minted_ueur for m in daily_money)
    for day in result.days:
        assert sum(e.delta_ueur for e in day.settlement.batch.entries) == (
            -day.settlement.batch.fees_ueur)


def test_energy_is_conserved_in_every_slot_of_every_day(clean):
    _, result, _ = clean
    for day in result.days:
        assert np.array_equal(day.metered_flow_wh, day.transformer_flow_wh)
        homes_net = sum(day.actual_net_wh.values())
        assert np.array_equal(homes_net, day.transformer_flow_wh)


def test_every_trade_is_in_exactly_one_batch_and_trades_balance(clean):
    _, result, _ = clean
    seqs = [s for d in result.days for s in d.settlement.trade_seqs]
    assert sorted(seqs) == [t.seq for t in result.trades]
    assert len(seqs) == len(set(seqs))
    for day in result.days:
        traded = [t for t in result.trades if t.seq in set(day.settlement.trade_seqs)]
        assert all(day.first_slot <= t.slot < day.first_slot + 96 for t in traded)


def test_every_day_trades_locally_and_no_message_is_refused(clean):
    _, result, _ = clean
    assert result.rejected_messages == []
    for day in result.days:
        local = [t for t in result.trades if SUPPLIER not in (t.buyer, t.seller)
                 and day.first_slot <= t.slot < day.first_slot + 96]
        assert local, f"neighbours should trade with each other on day {day.day}"
        assert day.posted_prices, "an 8 kVA transformer must congest every day"
        assert len(day.settlement.batch.entries) > HOMES  # every home and the supplier


def test_market_prices_congestion(clean):
    """The posted prices are paid on energy that crosses the transformer: what the supplier
    supplied beyond the homes' local trades (left to it at the gate, settled after the pool)."""
    _, result, _ = clean
    borne = [st for d in result.days for p, st in d.settlement.statements.items()
             if st.congestion_borne_ueur > 0]
    assert borne and all(st.supplied_wh + st.fed_back_wh > 0 or st.bought_wh > st.bought_local_wh
                         or st.sold_wh > st.sold_local_wh for st in borne)
    assert sum(d.settlement.batch.fees_ueur for d in result.days) > 0


def test_journal_replays_and_chain_holds_the_batch_roots(clean):
    sim, result, _ = clean
    inv = check_invariants(result, audit_replay=True)
    assert inv.all_hold() and inv.journal_replays_to_same_tape
    for day in result.days:
        rec = sim.chain.client.period_record(day.day)
        assert rec["trades_root"] == day.settlement.batch.trades_root
        assert rec["readings_root"] == day.settlement.batch.readings_root
    assert sim.chain.client.period_record(result.days[-1].day)["journal_hash"] != "00" * 32


def test_summary_reports_balances_read_from_chain(clean):
    sim, result, _ = clean
    s = summarise(result, audit_replay=False)
    assert s["scenario"]["homes"] == HOMES
    per_home = s["bills"]["per_home"]
    h = next(iter(per_home))
    on_chain = sim.chain.client.escrow_of(sim.addresses[h])
    assert per_home[h]["closing_balance_eur"] == pytest.approx(on_chain / 1e6)
    expected = sim.sc.escrow_per_home_ueur / 1e6 - per_home[h]["bill_eur"]
    assert per_home[h]["closing_balance_eur"] == pytest.approx(expected)


def _forgeries(sim: Simulation, index: int, readings: list[Signed[Reading]]):
    """Before day 0's first real readings arrive: a forged, a chain-breaking and a stranger's
    reading."""
    first = sim.sc.first_slot
    target = next((r for r in readings if r.message.meter_id == "home-001"
                   and r.message.slot == first), None)
    if index != 0 or target is None:
        return readings
    inflated = target.message.model_copy(update={"export_wh": target.message.export_wh + 5000,
                                                 "import_wh": 0})
    bad_sig = Signed[Reading](message=inflated, signature=target.signature)
    broken = sim.parts.meter_keys["home-001"].sign(
        target.message.model_copy(update={"prev_hash": "ab" * 32, "import_wh": 0,
                                          "export_wh": 7000}))
    stranger = KeyPair.from_seed(b"stranger").sign(
        target.message.model_copy(update={"meter_id": "home-999"}))
    return [bad_sig, broken, stranger, *readings]


def _drop_one_reading(sim: Simulation, index: int, readings):
    """Day 0: home-002's reading of slot 40 never arrives, however often its gateway resends it,
    until the day is settled (and its chain breaks after it)."""
    if index != 0:
        return readings
    lost = sim.sc.first_slot + 40
    return [r for r in readings if (r.message.meter_id, r.message.slot) != ("home-002", lost)]


def test_missing_reading_holds_slots_and_flags_the_period_on_chain():
    sim, result, daily_money = _run(tap=_drop_one_reading)
    day0 = result.days[0]
    held = day0.settlement.held
    assert held and all(p == "home-002" for p, _ in held)
    assert sim.chain.client.period_record(day0.day)["held"] == len(held)
    assert sim.chain.client.period_record(result.days[1].day)["held"] == 0
    assert all(m == sim.chain.minted_ueur for m in daily_money)  # still conserved


def test_bad_readings_are_rejected_and_change_no_balance(clean):
    sim_clean, result_clean, _ = clean
    sim, result, _ = _run(tap=_forgeries)
    reasons = [r[2] for r in result.verifier.rejections]
    assert len(reasons) == 3
    assert any("bad signature" in r for r in reasons)
    assert any("broken hash chain" in r for r in reasons)
    assert any("unregistered meter" in r for r in reasons)
    assert len(result.verifier.accepted) == len(result_clean.verifier.accepted)
    for pid, addr in sim.addresses.items():
        assert sim.chain.client.escrow_of(addr) == sim_clean.chain.client.escrow_of(
            sim_clean.addresses[pid]), pid
    assert [d.settlement.batch for d in result.days] == [
        d.settlement.batch for d in result_clean.days]


def test_same_seed_gives_the_same_trades_and_balances(clean):
    _sim_clean, result_clean, _ = clean
    _sim, result, _ = _run()
    assert result.trades == result_clean.trades
    assert result.exchange.journal.head == result_clean.exchange.journal.head
