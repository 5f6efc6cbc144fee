"""Bring up the ledger for a simulated market: deploy, register everyone, fund escrow."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.chain import embedded_chain, rpc_chain
from ledger.client import LedgerClient, Sender
from sim.participants import AGGREGATOR, DSO, OPERATOR, SUPPLIER, Participants
from sim.scenario import Scenario

GAS_FUNDING_WEI = 10**21


@dataclass
class ChainContext:
    """The deployed market on a chain, with the senders of the roles that transact."""

    client: LedgerClient
    aggregator: Sender
    operator: Sender
    minted_ueur: int
    dso: Sender


def bring_up(scenario: Scenario, parts: Participants,
             ledger_url: str | None = None) -> ChainContext:
    """Deploy, register every participant, mint and deposit the homes', supplier's and DSO's
    escrow."""
    if ledger_url:
        w3 = rpc_chain(ledger_url)
        funder = w3.eth.accounts[0]
    else:
        w3, funder = embedded_chain()
    for role in (AGGREGATOR, OPERATOR, DSO):
        tx_hash = w3.eth.send_transaction(
            {"from": funder, "to": parts.accounts[role].address, "value": GAS_FUNDING_WEI}
        )
        w3.eth.wait_for_transaction_receipt(tx_hash)  # node-assigned nonce: wait, never assume
    aggregator = Sender(w3, parts.accounts[AGGREGATOR])
    operator = Sender(w3, parts.accounts[OPERATOR])
    client = LedgerClient.deploy(aggregator, operator.address, parts.accounts[DSO].address)
    zone_index = {z: i for i, z in enumerate(scenario.grid.feeders)}
    rows = []
    for pid, acct in parts.accounts.items():
        meter = parts.meter_keys.get(pid)
        rows.append((
            acct.address,
            parts.roles[pid],
            parts.message_keys[pid].public_hex,
            meter.public_hex if meter else "",
            zone_index.get(parts.zones[pid], 255),
        ))
    client.register_many(aggregator, rows)
    credits = {parts.accounts[h.home_id].address: scenario.escrow_per_home_ueur
               for h in scenario.homes}
    credits[parts.accounts[SUPPLIER].address] = scenario.escrow_per_home_ueur * len(scenario.homes)
    if scenario.dso_operates:  # pays its operate-phase corrections through settlement batches
        credits[parts.accounts[DSO].address] = scenario.dso_escrow_ueur
    client.fund_escrow(aggregator, credits)
    minted = sum(credits.values())
    dso = Sender(w3, parts.accounts[DSO])
    # the DSO's budget for flexibility, as tokens it holds (pricing, it pays for the morning
    # room it allots to overnight EVs: sim/runner.py)
    if scenario.dso_buys_flexibility or scenario.validation_rounds:
        client.mint(aggregator, dso.address, scenario.dso_flex_budget_ueur)
        minted += scenario.dso_flex_budget_ueur
    return ChainContext(client, aggregator, operator, minted, dso)
