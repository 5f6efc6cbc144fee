"""Between eth-tester's Python values and Ethereum JSON-RPC's wire format.

Inbound: hex quantities → int, camelCase transaction fields → eth-tester's snake_case, block tags.
Outbound: int → hex quantity, bytes → hex data, snake_case keys → camelCase, the bloom padded.
"""

from __future__ import annotations

from typing import Any

QUANTITY_FIELDS = {"gas", "gasPrice", "value", "nonce", "maxFeePerGas", "maxPriorityFeePerGas",
                   "chainId", "type"}
TX_FIELDS = {"from": "from", "to": "to", "gas": "gas", "gasPrice": "gas_price",
             "value": "value", "data": "data", "input": "data", "nonce": "nonce",
             "maxFeePerGas": "max_fee_per_gas", "maxPriorityFeePerGas": "max_priority_fee_per_gas",
             "accessList": "access_list", "chainId": "chain_id"}


def quantity(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(value, 16)


def block_id(value: Any) -> int | str:
    """'latest' / 'pending' / 'earliest' / 'safe' / 'finalized' or a hex number."""
    if value is None:
        return "latest"
    if isinstance(value, str) and not value.startswith("0x"):
        return "latest" if value in ("safe", "finalized") else value
    return quantity(value)


def inbound_tx(tx: dict, *, kind: str, default_from: str = "0x" + "00" * 20) -> dict:
    """A JSON-RPC transaction object as eth-tester takes it (``kind``: call, estimate, send)."""
    out: dict[str, Any] = {}
    for key, value in tx.items():
        name = TX_FIELDS.get(key)
        if name is None or value is None:
            continue
        if key in ("chainId", "type"):
            continue
        if key in QUANTITY_FIELDS:
            value = quantity(value)
        if key == "accessList":
            value = tuple({"address": a["address"], "storage_keys": tuple(a["storageKeys"])}
                          for a in value)
        out[name] = value
    if kind != "send":
        out.setdefault("from", default_from)  # standard clients omit it on calls
    if kind != "send" and "gas" not in out:
        out["gas"] = 30_000_000 if kind == "call" else 29_000_000
    if "gas_price" in out and "max_fee_per_gas" in out:
        del out["gas_price"]
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def outbound(value: Any, key: str = "") -> Any:
    """eth-tester output → JSON-RPC wire value."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if key == "logsBloom":
            return "0x" + format(value, "0512x")
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {_camel(k): outbound(v, _camel(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [outbound(v, key) for v in value]
    return value
