"""Package boundaries from DESIGN.md, enforced on the source: who may import whom.

Among them, privacy: a home node (``node/``) imports nothing that holds other homes' data —
not the simulator, the exchange's books, the DSO's prognosis or the ledger — so an agent can only
ever see its own plan, its own fills and public market data handed to it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "contracts", "ledger", "meter_oracle", "market", "dso", "node", "wallet",
            "sim", "aggregator")
# package → internal packages it must not import
FORBIDDEN = {
    "protocol": set(PACKAGES) - {"protocol"},
    "contracts": set(PACKAGES) - {"contracts"},
    "ledger": {"market", "node", "dso", "sim", "meter_oracle", "wallet", "aggregator"},
    "meter_oracle": {"market", "node", "dso", "sim", "wallet", "ledger", "aggregator"},
    "market": {"node", "dso", "sim", "ledger", "meter_oracle", "wallet", "aggregator"},
    "dso": {"market", "node", "sim", "ledger", "meter_oracle", "wallet", "aggregator"},
    "node": {"market", "dso", "sim", "ledger", "meter_oracle", "wallet", "aggregator"},
    "wallet": {"market", "node", "dso", "sim", "meter_oracle", "aggregator"},
    # the aggregator plans with the homes' MILP and allots room with dso.flex's pure procedure
    "aggregator": {"market", "sim", "ledger", "meter_oracle", "wallet"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_design(package):
    offenders = []
    for path in sorted((ROOT / package).glob("*.py")):
        bad = _imports(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.name} imports {sorted(bad)}")
    assert offenders == []


def test_contracts_hold_no_python_logic():
    code = (ROOT / "contracts" / "__init__.py").read_text()
    tree = ast.parse(code)
    assert all(isinstance(n, ast.Expr) for n in tree.body)  # a docstring, nothing else
    assert {p.suffix for p in (ROOT / "contracts").iterdir() if p.is_file()} <= {".py", ".vy"}


def test_a_bidder_sees_only_its_own_fills():
    from node.bidder import Bidder
    from protocol.signing import KeyPair
    from protocol.tariff import two_rate_tariff

    b = Bidder("a", "f1", KeyPair.from_seed(b"a"), two_rate_tariff())
    b.opening_orders(0, [100])
    b.on_fill("o0-1", 0, "buy", 40)
    assert b.filled_wh == {0: 40}
    # the agent's whole state is its own identity, key, tariff, fills and quoting strategy
    # (which sees its own limit and the public trade prices): nothing of others
    assert set(vars(b)) == {"home_id", "zone", "key", "tariff", "nonce", "upstream",
                            "open_orders", "filled_wh", "strategy", "_strategies"}
