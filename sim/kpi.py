"""Key figures of a run, computed from its records and read back from the chain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.journal import replay
from node.home import Battery
from protocol.tariff import Tariff, capacity_charge_ueur, cheapest_retail
from protocol.units import SLOTS_PER_DAY, UEUR_PER_EUR, value_ueur, wh_to_kw
from sim.participants import AGGREGATOR, DSO, SUPPLIER
from sim.runner import RunResult
from wallet.view import WalletView


def stored_value_ueur(battery: Battery, extra_wh: float, tariff: Tariff,
                      next_first_slot: int) -> float:
    """What ``extra_wh`` more (or, negative, less) in ``battery`` at a day's end than at its
    start is worth (µ€), valued so that neither hoarding nor draining pays: a surplus as what it
    gives back sold at the next day's lowest feed-in price, a shortfall as its grid-side energy
    bought at the next day's cheapest retail."""
    eta = battery.one_way_efficiency
    if extra_wh >= 0:
        low = min(tariff.feed_in_price(next_first_slot + t) for t in range(SLOTS_PER_DAY))
        return extra_wh * eta * low / 1000
    return extra_wh / eta * cheapest_retail(tariff, next_first_slot, SLOTS_PER_DAY) / 1000


def end_state_credit_ueur(result: RunResult, home_id: str) -> int:
    """What the home's no-market counterfactual would have left at each day's end beyond what
    the home really left (µ€; + = it left more): its battery's charge against the day's start
    (:func:`stored_value_ueur`) against the real battery's, and the EV energy it left less to
    the morning, worth its grid-side energy at the cheapest retail of the morning's stay. The
    counterfactual restarts each day from the real state, so without this what it stored or
    charged tonight for tomorrow would count as spent for nothing (or a shortfall as free)."""
    home = next(h for h in result.scenario.homes if h.home_id == home_id)
    tariff = result.scenario.tariff
    total = 0.0
    for day in result.days:
        tomorrow = day.first_slot + SLOTS_PER_DAY
        if home.battery is not None and home_id in day.own_soc_end_wh:
            start = day.soc_start_wh[home_id]
            total += (stored_value_ueur(home.battery, day.own_soc_end_wh[home_id] - start,
                                        tariff, tomorrow)
                      - stored_value_ueur(home.battery, day.soc_end_wh[home_id] - start,
                                          tariff, tomorrow))
        if home.ev is not None and home.ev.stays_until and home_id in day.own_ev_carry_wh:
            less = day.ev_carry_wh[home_id] - day.own_ev_carry_wh[home_id]
            total += (less / home.ev.efficiency
                      * cheapest_retail(tariff, tomorrow, home.ev.stays_until) / 1000)
    return round(total)


def no_market_bill_ueur(result: RunResult, home_id: str, with_fees: bool = True,
                        with_capacity: bool | None = None) -> int:
    """What the home pays with only its supply contract and the DSO's network tariff: imports at
    retail plus the posted import price, exports at feed-in less the posted export price, and
    the capacity charge on its daily peaks — on the net its own optimisation at those prices
    gives (a MILP home's plan without local offers or flexibility sold, run against the same
    load and PV; a rule-planned home's self-consumption), without the DSO's operate-phase
    activation. ``with_fees=False``: at the supplier's prices alone, without the network's
    charges — congestion fees and capacity charge (the street's cost, for welfare: both are
    transfers to the DSO); ``with_capacity`` counts the capacity charge alone (default: as
    ``with_fees``). The DSO's payment for the morning room it allots (a cap on the EV
    energy left to the morning, the capped plan is the baseline's too) is counted as in the
    market. What the counterfactual would have left at the day's end differently — more or less
    in the battery, less or more EV energy to the morning — is valued
    (:func:`end_state_credit_ueur`)."""
    tariff = result.scenario.tariff
    exchange = result.exchange.exchange
    zone = result.participants.zones[home_id]
    upstream = exchange.config.topology.upstream
    capacity = with_fees if with_capacity is None else with_capacity
    total = 0
    for day in result.days:
        total -= day.allotment_ueur.get(home_id, 0)
        net_day = day.own_net_wh.get(home_id)
        if net_day is None:
            net_day = day.unactivated_net_wh.get(home_id, day.actual_net_wh[home_id])
        if capacity:
            total += capacity_charge_ueur(int(max(net_day.max(), 0)), tariff)
        for i, net in enumerate(net_day):
            slot = day.first_slot + i
            if net > 0:
                fee = exchange.fee(upstream, zone, slot) if with_fees else 0
                total += value_ueur(int(net), tariff.retail(slot) + fee)
            elif net < 0:
                fee = exchange.fee(zone, upstream, slot) if with_fees else 0
                total -= value_ueur(int(-net), tariff.feed_in_price(slot) - fee)
    return total - end_state_credit_ueur(result, home_id)


def slot_efficiency(result: RunResult) -> np.ndarray:
    """Allocative efficiency of the local market per slot, for slots where homes both bought and
    sold: the share of the possible local matching it achieved.

    Each home's contracted net position in a slot (bought − sold, supplier trades included) is
    what it brought to the market. The most that could have met between neighbours is
    min(Σ buyers' positions, Σ sellers' positions); every Wh of it gains the same spread
    (retail − feed-in: trades inside the LV grid cross no congestion point). What the supplier
    both sold to some homes and bought from others in the same slot could have met locally and
    did not: efficiency = 1 − min(supplier sold, supplier bought) / most possible.
    """
    supplier = SUPPLIER
    net: dict[tuple[int, str], int] = {}
    sup_sold: dict[int, int] = {}
    sup_bought: dict[int, int] = {}
    for t in result.trades:
        if t.seller == supplier:
            sup_sold[t.slot] = sup_sold.get(t.slot, 0) + t.quantity_wh
        else:
            net[(t.slot, t.seller)] = net.get((t.slot, t.seller), 0) - t.quantity_wh
        if t.buyer == supplier:
            sup_bought[t.slot] = sup_bought.get(t.slot, 0) + t.quantity_wh
        else:
            net[(t.slot, t.buyer)] = net.get((t.slot, t.buyer), 0) + t.quantity_wh
    demand: dict[int, int] = {}
    supply: dict[int, int] = {}
    for (slot, _), n in net.items():
        if n > 0:
            demand[slot] = demand.get(slot, 0) + n
        elif n < 0:
            supply[slot] = supply.get(slot, 0) - n
    out = []
    for slot in sorted(set(demand) & set(supply)):
        most = min(demand[slot], supply[slot])
        lost = min(sup_sold.get(slot, 0), sup_bought.get(slot, 0))
        out.append(1 - min(lost, most) / most)
    return np.array(out)


@dataclass
class Invariants:
    money_conserved: bool
    escrow_accounted: bool
    energy_conserved_every_slot: bool
    trades_in_exactly_one_batch: bool
    journal_replays_to_same_tape: bool | None

    def all_hold(self) -> bool:
        return all(v is not False for v in vars(self).values())


def check_invariants(result: RunResult, audit_replay: bool = True) -> Invariants:
    """The run's invariants, from the chain and the records (replay is optional: it re-runs)."""
    client = result.chain.client
    addr = result.participants.address_of()
    escrows = sum(client.escrow_of(a) for a in addr.values())
    tokens = sum(client.balance_of(a) for a in addr.values())
    settlement_holds = client.balance_of(client.deployment.settlement)
    money = escrows + tokens == result.chain.minted_ueur
    escrow_ok = escrows == client.total_escrow() == settlement_holds
    energy = all(
        np.array_equal(d.metered_flow_wh, d.transformer_flow_wh) for d in result.days
    )
    seen: dict[int, int] = {}
    for d in result.days:
        for seq in d.settlement.trade_seqs:
            seen[seq] = seen.get(seq, 0) + 1
    once = sorted(seen) == [t.seq for t in result.trades] and all(v == 1 for v in seen.values())
    replayed = None
    if audit_replay:
        j = result.exchange.journal
        replayed = replay(j.config, j.directory, j.envelopes()) == result.trades
    return Invariants(money, escrow_ok, energy, once, replayed)


def congestion_points(result: RunResult) -> dict:
    """Per AC congestion point (Scenario.grid_model "ac"): rating, slots its exact flow from
    the metered nets overloads, slots the price loop's final prognosis still overloaded, and
    peak loading; empty for the lossless model."""
    if result.point_limits_wh is None or not result.days:
        return {}
    flow = np.concatenate([d.point_flow_wh for d in result.days], axis=1)
    planned = [d.point_prognosis_wh for d in result.days if d.point_prognosis_wh is not None]
    out = {}
    for k, name in enumerate(result.point_names):
        limit = float(result.point_limits_wh[k])
        out[name] = {
            "rating_kva": round(wh_to_kw(limit), 1),
            "overloaded_slots": int((np.abs(flow[k]) > limit).sum()),
            "overloaded_import_slots": int((flow[k] > limit).sum()),
            "overloaded_export_slots": int((flow[k] < -limit).sum()),
            "prognosed_overloaded_slots": int(sum((np.abs(p[k]) > limit).sum()
                                                  for p in planned)),
            "peak_loading_percent": round(float(np.abs(flow[k]).max()) / limit * 100, 1),
        }
    return out


def summarise(result: RunResult, audit_replay: bool = True) -> dict:
    """The report's numbers as a JSON-ready dict (energy kWh, money €, power kW)."""
    sc = result.scenario
    client = result.chain.client
    addr = result.participants.address_of()
    homes = [h.home_id for h in sc.homes]
    supplier_name = SUPPLIER
    local_wh = sum(t.quantity_wh for t in result.trades
                   if t.buyer != supplier_name and t.seller != supplier_name)
    # from the supplier: traded with it, and deviations it settled after the community pool
    from_supplier = sum(t.quantity_wh for t in result.trades if t.seller == supplier_name) + sum(
        st.supplied_wh for d in result.days for p, st in d.settlement.statements.items()
        if p in homes)
    to_supplier = sum(t.quantity_wh for t in result.trades if t.buyer == supplier_name) + sum(
        st.fed_back_wh for d in result.days for p, st in d.settlement.statements.items()
        if p in homes)
    flow = np.concatenate([d.transformer_flow_wh for d in result.days])
    load = sum(int(v.sum()) for d in result.days for v in d.actual_load_wh.values())
    pv = sum(int(v.sum()) for d in result.days for v in d.actual_pv_wh.values())
    imports = int(np.clip(flow, 0, None).sum())
    exports = int(-np.clip(flow, None, 0).sum())
    limit_wh = sc.grid.transformer_limit_wh
    fees = sum(d.settlement.batch.fees_ueur for d in result.days)
    entries = sum(len(d.settlement.batch.entries) for d in result.days)
    gas = sum(d.settle_gas for d in result.days)

    flex_income: dict[str, int] = {}
    for d in result.days:
        for order in d.flex_orders:
            flex_income[order.home] = flex_income.get(order.home, 0) + order.price_ueur
    bills = {}
    for h in homes:
        # the market bill: settled statements, less what the DSO paid for the home's flexibility
        market = -sum(d.settlement.statements[h].net_ueur for d in result.days
                      if h in d.settlement.statements) - flex_income.get(h, 0)
        base = no_market_bill_ueur(result, h)
        wallet = WalletView(client, addr[h])
        closing = wallet.total_ueur()
        congestion = sum(d.settlement.statements[h].congestion_borne_ueur for d in result.days
                         if h in d.settlement.statements)
        bills[h] = {
            "bill_eur": market / UEUR_PER_EUR,
            "no_market_bill_eur": base / UEUR_PER_EUR,
            "saving_eur": (base - market) / UEUR_PER_EUR,
            "congestion_fees_eur": congestion / UEUR_PER_EUR,
            "flex_income_eur": flex_income.get(h, 0) / UEUR_PER_EUR,
            "closing_balance_eur": closing / UEUR_PER_EUR,
        }
    savings = np.array([b["saving_eur"] for b in bills.values()])
    efficiency = slot_efficiency(result)
    corrections = sum(sum(d.settlement.correction_ueur.values()) for d in result.days)
    inv = check_invariants(result, audit_replay)
    return {
        "scenario": {
            "name": sc.name, "homes": len(homes), "feeders": list(sc.grid.feeders),
            "days": sc.days, "seed": sc.seed, "start_day_unix": sc.start_day,
            "transformer_kva": sc.grid.transformer_kva,
            "homes_with_pv": sum(1 for h in sc.homes if h.pv_kwp > 0),
            "homes_with_battery": sum(1 for h in sc.homes if h.battery is not None),
        },
        "energy": {
            "consumption_kwh": load / 1000, "pv_kwh": pv / 1000,
            "traded_locally_kwh": local_wh / 1000,
            "bought_from_supplier_kwh": from_supplier / 1000,
            "sold_to_supplier_kwh": to_supplier / 1000,
            "grid_import_kwh": imports / 1000, "grid_export_kwh": exports / 1000,
            "self_sufficiency": 1 - imports / load if load else 0.0,
            "pv_self_consumption": 1 - exports / pv if pv else 0.0,
            # by the homes' own schedules (planned, or a flex order's cap), not the DSO's
            # operate phase (market.operate_activated_kwh)
            "pv_curtailed_by_homes_kwh": sum(
                w for d in result.days for w in d.pv_curtailed_wh.values()) / 1000,
        },
        "transformer": {
            "rating_kva": sc.grid.transformer_kva,
            "peak_import_kw": wh_to_kw(float(max(flow.max(), 0))),
            "peak_export_kw": wh_to_kw(float(max(-flow.min(), 0))),
            "overloaded_slots": int((np.abs(flow) > limit_wh).sum()),
            "prognosed_overloaded_slots": int(sum(
                (np.abs(d.prognosis_wh) > limit_wh).sum() for d in result.days)),
        },
        "congestion_points": congestion_points(result),
        "market": {
            "trades": len(result.trades), "accepted_messages": result.accepted_messages,
            "rejected_messages": len(result.rejected_messages),
            "congestion_prices_posted": sum(len(d.posted_prices) for d in result.days),
            "intraday_prices_posted": sum(len(d.intraday_prices) for d in result.days),
            "intraday_replans": sum(d.intraday_replans for d in result.days),
            "congestion_fees_eur": fees / UEUR_PER_EUR,
            "dso_balance_eur": client.balance_of(addr[DSO]) / UEUR_PER_EUR,
            "flex_orders": sum(len(d.flex_orders) for d in result.days),
            "flex_bought_kwh": sum(o.relief_wh for d in result.days for o in d.flex_orders)
            / 1000,
            "flex_paid_by_dso_eur": sum(flex_income.values()) / UEUR_PER_EUR,
            "operate_activated_homes": len({h for d in result.days for h in d.activated_wh}),
            "operate_activated_kwh": sum(w for d in result.days for w in d.activated_wh.values())
            / 1000,
            "operate_battery_discharged_kwh": sum(
                w for d in result.days for w in d.battery_discharged_wh.values()) / 1000,
            # stored energy the DSO took from batteries and had not charged back by the end
            "operate_battery_owed_kwh": (sum(result.days[-1].battery_owed_wh.values()) / 1000
                                         if result.days else 0.0),
            "operate_corrections_paid_by_dso_eur": corrections / UEUR_PER_EUR,
            "dso_cost_eur": (sum(flex_income.values()) + corrections) / UEUR_PER_EUR,
            # against reinforcing instead (Scenario.reinforcement), per simulated day
            "dso_cost_eur_per_day": (sum(flex_income.values()) + corrections) / UEUR_PER_EUR
            / max(len(result.days), 1),
            "reinforcement_annuity_eur_per_day": sc.reinforcement.per_day_eur(),
            "journal_hash": result.exchange.journal.head,
            "slot_efficiency_mean": float(efficiency.mean()) if len(efficiency) else None,
            "slot_efficiency_min": float(efficiency.min()) if len(efficiency) else None,
            "slots_with_buyers_and_sellers": len(efficiency),
        },
        "forecast": {
            "load_mae_wh_per_slot": float(np.mean([d.load_mae_wh for d in result.days])),
            "pv_mae_wh_per_slot": float(np.mean([d.pv_mae_wh for d in result.days])),
        },
        "bills": {
            "total_eur": sum(b["bill_eur"] for b in bills.values()),
            "total_no_market_eur": sum(b["no_market_bill_eur"] for b in bills.values()),
            "saving_mean_eur": float(savings.mean()),
            "saving_min_eur": float(savings.min()),
            "saving_max_eur": float(savings.max()),
            "homes_better_off": int((savings > 0).sum()),
            "homes_worse_off": int((savings < 0).sum()),
            "homes_paying_congestion_fees": sum(1 for b in bills.values()
                                                if b["congestion_fees_eur"] > 0),
            "congestion_fees_borne_by_homes_eur": float(sum(
                b["congestion_fees_eur"] for b in bills.values())),
            "per_home": bills,
        },
        "settlement": {
            "batches": len(result.days), "entries": entries, "gas_total": gas,
            "gas_per_entry": gas / entries if entries else 0.0,
            "held_slots": sum(len(d.settlement.held) for d in result.days),
            "readings_accepted": len(result.verifier.accepted),
            "readings_rejected": len(result.verifier.rejections),
            "aggregator_balance_eur": client.balance_of(addr[AGGREGATOR]) / UEUR_PER_EUR,
            "minted_eur": result.chain.minted_ueur / UEUR_PER_EUR,
        },
        "invariants": vars(inv),
    }
