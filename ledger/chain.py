"""Chain backends: the embedded eth-tester/py-evm chain, or any Ethereum JSON-RPC URL."""

from __future__ import annotations

from web3 import Web3

from protocol.errors import FlexmarketError


class LedgerUnavailable(FlexmarketError):
    """The ledger node cannot be reached."""


def embedded_chain() -> tuple[Web3, str]:
    """A fresh in-process chain; returns web3 and a funded account that can pay for others."""
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import EthereumTesterProvider

    backend = PyEVMBackend()
    w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
    return w3, w3.eth.accounts[0]


def rpc_chain(url: str) -> Web3:
    """web3 connected to the JSON-RPC node at ``url``."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    if not w3.is_connected():
        raise LedgerUnavailable(f"no Ethereum JSON-RPC node answers at {url}")
    return w3
