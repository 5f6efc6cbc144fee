"""Contracts on the embedded chain: behaviour, revert paths, settlement batches, Merkle roots."""

from __future__ import annotations

import pytest

from ledger.chain import embedded_chain
from ledger.client import LedgerClient, LedgerTxFailed, Sender, account_from_seed
from ledger.compile import load
from ledger.merkle import leaf, proof, root, verify
from protocol.messages import SettlementBatch, SettlementEntry

ZERO = "00" * 32


@pytest.fixture(scope="module")
def market():
    w3, rich = embedded_chain()
    names = ["aggregator", "operator", "dso", "h1", "h2", "h3", "stranger"]
    accts = {n: account_from_seed(f"ledger-test/{n}".encode()) for n in names}
    for a in accts.values():
        w3.eth.send_transaction({"from": rich, "to": a.address, "value": 10**20})
    senders = {n: Sender(w3, a) for n, a in accts.items()}
    client = LedgerClient.deploy(senders["aggregator"], accts["operator"].address,
                                 accts["dso"].address)
    rows = [(accts[n].address, "home", "11" * 32, "22" * 32, 0) for n in ("h1", "h2", "h3")]
    rows += [(accts["dso"].address, "dso", "33" * 32, "", 255),
             (accts["operator"].address, "operator", "44" * 32, "", 255)]
    client.register_many(senders["aggregator"], rows)
    client.fund_escrow(senders["aggregator"], {accts[n].address: 10_000_000 for n in ("h1", "h2")})
    return client, senders, {n: a.address for n, a in accts.items()}


def _batch(period: int, deltas: dict[str, int], fees: int) -> SettlementBatch:
    return SettlementBatch(
        period=period, first_slot=0, last_slot=95, fees_ueur=fees,
        entries=tuple(SettlementEntry(participant=p, delta_ueur=d) for p, d in deltas.items()),
        trades_root="ab" * 32, readings_root="cd" * 32, journal_hash="ef" * 32,
    )


def test_compiled_artifacts_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("FLEXMARKET_CACHE", str(tmp_path))
    a = load("Registry")
    files = list((tmp_path / "contracts").glob("Registry-*.json"))
    assert len(files) == 1
    assert load("Registry") == a


def test_token_is_erc20_with_six_decimals(market):
    client, senders, addr = market
    t = client.token.functions
    assert t.decimals().call() == 6
    assert t.symbol().call() == "FMEC"
    assert client.total_supply() == 20_000_000
    client.mint(senders["aggregator"], addr["h3"], 1_000)
    client.transfer(senders["h3"], addr["h1"], 400)
    assert client.balance_of(addr["h3"]) == 600
    client.approve(senders["h3"], addr["h1"], 500)
    assert t.allowance(addr["h3"], addr["h1"]).call() == 500
    senders["h1"].send(t.transferFrom(addr["h3"], addr["stranger"], 300), gas=100_000)
    assert client.balance_of(addr["stranger"]) == 300
    assert t.allowance(addr["h3"], addr["h1"]).call() == 200
    with pytest.raises(LedgerTxFailed, match="insufficient allowance"):
        senders["h1"].send(t.transferFrom(addr["h3"], addr["stranger"], 300), gas=100_000)
    with pytest.raises(LedgerTxFailed, match="insufficient balance"):
        client.transfer(senders["h3"], addr["h1"], 10_000)


def test_only_the_aggregator_mints_and_burns(market):
    client, senders, addr = market
    with pytest.raises(LedgerTxFailed, match="only the aggregator mints"):
        client.mint(senders["h1"], addr["h1"], 1)
    with pytest.raises(LedgerTxFailed, match="only the aggregator burns"):
        senders["h1"].send(client.token.functions.burn(1), gas=80_000)


def test_registry_roles_and_admin_only(market):
    client, senders, addr = market
    assert client.role_of(addr["h1"]) == 1
    assert client.role_of(addr["dso"]) == 3
    assert client.role_of(addr["stranger"]) == 0
    assert client.meter_key_of(addr["h1"]) == "22" * 32
    with pytest.raises(LedgerTxFailed, match="only the admin registers"):
        client.register_many(senders["h1"], [(addr["stranger"], "home", ZERO, ZERO, 0)])
    with pytest.raises(LedgerTxFailed, match="already registered"):
        client.register_many(senders["aggregator"], [(addr["h1"], "home", ZERO, ZERO, 0)])


def test_settlement_moves_escrow_pays_fees_and_records_roots(market):
    client, senders, addr = market
    e1, e2 = client.escrow_of(addr["h1"]), client.escrow_of(addr["h2"])
    batch = _batch(100, {"h1": -1_500, "h2": 1_200}, fees=300)
    client.settle(senders["operator"], batch, 0, addr)
    assert client.escrow_of(addr["h1"]) == e1 - 1_500
    assert client.escrow_of(addr["h2"]) == e2 + 1_200
    assert client.balance_of(addr["dso"]) >= 300
    assert client.is_settled(100)
    rec = client.period_record(100)
    assert rec["trades_root"] == "ab" * 32 and rec["journal_hash"] == "ef" * 32
    assert client.total_escrow() == client.balance_of(client.deployment.settlement)


@pytest.mark.parametrize(
    "case, reason",
    [
        ("double", "period already settled"),
        ("wrong_role", "only the settlement operator"),
        ("unknown", "unknown participant"),
        ("overdraft", "overdraft"),
        ("unbalanced", "unbalanced batch"),
        ("not_ended", "period has not ended"),
    ],
)
def test_settlement_revert_paths(market, case, reason):
    client, senders, addr = market
    sender, end, period = senders["operator"], 0, 200 + len(case)
    batch = _batch(period, {"h1": -100, "h2": 100}, 0)
    if case == "double":
        client.settle(sender, batch, 0, addr)
    elif case == "wrong_role":
        sender = senders["aggregator"]
    elif case == "unknown":
        batch = _batch(period, {"h1": -100, "stranger": 100}, 0)
    elif case == "overdraft":
        batch = _batch(period, {"h3": -100, "h2": 100}, 0)
    elif case == "unbalanced":
        batch = _batch(period, {"h1": -100, "h2": 101}, 0)
    else:
        end = 2**40
    escrows = (client.escrow_of(addr["h1"]), client.escrow_of(addr["h2"]))
    with pytest.raises(LedgerTxFailed, match=reason):
        client.settle(sender, batch, end, addr)
    assert (client.escrow_of(addr["h1"]), client.escrow_of(addr["h2"])) == escrows


def test_withdraw_only_what_is_in_escrow(market):
    client, senders, addr = market
    before = client.balance_of(addr["h2"])
    client.withdraw(senders["h2"], 1_000)
    assert client.balance_of(addr["h2"]) == before + 1_000
    with pytest.raises(LedgerTxFailed, match="overdraft"):
        client.withdraw(senders["h2"], 10**12)


def test_revoked_participant_cannot_be_settled(market):
    client, senders, addr = market
    client.mint(senders["aggregator"], addr["h3"], 0)
    client.revoke(senders["aggregator"], addr["h3"])
    assert client.role_of(addr["h3"]) == 0
    with pytest.raises(LedgerTxFailed, match="unknown participant"):
        client.settle(senders["operator"], _batch(300, {"h3": 0}, 0), 0, addr)


def test_merkle_proofs_verify_every_leaf_and_reject_others():
    leaves = [leaf(bytes([i])) for i in range(7)]
    r = root(leaves)
    for i, lf in enumerate(leaves):
        assert verify(lf, proof(leaves, i), r)
    assert not verify(leaf(b"x"), proof(leaves, 0), r)
    assert root([]) == b"\x00" * 32
