"""Shared fixtures: keys, a small market configuration, a deployed ledger."""

from __future__ import annotations

import pytest

from market.config import MarketConfig
from protocol.signing import KeyDirectory, KeyPair
from protocol.tariff import two_rate_tariff
from protocol.topology import transformer_topology

FEEDERS = ("f1", "f2", "f3")


@pytest.fixture()
def keys() -> dict[str, KeyPair]:
    names = ["a", "b", "c", "d", "dso", "operator", "supplier"]
    return {n: KeyPair.from_seed(f"test/{n}".encode()) for n in names}


@pytest.fixture()
def directory(keys) -> KeyDirectory:
    d = KeyDirectory()
    zones = {"a": "f1", "b": "f1", "c": "f2", "d": "f3"}
    for n, k in keys.items():
        role = {"dso": "dso", "operator": "operator", "supplier": "supplier"}.get(n, "home")
        d.add(n, k.public_hex, role, zones.get(n, "upstream"))
    return d


@pytest.fixture()
def config() -> MarketConfig:
    return MarketConfig(tariff=two_rate_tariff(), topology=transformer_topology(FEEDERS))
