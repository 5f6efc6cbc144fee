"""Keccak-256 Merkle roots over canonical message bytes (sorted-pair hashing, as OpenZeppelin)."""

from __future__ import annotations

from eth_utils import keccak

from protocol.canonical import canonical_json


def leaf(data: bytes) -> bytes:
    """Leaf hash: keccak of keccak (guards against second-preimage with inner nodes)."""
    return keccak(keccak(data))


def root(leaves: list[bytes]) -> bytes:
    """Merkle root of leaf hashes, pairs sorted before hashing; 32 zero bytes when empty."""
    if not leaves:
        return b"\x00" * 32
    level = list(leaves)
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            if i + 1 == len(level):
                nxt.append(level[i])
            else:
                a, b = sorted((level[i], level[i + 1]))
                nxt.append(keccak(a + b))
        level = nxt
    return level[0]


def proof(leaves: list[bytes], index: int) -> list[bytes]:
    """Sibling path proving ``leaves[index]`` under :func:`root`."""
    path, level, i = [], list(leaves), index
    while len(level) > 1:
        sibling = i ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        nxt = []
        for j in range(0, len(level), 2):
            if j + 1 == len(level):
                nxt.append(level[j])
            else:
                a, b = sorted((level[j], level[j + 1]))
                nxt.append(keccak(a + b))
        level, i = nxt, i // 2
    return path


def verify(leaf_hash: bytes, path: list[bytes], expected_root: bytes) -> bool:
    """Check a proof from :func:`proof`."""
    node = leaf_hash
    for sibling in path:
        a, b = sorted((node, sibling))
        node = keccak(a + b)
    return node == expected_root


def root_of_models(models: list) -> str:
    """Hex Merkle root over the canonical JSON of pydantic models, in the given order."""
    return root([leaf(canonical_json(m)) for m in models]).hex()
