"""`flexmarket wallet` against a served chain that a simulated market settled on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from sim.profiles import synthetic_profiles
from sim.runner import run_simulation
from sim.scenario import default_scenario
from tests.test_ledger_serve import Node


def _cli(*args, env=None):
    exe = shutil.which("flexmarket")
    cmd = [exe] if exe else [sys.executable, "-m", "sim.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_wallet_shows_what_the_chain_holds(tmp_path):
    node = Node(tmp_path / "ledger")
    node.start()
    try:
        sc = default_scenario(homes=6, days=2, seed=9, transformer_kva=5.0)
        result = run_simulation(sc, synthetic_profiles(9), out=tmp_path / "out",
                                ledger_url=node.url)
        deployment = tmp_path / "out" / "deployment.json"
        proc = _cli("wallet", "show", "--ledger-url", node.url, "--deployment", str(deployment),
                    "--participant", "home-001", "--json")
        assert proc.returncode == 0, proc.stderr
        shown = json.loads(proc.stdout)
        client = result.chain.client
        address = result.participants.address_of()["home-001"]
        assert shown["escrow_eur"] == client.escrow_of(address) / 1e6
        kinds = [h["kind"] for h in shown["history"]]
        assert kinds == ["deposit", "settlement", "settlement"]
        assert round(sum(h["amount_eur"] for h in shown["history"]), 6) == shown["escrow_eur"]
        assert {h["period"] for h in shown["history"] if h["period"]} == {
            d.day for d in result.days}

        text = _cli("wallet", "show", "--ledger-url", node.url, "--deployment", str(deployment),
                    "--participant", "home-002")
        assert text.returncode == 0 and "escrow" in text.stdout and "settlement" in text.stdout

        keystore = tmp_path / "me.json"
        made = _cli("wallet", "new", "--keystore", str(keystore),
                    env={"FLEXMARKET_PASSWORD": "correct horse battery"})
        assert made.returncode == 0 and keystore.exists()
        mine = _cli("wallet", "show", "--ledger-url", node.url, "--deployment", str(deployment),
                    "--keystore", str(keystore), "--json")
        assert json.loads(mine.stdout)["balance_eur"] == 0

        bad = _cli("wallet", "show", "--ledger-url", node.url, "--deployment",
                   str(tmp_path / "nope.json"), "--participant", "home-001")
        assert bad.returncode == 2 and "cannot read deployment file" in bad.stderr
        assert "Traceback" not in bad.stderr
        stranger = _cli("wallet", "show", "--ledger-url", node.url, "--deployment",
                        str(deployment), "--participant", "home-999")
        assert stranger.returncode == 2 and "no participant" in stranger.stderr
    finally:
        node.kill()
