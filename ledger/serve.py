"""``flexmarket ledger serve``: the embedded chain over Ethereum JSON-RPC on 127.0.0.1.

Other processes, web3 and standard Ethereum tools use it like any node. The embedded chain keeps
no state on disk, so every accepted transaction is appended (and fsynced) to a journal before it
is acknowledged; on start the journal is replayed, transaction by transaction, into a fresh chain
(same genesis, same signed transactions → same accounts, contracts and balances; block times
are those of the replay).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aiohttp import web
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed, TransactionNotFound

from ledger.rpc_codec import block_id, inbound_tx, outbound, quantity

CLIENT_VERSION = "flexmarket-ledger/0.1 (eth-tester, py-evm)"


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class ChainNode:
    """One embedded chain with a durable transaction journal; ``handle`` answers JSON-RPC."""

    def __init__(self, journal: Path | None = None) -> None:
        self.tester = EthereumTester(PyEVMBackend())
        self.chain_id = int(self.tester.backend.chain.chain_id)
        self.payer = self.tester.get_accounts()[0]  # pays (virtually) for eth_call / estimates
        self.journal_path = journal
        self.replayed = 0
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
            if journal.exists():
                self._replay(journal)
            self._journal = open(journal, "a")  # noqa: SIM115 - appended for the node's life

    def _replay(self, path: Path) -> None:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                entry = json.loads(line)
                if "raw" in entry:
                    self.tester.send_raw_transaction(entry["raw"])
                else:
                    self.tester.send_transaction(inbound_tx(entry["tx"], kind="send"))
                self.replayed += 1

    def _record(self, entry: dict) -> None:
        if self.journal_path is not None:
            self._journal.write(json.dumps(entry) + "\n")
            self._journal.flush()
            os.fsync(self._journal.fileno())

    def close(self) -> None:
        if self.journal_path is not None:
            self._journal.close()

    # ---- JSON-RPC ---------------------------------------------------------------------------
    def handle(self, method: str, params: list) -> Any:
        fn = getattr(self, "rpc_" + method, None)
        if fn is None:
            raise RpcError(-32601, f"method {method} is not supported")
        try:
            return fn(*params)
        except TransactionFailed as exc:
            reason = str(exc.args[0]) if exc.args else "execution reverted"
            if not reason.startswith("execution reverted"):
                reason = f"execution reverted: {reason}"
            raise RpcError(3, reason) from exc
        except TypeError as exc:
            raise RpcError(-32602, f"invalid params for {method}: {exc}") from exc

    def rpc_web3_clientVersion(self) -> str:
        return CLIENT_VERSION

    def rpc_net_version(self) -> str:
        return str(self.chain_id)

    def rpc_eth_chainId(self) -> str:
        return hex(self.chain_id)

    def rpc_eth_syncing(self) -> bool:
        return False

    def rpc_eth_blockNumber(self) -> str:
        return hex(self.tester.get_block_by_number("latest")["number"])

    def rpc_eth_accounts(self) -> list[str]:
        return list(self.tester.get_accounts())

    def rpc_eth_getBalance(self, address: str, block: Any = "latest") -> str:
        return hex(self.tester.get_balance(address, block_id(block)))

    def rpc_eth_getTransactionCount(self, address: str, block: Any = "latest") -> str:
        tag = block_id(block)
        return hex(self.tester.get_nonce(address, "latest" if tag == "pending" else tag))

    def rpc_eth_getCode(self, address: str, block: Any = "latest") -> str:
        return outbound(self.tester.get_code(address, block_id(block)))

    def rpc_eth_getStorageAt(self, address: str, position: str, block: Any = "latest") -> str:
        value = self.tester.get_storage_at(address, quantity(position), block_id(block))
        return outbound(value)

    def rpc_eth_call(self, tx: dict, block: Any = "latest", *_: Any) -> str:
        call = inbound_tx(tx, kind="call", default_from=self.payer)
        return outbound(self.tester.call(call, block_id(block)))

    def rpc_eth_estimateGas(self, tx: dict, block: Any = "latest", *_: Any) -> str:
        call = inbound_tx(tx, kind="estimate", default_from=self.payer)
        return hex(self.tester.estimate_gas(call, block_id(block)))

    def rpc_eth_gasPrice(self) -> str:
        return hex(self.tester.get_block_by_number("latest")["base_fee_per_gas"] + 10**9)

    def rpc_eth_maxPriorityFeePerGas(self) -> str:
        return hex(10**9)

    def rpc_eth_feeHistory(self, count: Any, newest: Any, percentiles: list | None = None):
        return outbound(self.tester.get_fee_history(quantity(count), block_id(newest),
                                                    percentiles or []))

    def rpc_eth_sendRawTransaction(self, raw: str) -> str:
        tx_hash = self.tester.send_raw_transaction(raw)
        self._record({"raw": raw})
        return tx_hash

    def rpc_eth_sendTransaction(self, tx: dict) -> str:
        tx_hash = self.tester.send_transaction(inbound_tx(tx, kind="send"))
        self._record({"tx": tx})
        return tx_hash

    def rpc_eth_getTransactionByHash(self, tx_hash: str) -> dict | None:
        try:
            return outbound(self.tester.get_transaction_by_hash(tx_hash))
        except TransactionNotFound:
            return None

    def rpc_eth_getTransactionReceipt(self, tx_hash: str) -> dict | None:
        try:
            receipt = self.tester.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None
        if receipt is None:
            return None
        receipt = dict(receipt)
        receipt.pop("state_root", None)
        out = outbound(receipt)
        out["logsBloom"] = "0x" + "0" * 512
        return out

    def rpc_eth_getBlockByNumber(self, block: Any, full: bool = False) -> dict | None:
        return self._block(self.tester.get_block_by_number(block_id(block), full))

    def rpc_eth_getBlockByHash(self, block_hash: str, full: bool = False) -> dict | None:
        return self._block(self.tester.get_block_by_hash(block_hash, full))

    @staticmethod
    def _block(block: dict | None) -> dict | None:
        return None if block is None else outbound(block)

    def rpc_eth_getLogs(self, params: dict) -> list[dict]:
        if "blockHash" in params:
            number = self.tester.get_block_by_hash(params["blockHash"])["number"]
            start = end = number
        else:
            start = block_id(params.get("fromBlock", "latest"))
            end = block_id(params.get("toBlock", "latest"))
        latest = self.tester.get_block_by_number("latest")["number"]
        start = latest if start in ("latest", "pending") else (0 if start == "earliest" else start)
        end = latest if end in ("latest", "pending") else (0 if end == "earliest" else end)
        logs = self.tester.get_logs(from_block=start, to_block=end,
                                    address=params.get("address"), topics=params.get("topics"))
        out = []
        for log in logs:
            item = dict(log)
            item.pop("type", None)
            item["removed"] = False
            out.append(outbound(item))
        return out


def make_app(node: ChainNode) -> web.Application:
    """The aiohttp app answering JSON-RPC (single and batch requests) at ``/``."""

    def answer(req: Any) -> dict:
        if not isinstance(req, dict) or "method" not in req:
            return {"jsonrpc": "2.0", "id": None,
                    "error": {"code": -32600, "message": "invalid request"}}
        rid = req.get("id")
        try:
            result = node.handle(req["method"], list(req.get("params") or []))
            return {"jsonrpc": "2.0", "id": rid, "result": result}
        except RpcError as exc:
            err = {"code": exc.code, "message": exc.message}
            return {"jsonrpc": "2.0", "id": rid, "error": err}
        except Exception as exc:  # a bad request must never take the node down
            return {"jsonrpc": "2.0", "id": rid,
                    "error": {"code": -32603, "message": f"{type(exc).__name__}: {exc}"}}

    async def rpc(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"jsonrpc": "2.0", "id": None,
                                      "error": {"code": -32700, "message": "parse error"}})
        if isinstance(body, list):
            return web.json_response([answer(r) for r in body])
        return web.json_response(answer(body))

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/", rpc)
    return app


def serve(host: str, port: int, data_dir: Path | None) -> None:
    """Run the node until interrupted."""
    journal = None if data_dir is None else data_dir / "chain-journal.jsonl"
    node = ChainNode(journal)
    print(f"flexmarket ledger: JSON-RPC on http://{host}:{port} (chain id {node.chain_id}); "
          f"{node.replayed} journaled transactions replayed"
          + (f" from {journal}" if journal else "; no --data-dir, nothing persists"), flush=True)
    try:
        web.run_app(make_app(node), host=host, port=port, print=None)
    finally:
        node.close()
