from __future__ import annotations

import pytest

from ledger.chain import embedded_chain
from ledger.client import LedgerClient, Sender, account_from_seed
from protocol.messages import SettlementBatch, SettlementEntry
from wallet.keystore import KeystoreError, address_of, create, unlock
from wallet.view import WalletView


def test_keystore_round_trip_and_refusals(tmp_path):
    path = tmp_path / "keys" / "home.json"
    acct = create(path, "correct horse")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert address_of(path).lower() == acct.address.lower()
    assert unlock(path, "correct horse").address == acct.address
    with pytest.raises(KeystoreError, match="wrong password"):
        unlock(path, "wrong horse!")
    with pytest.raises(KeystoreError, match="refusing to overwrite"):
        create(path, "correct horse")
    with pytest.raises(KeystoreError, match="at least 8"):
        create(tmp_path / "other.json", "short")
    with pytest.raises(KeystoreError, match="cannot read"):
        unlock(tmp_path / "missing.json", "whatever1")


def test_wallet_history_is_indexed_incrementally_and_matches_escrow():
    w3, rich = embedded_chain()
    names = ["aggregator", "operator", "dso", "home"]
    accts = {n: account_from_seed(f"wallet-test/{n}".encode()) for n in names}
    for a in accts.values():
        w3.eth.send_transaction({"from": rich, "to": a.address, "value": 10**20})
    s = {n: Sender(w3, a) for n, a in accts.items()}
    client = LedgerClient.deploy(s["aggregator"], accts["operator"].address, accts["dso"].address)
    client.register_many(s["aggregator"], [
        (accts["home"].address, "home", "11" * 32, "22" * 32, 0),
        (accts["aggregator"].address, "aggregator", "33" * 32, "", 255),
    ])
    client.fund_escrow(s["aggregator"], {accts["home"].address: 5_000_000,
                                         accts["aggregator"].address: 1_000_000})
    wallet = WalletView(client, accts["home"].address)
    first = wallet.refresh()
    assert [(h.kind, h.amount_ueur) for h in first] == [("deposit", 5_000_000)]
    addr = {"home": accts["home"].address, "aggregator": accts["aggregator"].address}
    batch = SettlementBatch(
        period=9, first_slot=0, last_slot=95, fees_ueur=0,
        entries=(SettlementEntry(participant="home", delta_ueur=-700_000),
                 SettlementEntry(participant="aggregator", delta_ueur=700_000)),
        trades_root="00" * 32, readings_root="00" * 32, journal_hash="00" * 32)
    client.settle(s["operator"], batch, 0, addr)
    client.withdraw(s["home"], 300_000)
    second = wallet.refresh(chunk=2)  # several block ranges
    assert [(h.kind, h.amount_ueur, h.period) for h in second] == [
        ("settlement", -700_000, 9), ("withdraw", -300_000, None)]
    assert wallet.refresh() == []
    assert sum(h.amount_ueur for h in wallet.history) == wallet.escrow_ueur() == 4_000_000
    assert wallet.balance_ueur() == 300_000
    assert wallet.total_ueur() == 4_300_000
