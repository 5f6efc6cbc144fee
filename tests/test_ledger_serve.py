"""`flexmarket ledger serve`: a real JSON-RPC node process, killed and restarted under load."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from web3 import Web3

from ledger.client import LedgerClient, Sender, account_from_seed
from protocol.messages import SettlementBatch, SettlementEntry

ZERO = "00" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """A `flexmarket ledger serve` process on a free loopback port."""

    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.data_dir = data_dir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        exe = shutil.which("flexmarket")
        cmd = [exe] if exe else [sys.executable, "-m", "sim.cli"]
        self.proc = subprocess.Popen(
            [*cmd, "ledger", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        banner = self.proc.stdout.readline()
        for _ in range(400):
            try:
                if Web3(Web3.HTTPProvider(self.url)).is_connected():
                    return banner
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"ledger serve did not start: {banner}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def _batch(period: int, deltas: dict[str, int]) -> SettlementBatch:
    return SettlementBatch(
        period=period, first_slot=0, last_slot=95, fees_ueur=-sum(deltas.values()),
        entries=tuple(SettlementEntry(participant=p, delta_ueur=d) for p, d in deltas.items()),
        trades_root=ZERO, readings_root=ZERO, journal_hash=ZERO)


@pytest.fixture()
def node(tmp_path):
    n = Node(tmp_path / "ledger")
    n.start()
    yield n
    if n.proc and n.proc.poll() is None:
        n.kill()


def test_served_chain_survives_a_kill_and_a_settlement_survives_an_outage(node):
    w3 = Web3(Web3.HTTPProvider(node.url))
    accts = {n: account_from_seed(f"serve/{n}".encode()) for n in ("agg", "op", "dso", "a", "b")}
    for n in ("agg", "op"):
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": accts[n].address,
                                 "value": 10**20})
    agg, op = Sender(w3, accts["agg"]), Sender(w3, accts["op"], backoff_s=0.1)
    client = LedgerClient.deploy(agg, accts["op"].address, accts["dso"].address)
    client.register_many(agg, [(accts[n].address, "home", "11" * 32, "22" * 32, 0)
                               for n in ("a", "b")])
    client.fund_escrow(agg, {accts["a"].address: 1_000_000, accts["b"].address: 1_000_000})
    addr = {n: a.address for n, a in accts.items()}
    client.settle(op, _batch(1, {"a": -300, "b": 200}), 0, addr)
    before = (client.escrow_of(addr["a"]), client.escrow_of(addr["b"]), client.total_supply())

    node.kill()  # no graceful shutdown: only the fsynced journal survives
    banner = node.start()
    assert "journaled transactions replayed" in banner
    assert int(banner.split(";")[1].split()[0]) >= 8
    assert (client.escrow_of(addr["a"]), client.escrow_of(addr["b"]),
            client.total_supply()) == before
    assert client.is_settled(1)
    assert client.balance_of(addr["dso"]) == 100

    node.kill()  # the node is down when the next settlement starts...
    done: list = []
    worker = threading.Thread(target=lambda: done.append(
        client.settle(op, _batch(2, {"a": -50, "b": 50}), 0, addr, deadline_s=60)))
    worker.start()
    time.sleep(1.0)
    node.start()  # ...and comes back a second later
    worker.join(60)
    assert done and len(done[0]) == 1
    assert client.is_settled(2)
    assert (client.escrow_of(addr["a"]), client.escrow_of(addr["b"])) == (
        before[0] - 50, before[1] + 50)
    assert client.settle(op, _batch(2, {"a": -50, "b": 50}), 0, addr) == []  # never doubled


def test_standard_json_rpc_answers(node):
    def rpc(payload):
        req = urllib.request.Request(node.url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=10).read())

    assert rpc({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})["result"]
    batch = rpc([{"jsonrpc": "2.0", "id": i, "method": m, "params": []}
                 for i, m in enumerate(["eth_blockNumber", "net_version", "web3_clientVersion"])])
    assert [r["id"] for r in batch] == [0, 1, 2]
    assert rpc({"jsonrpc": "2.0", "id": 2, "method": "eth_nope", "params": []})["error"][
        "code"] == -32601
    bad = rpc({"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["zz"]})
    assert "error" in bad
    block = rpc({"jsonrpc": "2.0", "id": 4, "method": "eth_getBlockByNumber",
                 "params": ["latest", False]})["result"]
    assert block["number"] == "0x0" and len(block["logsBloom"]) == 514
