"""Benchmark: settling the default 184-home grid — one day, a whole year — and gas per function.

Run from the repo root after the README set-up:  .venv/bin/python benchmarks/settlement.py
Options: --days N (default 365) for the year figure, --no-anvil to skip the real node.
Last line: {"day_settle_s": …, "gas_per_entry": …, "year_settle_s": …, "anvil": {…}, …}

Inputs are real: one simulated day of the default scenario gives the trades and signed readings;
each settled period rebuilds the batch from them (net positions, fees, Merkle roots) and sends it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from ledger.anvil import Anvil, AnvilUnavailable, ensure_anvil
from ledger.chain import embedded_chain
from ledger.client import LedgerClient, Sender, account_from_seed
from ledger.settlement_batch import build_batch
from protocol.units import SLOTS_PER_DAY
from sim.chain_setup import bring_up
from sim.participants import SUPPLIER
from sim.profiles import simbench_profiles
from sim.runner import Simulation
from sim.scenario import default_scenario

TOP_UP_UEUR = 5_000_000_000  # 5,000 € more per participant, so a year of bills never overdraws


def settle_days(sim: Simulation, chain, days: int) -> dict:
    """Build and settle ``days`` periods from the simulated day's real inputs on ``chain``."""
    d = sim.result.days[0]
    homes = [h.home_id for h in sim.sc.homes]
    addresses = sim.parts.address_of()
    chain.client.fund_escrow(chain.aggregator, {addresses[p]: TOP_UP_UEUR
                                                for p in [*homes, SUPPLIER]})
    build_s, send_s, gas, entries = [], [], [], 0
    for k in range(days):
        t0 = time.perf_counter()
        result = build_batch(
            period=10_000_000 + k, first_slot=d.first_slot,
            last_slot=d.first_slot + SLOTS_PER_DAY - 1, trades=sim.result.trades,
            readings=sim.verifier.accepted_envelopes, metered_participants=homes,
            tariff=sim.sc.tariff, supplier=SUPPLIER, journal_hash=sim.exchange.journal.head,
            supply_fee=sim._supply_fee)
        t1 = time.perf_counter()
        receipts = chain.client.settle(chain.operator, result.batch, 0, addresses)
        t2 = time.perf_counter()
        build_s.append(t1 - t0)
        send_s.append(t2 - t1)
        gas.append(sum(r["gasUsed"] for r in receipts))
        entries = len(result.batch.entries)
    totals = [b + s for b, s in zip(build_s, send_s, strict=True)]
    return {
        "day_settle_s": round(statistics.median(totals), 3),
        "day_build_s": round(statistics.median(build_s), 3),
        "day_send_s": round(statistics.median(send_s), 3),
        "gas_per_entry": round(statistics.median(gas) / entries),
        "entries_per_day": entries,
        "days": days,
        "year_settle_s": round(sum(build_s) + sum(send_s), 1),
    }


def gas_table() -> dict:
    """Median gas of every state-changing function, on a fresh embedded chain."""
    w3, rich = embedded_chain()
    acct = {n: account_from_seed(f"gas/{n}".encode()) for n in ("agg", "op", "dso", "a", "b")}
    for a in acct.values():
        w3.eth.send_transaction({"from": rich, "to": a.address, "value": 10**20})
    s = {n: Sender(w3, a) for n, a in acct.items()}
    c = LedgerClient.deploy(s["agg"], acct["op"].address, acct["dso"].address)
    c.register_many(s["agg"], [(acct[n].address, "home", "11" * 32, "22" * 32, 0)
                               for n in ("a", "b")])
    c.fund_escrow(s["agg"], {acct["a"].address: 10**9, acct["b"].address: 10**9})
    c.mint(s["agg"], acct["a"].address, 10**6)
    c.transfer(s["a"], acct["b"].address, 1000)
    c.approve(s["a"], c.deployment.settlement, 10**5)
    c.deposit(s["a"], 10**5)
    c.withdraw(s["a"], 500)
    c.set_commitments(s["op"], {acct["a"].address: 1000, acct["b"].address: 0})
    c.rotate_key(s["a"], acct["a"].address, "meter", "33" * 32, 10)
    c.revoke(s["agg"], acct["b"].address, 10**9)
    burn = s["agg"].send(c.token.functions.burn(0), gas=80_000)
    c.gas_used["burn"] = [burn["gasUsed"]]
    table = {name: int(statistics.median(v)) for name, v in sorted(c.gas_used.items())}
    table["register_many (per participant)"] = table.pop("register_many") // 2
    table["deposit_for (per credit)"] = table.pop("deposit_for") // 2
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--no-anvil", action="store_true")
    args = parser.parse_args()

    sim = Simulation(default_scenario(), simbench_profiles())
    sim.run()
    figures = settle_days(sim, sim.chain, args.days)
    figures["gas_table"] = gas_table()
    if not args.no_anvil:
        try:
            with Anvil(ensure_anvil()) as url:
                chain = bring_up(sim.sc, sim.parts, url)
                t0 = time.perf_counter()
                anvil = settle_days(sim, chain, args.days)
                anvil["wall_s"] = round(time.perf_counter() - t0, 1)
                figures["anvil"] = anvil
        except AnvilUnavailable as exc:
            figures["anvil"] = f"not measured: {exc}"
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
