"""Keys and accounts of every participant of a simulated market, derived from the seed."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from ledger.client import account_from_seed
from protocol.signing import KeyDirectory, KeyPair
from sim.scenario import Scenario

SUPPLIER, DSO, OPERATOR, AGGREGATOR = "supplier", "dso", "operator", "aggregator"


@dataclass
class Participants:
    """Ed25519 message keys, meter keys and Ethereum accounts by participant id."""

    message_keys: dict[str, KeyPair]
    meter_keys: dict[str, KeyPair]
    accounts: dict[str, LocalAccount]
    roles: dict[str, str]
    zones: dict[str, str]

    def directory(self) -> KeyDirectory:
        d = KeyDirectory()
        for pid, key in self.message_keys.items():
            d.add(pid, key.public_hex, self.roles[pid], self.zones[pid])
        return d

    def address_of(self) -> dict[str, str]:
        return {pid: acct.address for pid, acct in self.accounts.items()}


def make_participants(scenario: Scenario) -> Participants:
    """Deterministic keys for homes, supplier, DSO, settlement operator and aggregator."""
    seed = scenario.seed
    roles = {h.home_id: "home" for h in scenario.homes}
    zones = {h.home_id: h.zone for h in scenario.homes}
    upstream = scenario.grid.topology().upstream
    for pid in (SUPPLIER, DSO, OPERATOR, AGGREGATOR):
        roles[pid] = pid if pid != SUPPLIER else "supplier"
        zones[pid] = upstream
    msg = {p: KeyPair.from_seed(f"{seed}/{p}/message".encode()) for p in roles}
    meters = {h.home_id: KeyPair.from_seed(f"{seed}/{h.home_id}/meter".encode())
              for h in scenario.homes}
    accounts = {p: account_from_seed(f"{seed}/{p}".encode()) for p in roles}
    return Participants(msg, meters, accounts, roles, zones)
