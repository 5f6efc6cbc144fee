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
    rows += [(accts["stranger"].address, "home", "11" * 32, "22" * 32, 1)]
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


def _raw_settle(client, sender, addr, period, index, parts, deltas, fees=0, end=0):
    """One settle call straight to the contract, bypassing the client's idempotency."""
    from eth_abi import encode

    from ledger.client import SETTLE_TYPES

    entries = [(addr[p], d) for p, d in deltas]
    data = client._settle_selector + encode(SETTLE_TYPES, [
        period, 0, end, index, parts, entries, fees, 0, 0, b"\1" * 32, b"\2" * 32, b"\3" * 32])
    return sender.send_data(client.deployment.settlement, data, 400_000)


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
    assert client.role_of(account_from_seed(b"never registered").address) == 0
    assert client.meter_key_of(addr["h1"]) == "22" * 32
    with pytest.raises(LedgerTxFailed, match="only the admin registers"):
        client.register_many(senders["h1"], [(addr["dso"], "home", ZERO, ZERO, 0)])
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
    assert (rec["fees"], rec["parts"], rec["held"]) == (300, 1, 0)
    assert client.total_escrow() == client.balance_of(client.deployment.settlement)
    assert client.settle(senders["operator"], batch, 0, addr) == []  # idempotent: no resend


def test_large_batches_settle_in_parts_exactly_once(market):
    client, senders, addr = market
    e1, e2 = client.escrow_of(addr["h1"]), client.escrow_of(addr["h2"])
    deltas = [("h1", -10), ("h2", 7), ("h1", -5), ("h2", 5), ("h1", -2)]
    batch = SettlementBatch(
        period=150, first_slot=0, last_slot=95, fees_ueur=5, trades_root="ab" * 32,
        readings_root="cd" * 32, journal_hash="ef" * 32,
        entries=tuple(SettlementEntry(participant=p, delta_ueur=d) for p, d in deltas))
    receipts = client.settle(senders["operator"], batch, 0, addr, max_entries=2)
    assert len(receipts) == 3
    assert client.period_record(150)["parts"] == 3
    assert (client.escrow_of(addr["h1"]), client.escrow_of(addr["h2"])) == (e1 - 17, e2 + 12)
    with pytest.raises(LedgerTxFailed, match="period already settled"):
        _raw_settle(client, senders["operator"], addr, 150, 3, 4, [("h1", 0)])


def test_batch_parts_must_come_in_order_and_balance_at_the_end(market):
    client, senders, addr = market

    def part(period, index, parts, deltas):
        return _raw_settle(client, senders["operator"], addr, period, index, parts, deltas)

    with pytest.raises(LedgerTxFailed, match="batch part out of order"):
        part(160, 1, 2, [("h1", -1), ("h2", 1)])
    part(160, 0, 2, [("h1", -3)])
    with pytest.raises(LedgerTxFailed, match="unbalanced batch"):
        part(160, 1, 2, [("h2", 2)])
    part(160, 1, 2, [("h2", 3)])
    assert client.is_settled(160)


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
    addr = {**addr, "nobody": account_from_seed(b"never registered").address}
    sender, end, period = senders["operator"], 0, 200 + len(case)
    batch = _batch(period, {"h1": -100, "h2": 100}, 0)
    if case == "double":
        client.settle(sender, batch, 0, addr)
    elif case == "wrong_role":
        sender = senders["aggregator"]
    elif case == "unknown":
        batch = _batch(period, {"h1": -100, "nobody": 100}, 0)
    elif case == "overdraft":
        batch = _batch(period, {"h3": -100, "h2": 100}, 0)
    elif case == "unbalanced":
        batch = _batch(period, {"h1": -100, "h2": 101}, 0)
    else:
        end = 2**40
    escrows = (client.escrow_of(addr["h1"]), client.escrow_of(addr["h2"]))
    deltas = [(e.participant, e.delta_ueur) for e in batch.entries]
    with pytest.raises(LedgerTxFailed, match=reason):  # straight to the contract
        _raw_settle(client, sender, addr, period, 0, 1, deltas, batch.fees_ueur, end)
    assert (client.escrow_of(addr["h1"]), client.escrow_of(addr["h2"])) == escrows


def test_withdraw_only_what_is_in_escrow_and_not_committed(market):
    client, senders, addr = market
    before = client.balance_of(addr["h2"])
    client.withdraw(senders["h2"], 1_000)
    assert client.balance_of(addr["h2"]) == before + 1_000
    with pytest.raises(LedgerTxFailed, match="overdraft"):
        client.withdraw(senders["h2"], 10**12)
    escrow = client.escrow_of(addr["h2"])
    client.set_commitments(senders["operator"], {addr["h2"]: escrow - 500})
    assert client.committed_of(addr["h2"]) == escrow - 500
    with pytest.raises(LedgerTxFailed, match="funds committed to open bids"):
        client.withdraw(senders["h2"], 501)
    client.withdraw(senders["h2"], 500)
    client.set_commitments(senders["operator"], {addr["h2"]: 0})
    with pytest.raises(LedgerTxFailed, match="only the settlement operator"):
        client.set_commitments(senders["h2"], {addr["h2"]: 0})
    with pytest.raises(LedgerTxFailed, match="commitment exceeds escrow"):
        client.set_commitments(senders["operator"], {addr["h2"]: 10**15})


def test_key_rotation_takes_effect_from_its_slot(market):
    client, senders, addr = market
    client.rotate_key(senders["h1"], addr["h1"], "meter", "55" * 32, from_slot=5_000)
    assert client.key_at(addr["h1"], "meter", 4_999) == "22" * 32
    assert client.key_at(addr["h1"], "meter", 5_000) == "55" * 32
    assert client.key_at(addr["h1"], "message", 5_000) == "11" * 32
    with pytest.raises(LedgerTxFailed, match="rotation must move forward"):
        client.rotate_key(senders["h1"], addr["h1"], "meter", "66" * 32, from_slot=5_000)
    with pytest.raises(LedgerTxFailed, match="only the admin or the owner"):
        client.rotate_key(senders["h2"], addr["h1"], "meter", "66" * 32, from_slot=6_000)


def test_revocation_takes_effect_from_its_slot(market):
    client, senders, addr = market
    client.mint(senders["aggregator"], addr["h3"], 0)
    client.revoke(senders["aggregator"], addr["h3"], from_slot=96 * 100)
    assert client.active_at(addr["h3"], 96 * 100 - 1)
    assert not client.active_at(addr["h3"], 96 * 100)
    assert client.role_of(addr["h3"]) == 0  # revoked as of now (the chain's time is later)
    assert client.key_at(addr["h3"], "meter", 96 * 100) == "00" * 32
    early = SettlementBatch(period=300, first_slot=96 * 99, last_slot=96 * 100 - 1, fees_ueur=0,
                            entries=(SettlementEntry(participant="h3", delta_ueur=0),),
                            trades_root=ZERO, readings_root=ZERO, journal_hash=ZERO)
    client.settle(senders["operator"], early, 0, addr)  # its last period before revocation
    late = early.model_copy(update={"period": 301, "first_slot": 96 * 100})
    with pytest.raises(LedgerTxFailed, match="unknown participant"):
        client.settle(senders["operator"], late, 0, addr)
    with pytest.raises(LedgerTxFailed, match="unknown participant"):
        client.revoke(senders["aggregator"], addr["h3"], 0)
    with pytest.raises(LedgerTxFailed, match="only the admin revokes"):
        client.revoke(senders["h1"], addr["h2"], 0)


def test_erc20_events_for_wallets_and_explorers(market):
    client, senders, addr = market
    start = client.w3.eth.block_number + 1
    client.mint(senders["aggregator"], addr["stranger"], 77)
    client.approve(senders["stranger"], addr["h1"], 5)
    transfers = client.token.events.Transfer().get_logs(from_block=start)
    approvals = client.token.events.Approval().get_logs(from_block=start)
    assert [(e["args"]["receiver"], e["args"]["value"]) for e in transfers] == [
        (addr["stranger"], 77)]
    assert [(e["args"]["owner"], e["args"]["spender"], e["args"]["value"])
            for e in approvals] == [(addr["stranger"], addr["h1"], 5)]


def test_merkle_proofs_verify_every_leaf_and_reject_others():
    leaves = [leaf(bytes([i])) for i in range(7)]
    r = root(leaves)
    for i, lf in enumerate(leaves):
        assert verify(lf, proof(leaves, i), r)
    assert not verify(leaf(b"x"), proof(leaves, 0), r)
    assert root([]) == b"\x00" * 32
