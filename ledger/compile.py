"""Compile the Vyper contracts from source at first use and cache ABI + bytecode on disk.

The cache key is the SHA-256 of the source and the compiler version, so an edited contract or a
new vyper recompiles and a stale artefact is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

CONTRACTS = ("EnergyCredit", "Registry", "Settlement")


@dataclass(frozen=True)
class Artifact:
    """ABI and deployable bytecode of one contract."""

    name: str
    abi: list
    bytecode: str


def cache_dir() -> Path:
    """``$FLEXMARKET_CACHE`` or ``~/.cache/flexmarket``."""
    base = os.environ.get("FLEXMARKET_CACHE") or Path.home() / ".cache" / "flexmarket"
    return Path(base) / "contracts"


def source(name: str) -> str:
    return (resources.files("contracts") / f"{name}.vy").read_text()


def load(name: str) -> Artifact:
    """ABI and bytecode of contract ``name``, compiled now or taken from the cache."""
    import vyper
    from vyper.compiler import compile_code

    src = source(name)
    key = hashlib.sha256(f"{vyper.__version__}\n{src}".encode()).hexdigest()[:24]
    path = cache_dir() / f"{name}-{key}.json"
    if path.exists():
        data = json.loads(path.read_text())
    else:
        out = compile_code(src, output_formats=["abi", "bytecode"])
        data = {"abi": out["abi"], "bytecode": out["bytecode"]}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)  # atomic: concurrent first uses never see a half-written file
    return Artifact(name, data["abi"], data["bytecode"])
