"""Typed Python client of the three contracts, over any web3 connection.

Transactions are signed locally (eth-account) with explicit gas and locally managed nonces, so the
same code runs on the embedded chain and on a JSON-RPC node without node-side signing or gas
estimation (which costs about five times the send on the embedded chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from ledger.compile import Artifact, load
from protocol.errors import FlexmarketError
from protocol.messages import SettlementBatch

ROLES = {"home": 1, "supplier": 2, "dso": 3, "operator": 4, "aggregator": 5}
MAX_FEE_WEI = 50 * 10**9
PRIORITY_FEE_WEI = 10**9


class LedgerTxFailed(FlexmarketError):
    """A transaction reverted; ``reason`` is the contract's revert message."""


def account_from_seed(seed: bytes) -> LocalAccount:
    """Deterministic Ethereum account for simulations and tests."""
    return Account.from_key(keccak(b"flexmarket-eth/" + seed))


class Sender:
    """Signs and sends transactions for one account; keeps its nonce."""

    def __init__(self, w3: Web3, account: LocalAccount) -> None:
        self.w3 = w3
        self.account = account
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

    def send_value(self, to: str, wei: int) -> Any:
        tx = {
            "to": to,
            "value": wei,
            "gas": 21_000,
            "nonce": self.nonce,
            "maxFeePerGas": MAX_FEE_WEI,
            "maxPriorityFeePerGas": PRIORITY_FEE_WEI,
            "chainId": self.chain_id,
        }
        return self._send_tx(tx, None)

    def _send_tx(self, tx: dict, fn: Any) -> Any:
        signed = self.account.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception as exc:
            # eth-tester reverts at send time; the nonce was not used
            raise LedgerTxFailed(_reason(exc)) from exc
        self.nonce += 1
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            reason = f"transaction failed at gas limit {tx['gas']} (out of gas?)"
            if fn is not None:
                try:
                    fn.call({"from": self.address})
                except Exception as exc:
                    reason = _reason(exc)
            raise LedgerTxFailed(reason)
        return receipt


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
        arts = {n: load(n) for n in ("EnergyCredit", "Registry", "Settlement")}
        self.token = w3.eth.contract(address=deployment.token, abi=arts["EnergyCredit"].abi)
        self.registry = w3.eth.contract(address=deployment.registry, abi=arts["Registry"].abi)
        self.settlement = w3.eth.contract(
            address=deployment.settlement, abi=arts["Settlement"].abi
        )
        self.gas_used: dict[str, list[int]] = {}

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
        """Register (address, role, message key hex, meter key hex, zone index), 200 per tx."""
        for i in range(0, len(participants), 200):
            chunk = [
                (addr, ROLES[role], bytes.fromhex(mk), bytes.fromhex(meter or "00" * 32), zone)
                for addr, role, mk, meter, zone in participants[i : i + 200]
            ]
            fn = self.registry.functions.register_many(chunk)
            self._record("register_many", admin.send(fn, gas=60_000 + 140_000 * len(chunk)))

    def revoke(self, admin: Sender, account: str) -> None:
        self._record("revoke", admin.send(self.registry.functions.revoke(account), gas=80_000))

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

    def settle(self, operator: Sender, batch: SettlementBatch, end_time: int,
               address_of: dict[str, str]) -> Any:
        """Submit one settlement batch; participants are mapped to their chain addresses."""
        entries = [(address_of[e.participant], e.delta_ueur) for e in batch.entries]
        fn = self.settlement.functions.settle(
            batch.period,
            end_time,
            entries,
            batch.fees_ueur,
            len(batch.held),
            bytes.fromhex(batch.trades_root),
            bytes.fromhex(batch.readings_root),
            bytes.fromhex(batch.journal_hash),
        )
        gas = 400_000 + 30_000 * len(entries)  # period record (6 slots) + cold fee transfer
        return self._record("settle", operator.send(fn, gas=gas))

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
        return self.settlement.functions.settled(period).call()

    def period_record(self, period: int) -> dict:
        end, n, fees, held, troot, rroot, jhash = self.settlement.functions.periods(period).call()
        return {
            "end_time": end,
            "entries": n,
            "fees": fees,
            "held": held,
            "trades_root": troot.hex(),
            "readings_root": rroot.hex(),
            "journal_hash": jhash.hex(),
        }

    def role_of(self, address: str) -> int:
        return self.registry.functions.role_of(address).call()

    def meter_key_of(self, address: str) -> str:
        return self.registry.functions.meter_key_of(address).call().hex()
