"""The JSON-RPC path on a real Ethereum node (anvil): deploy, run a settled day, check balances.

Skipped only when npm is absent (anvil is installed from npm on first use); the skip says so.
"""

from __future__ import annotations

import shutil

import pytest

from ledger.anvil import Anvil, ensure_anvil
from sim.kpi import check_invariants
from sim.profiles import synthetic_profiles
from sim.runner import run_simulation
from sim.scenario import default_scenario

if shutil.which("npm") is None and shutil.which("anvil") is None:
    pytest.skip("npm is absent here, so anvil (a real node) cannot be installed",
                allow_module_level=True)


@pytest.fixture(scope="module")
def anvil_url():
    with Anvil(ensure_anvil()) as url:
        yield url


def test_a_settled_day_on_anvil(anvil_url):
    sc = default_scenario(homes=10, days=1, seed=5, transformer_kva=7.0)
    result = run_simulation(sc, synthetic_profiles(5), ledger_url=anvil_url)
    client = result.chain.client
    assert client.w3.eth.chain_id == 31337  # really anvil, not the embedded chain
    inv = check_invariants(result, audit_replay=False)
    assert inv.money_conserved and inv.escrow_accounted and inv.trades_in_exactly_one_batch
    day = result.days[0]
    assert client.is_settled(day.day)
    addr = result.participants.address_of()
    opening = {"supplier": sc.escrow_per_home_ueur * len(sc.homes), "dso": sc.dso_escrow_ueur}
    assert day.activated_wh  # 7 kVA: the DSO curtails PV in operation and pays its corrections
    for entry in day.settlement.batch.entries:
        expected = opening.get(entry.participant, sc.escrow_per_home_ueur) + entry.delta_ueur
        assert client.escrow_of(addr[entry.participant]) == expected
    assert {e.participant: e.delta_ueur for e in day.settlement.batch.entries}["dso"] == -sum(
        day.settlement.correction_ueur.values())
    # the DSO's wallet: its flexibility budget (pricing, it pays for the morning room it
    # allots to overnight EVs), the fees, less what it paid for flexibility
    paid = sum(o.price_ueur for o in day.flex_orders)
    assert client.balance_of(addr["dso"]) == (sc.dso_flex_budget_ueur
                                              + day.settlement.batch.fees_ueur - paid)
