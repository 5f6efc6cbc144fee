"""Typed Python client of the three contracts, over any web3 connection.

Transactions are signed locally (eth-account) with explicit gas and locally managed nonces, so the
same code runs on the embedded chain and on a JSON-RPC node without node-side signing or gas
estimation (which costs about five times the send on the embedded chain).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, keccak
from web3 import Web3

from ledger.chain import LedgerUnavailable
from ledger.compile import CONTRACTS, Artifact, load
from protocol.errors import FlexmarketError
from protocol.messages import SettlementBatch

ROLES = {"home": 1, "supplier": 2, "dso": 3, "operator": 4, "aggregator": 5}
KEY_KINDS = {"message": 0, "meter": 1}
MAX_ENTRIES = 512  # Settlement.vy's DynArray bound: larger batches go in parts
MAX_FEE_WEI = 50 * 10**9
PRIORITY_FEE_WEI = 10**9


SETTLE_TYPES = ["uint256", "uint256", "uint256", "uint256", "uint256", "(address,int256)[]",
                "uint256", "uint256", "uint256", "bytes32", "bytes32", "bytes32"]


class LedgerTxFailed(FlexmarketError):
    """A transaction reverted; ``reason`` is the contract's revert message."""


def account_from_seed(seed: bytes) -> LocalAccount:
    """Deterministic Ethereum account for simulations and tests."""
    return Account.from_key(keccak(b"flexmarket-eth/" + seed))


class Sender:
    """Signs and sends transactions for one account; keeps its nonce."""

    def __init__(self, w3: Web3, account: LocalAccount, retries: int = 8,
                 backoff_s: float = 0.25, timeout_s: float = 120.0) -> None:
        self.w3 = w3
        self.account = account
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.chain_id = w3.eth.chain_id
        self.nonce = w3.eth.get_transaction_count(account.address)

    @property
    def address(self) -> str:
        return self.account.address

    def send(self, fn: Any, gas: int, value: int = 0) -> Any:
        """Send contract call ``fn`` with ``gas``; returns the receipt or raises LedgerTxFailed."""
        params = {
            "from": self.address,
            "nonce": self.nonce,
            "gas": gas,
            "maxFeePerGas": MAX_FEE_WEI,
            "maxPriorityFeePerGas": PRIORITY_FEE_WEI,
            "chainId": self.chain_id,
            "value": value,
        }
        try:
            tx = fn.build_transaction(params)
        except Exception as exc:  # web3 raises its own types for reverts during building
            raise LedgerTxFailed(_reason(exc)) from exc
        return self._send_tx(tx, fn)

    def resync(self) -> None:
        """Take the nonce from the chain again (after a node restart or a lost answer)."""
        self.nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")

    def send_data(self, to: str, data: bytes, gas: int) -> Any:
        """Send pre-encoded call ``data`` to contract ``to`` (fast path for large batches)."""
        tx = {
            "to": to,
            "data": data,
            "value": 0,
            "gas": gas,
            "nonce": self.nonce,
            "maxFeePerGas": MAX_FEE_WEI,
            "maxPriorityFeePerGas": PRIORITY_FEE_WEI,
            "chainId": self.chain_id,
        }
        return self._send_tx(tx, None)

    def _send_tx(self, tx: dict, fn: Any) -> Any:
        """Sign once; send (re-sending the same bytes while the node is unreachable); wait."""
        signed = self.account.sign_transaction(tx)
        tx_hash = signed.hash
        for attempt in range(self.retries + 1):
            try:
                try:
                    self.w3.eth.send_raw_transaction(signed.raw_transaction)
                except Exception as exc:
                    if _is_connection_error(exc):
                        raise
                    if not _already_known(exc):
                        # eth-tester reverts at send time; the nonce was not used
                        raise LedgerTxFailed(_reason(exc)) from exc
                receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.timeout_s)
                break
            except Exception as exc:
                if not _is_connection_error(exc) or attempt == self.retries:
                    if isinstance(exc, LedgerTxFailed):
                        raise
                    if _is_connection_error(exc):
                        raise LedgerUnavailable(f"ledger node unreachable: {exc}") from exc
                    raise
                time.sleep(min(self.backoff_s * 2**attempt, 5.0))
        self.nonce += 1
        if receipt["status"] != 1:
            reason = f"transaction failed at gas limit {tx['gas']} (out of gas?)"
            try:
                if fn is not None:
                    fn.call({"from": self.address})
                else:
                    self.w3.eth.call({"from": self.address, "to": tx["to"], "data": tx["data"]})
            except Exception as exc:
                reason = _reason(exc)
            raise LedgerTxFailed(reason)
        return receipt


def _is_connection_error(exc: Exception) -> bool:
    import requests

    return isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError,
                            requests.exceptions.Timeout, TimeoutError))


def _already_known(exc: Exception) -> bool:
    text = str(exc).lower()
    return "already known" in text or "already imported" in text or "nonce too low" in text


def _reason(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text.removeprefix("execution reverted: ")


@dataclass
class Deployment:
    """Addresses of one market's contracts."""

    token: str
    registry: str
    settlement: str


class LedgerClient:
    """Calls and transactions on EnergyCredit, Registry and Settlement."""

    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        self.w3 = w3
        self.deployment = deployment
        arts = {n: load(n) for n in CONTRACTS}
        self.token = w3.eth.contract(address=deployment.token, abi=arts["EnergyCredit"].abi)
        self.registry = w3.eth.contract(address=deployment.registry, abi=arts["Registry"].abi)
        self.settlement = w3.eth.contract(
            address=deployment.settlement, abi=arts["Settlement"].abi
        )
        self.gas_used: dict[str, list[int]] = {}
        settle_abi = next(f for f in arts["Settlement"].abi if f.get("name") == "settle")
        self._settle_selector = function_abi_to_4byte_selector(settle_abi)

    # ---- deployment -------------------------------------------------------------------------
    @staticmethod
    def _deploy(sender: Sender, art: Artifact, *args: Any) -> str:
        contract = sender.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        receipt = sender.send(contract.constructor(*args), gas=3_000_000)
        return receipt["contractAddress"]

    @classmethod
    def deploy(cls, aggregator: Sender, operator: str, dso: str) -> LedgerClient:
        """Deploy token, registry and settlement; the aggregator mints and administers."""
        token = cls._deploy(aggregator, load("EnergyCredit"), aggregator.address)
        registry = cls._deploy(aggregator, load("Registry"))
        settlement = cls._deploy(aggregator, load("Settlement"), token, registry, operator, dso)
        return cls(aggregator.w3, Deployment(token, registry, settlement))

    def _record(self, name: str, receipt: Any) -> Any:
        self.gas_used.setdefault(name, []).append(receipt["gasUsed"])
        return receipt

    # ---- transactions -----------------------------------------------------------------------
    def register_many(self, admin: Sender, participants: list[tuple[str, str, str, str, int]]):
        """Register (address, role, message key hex, meter key hex, zone index), 100 per tx."""
        for i in range(0, len(participants), 100):
            chunk = [
                (addr, ROLES[role], bytes.fromhex(mk), bytes.fromhex(meter or "00" * 32), zone)
                for addr, role, mk, meter, zone in participants[i : i + 100]
            ]
            fn = self.registry.functions.register_many(chunk)
            self._record("register_many", admin.send(fn, gas=80_000 + 200_000 * len(chunk)))

    def revoke(self, admin: Sender, account: str, from_slot: int = 0) -> None:
        """Revoke ``account`` from ``from_slot`` on (earlier periods still settle)."""
        fn = self.registry.functions.revoke(account, from_slot)
        self._record("revoke", admin.send(fn, gas=80_000))

    def rotate_key(self, sender: Sender, account: str, kind: str, key_hex: str,
                   from_slot: int) -> None:
        """A new message or meter key for ``account``, valid from ``from_slot``."""
        fn = self.registry.functions.rotate_key(account, KEY_KINDS[kind], bytes.fromhex(key_hex),
                                                from_slot)
        self._record("rotate_key", sender.send(fn, gas=150_000))

    def mint(self, aggregator: Sender, to: str, amount_ueur: int) -> None:
        self._record("mint", aggregator.send(self.token.functions.mint(to, amount_ueur), 120_000))

    def approve(self, owner: Sender, spender: str, amount_ueur: int) -> None:
        fn = self.token.functions.approve(spender, amount_ueur)
        self._record("approve", owner.send(fn, gas=80_000))

    def transfer(self, owner: Sender, to: str, amount_ueur: int) -> None:
        fn = self.token.functions.transfer(to, amount_ueur)
        self._record("transfer", owner.send(fn, gas=80_000))

    def deposit(self, owner: Sender, amount_ueur: int) -> None:
        fn = self.settlement.functions.deposit(amount_ueur)
        self._record("deposit", owner.send(fn, gas=150_000))

    def withdraw(self, owner: Sender, amount_ueur: int) -> None:
        fn = self.settlement.functions.withdraw(amount_ueur)
        self._record("withdraw", owner.send(fn, gas=120_000))

    def fund_escrow(self, aggregator: Sender, credits: dict[str, int]) -> None:
        """Mint euros deposited off-chain and credit them to participants' escrow, in batches."""
        items = sorted(credits.items())
        total = sum(credits.values())
        self.mint(aggregator, aggregator.address, total)
        self.approve(aggregator, self.deployment.settlement, total)
        for i in range(0, len(items), 256):
            chunk = items[i : i + 256]
            fn = self.settlement.functions.deposit_for(chunk)
            self._record("deposit_for", aggregator.send(fn, gas=80_000 + 40_000 * len(chunk)))

    def set_commitments(self, operator: Sender, committed: dict[str, int]) -> None:
        """State how much of each escrow open bids commit (µ€); it cannot be withdrawn."""
        items = sorted(committed.items())
        for i in range(0, len(items), MAX_ENTRIES):
            chunk = items[i : i + MAX_ENTRIES]
            fn = self.settlement.functions.set_commitments(chunk)
            self._record("set_commitments", operator.send(fn, gas=60_000 + 32_000 * len(chunk)))

    def settle(self, operator: Sender, batch: SettlementBatch, end_time: int,
               address_of: dict[str, str], max_entries: int = MAX_ENTRIES,
               deadline_s: float = 300.0) -> list[Any]:
        """Submit one period's batch, in parts of at most ``max_entries``; returns the receipts.

        Idempotent: parts the chain already holds are skipped. While the node is down or
        restarting it retries with backoff (resyncing the nonce) for up to ``deadline_s``, so a
        node outage neither loses nor doubles a batch.
        """
        give_up = time.monotonic() + deadline_s
        pause = 0.25
        while True:
            try:
                return self._settle_once(operator, batch, end_time, address_of, max_entries)
            except Exception as exc:
                if not (isinstance(exc, LedgerUnavailable) or _is_connection_error(exc)):
                    raise
                if time.monotonic() > give_up:
                    raise LedgerUnavailable(f"ledger node unreachable: {exc}") from exc
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
                try:
                    operator.resync()
                except Exception as again:
                    if not _is_connection_error(again):
                        raise

    def _settle_once(self, operator: Sender, batch: SettlementBatch, end_time: int,
                     address_of: dict[str, str], max_entries: int) -> list[Any]:
        entries = [(address_of[e.participant], e.delta_ueur) for e in batch.entries]
        chunks = [entries[i : i + max_entries] for i in range(0, len(entries), max_entries)]
        chunks = chunks or [[]]
        receipts = []
        for part, chunk in enumerate(chunks):
            if self.is_settled(batch.period) or self.next_part(batch.period) > part:
                continue
            data = self._settle_selector + abi_encode(
                SETTLE_TYPES,
                [batch.period, batch.first_slot, end_time, part, len(chunks), chunk,
                 batch.fees_ueur, batch.imbalance_ueur, len(batch.held),
                 bytes.fromhex(batch.trades_root), bytes.fromhex(batch.readings_root),
                 bytes.fromhex(batch.journal_hash)],
            )
            gas = 200_000 + 12_500 * len(chunk)  # measured: ~150 k fixed + ~10.8 k per entry
            receipt = operator.send_data(self.deployment.settlement, data, gas)
            receipts.append(self._record("settle", receipt))
        return receipts

    # ---- views ------------------------------------------------------------------------------
    def balance_of(self, address: str) -> int:
        return self.token.functions.balanceOf(address).call()

    def escrow_of(self, address: str) -> int:
        return self.settlement.functions.escrow(address).call()

    def total_supply(self) -> int:
        return self.token.functions.totalSupply().call()

    def total_escrow(self) -> int:
        return self.settlement.functions.total_escrow().call()

    def is_settled(self, period: int) -> bool:
        return self.settlement.functions.settled(period).call() != b"\x00" * 32

    def next_part(self, period: int) -> int:
        return self.settlement.functions.next_part(period).call()

    def committed_of(self, address: str) -> int:
        return self.settlement.functions.committed(address).call()

    def period_record(self, period: int) -> dict:
        """The PeriodSettled record of ``period`` (from its event), checked against the chain."""
        stored = self.settlement.functions.settled(period).call()
        if stored == b"\x00" * 32:
            raise LedgerTxFailed(f"period {period} is not settled")
        logs = self.settlement.events.PeriodSettled().get_logs(
            from_block=0, argument_filters={"period": period})
        args = dict(logs[-1]["args"])
        if args["record"] != stored:
            raise LedgerTxFailed(f"period {period}: event record does not match the chain")
        return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in args.items()}

    def role_of(self, address: str) -> int:
        return self.registry.functions.role_of(address).call()

    def active_at(self, address: str, slot: int) -> bool:
        return self.registry.functions.active_at(address, slot).call()

    def key_at(self, address: str, kind: str, slot: int) -> str:
        return self.registry.functions.key_at(address, KEY_KINDS[kind], slot).call().hex()

    def key_history(self, address: str, kind: str) -> list[tuple[int, str]]:
        """(from_slot, key hex) of every version of a key, oldest first."""
        versions = self.registry.functions.key_history(address, KEY_KINDS[kind]).call()
        return [(from_slot, key.hex()) for key, from_slot in versions]

    def revoked_from(self, address: str) -> int | None:
        """First revoked slot of ``address``, or None."""
        slot = self.registry.functions.revoked_from(address).call()
        return None if slot == 2**256 - 1 else slot

    def meter_key_of(self, address: str) -> str:
        return self.registry.functions.meter_key_of(address).call().hex()
