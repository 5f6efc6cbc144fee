"""The command line as a user meets it: a real process, real files, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def flexmarket(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("flexmarket")
    cmd = [exe] if exe else [sys.executable, "-m", "sim.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.mark.parametrize(
    "args, message",
    [
        (["simulate", "--homes", "0"], "must be at least 1"),
        (["simulate", "--days", "two"], "is not a whole number"),
        (["simulate", "--start", "26/05/2016"], "is not a date"),
        (["simulate", "--transformer-kva", "-5"], "must be positive"),
        (["simulate", "--profiles", "random"], "invalid choice"),
        (["simulate", "--ledger-url", "http://127.0.0.1:9"], "no Ethereum JSON-RPC node"),
        (["simulate", "--grid", "1-LV-nowhere--0-sw"], "is not a SimBench LV grid"),
        (["simulate", "--grid", "1-LV-rural1--2-sw", "--preset", "2030-green-high"],
         "are exclusive"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_options_say_what_is_wrong_without_traceback(args, message, tmp_path):
    proc = flexmarket(*args, "--out", str(tmp_path / "r")) if args[0] == "simulate" else (
        flexmarket(*args))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_out_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    proc = flexmarket("simulate", "--homes", "3", "--profiles", "synthetic", "--out", str(f))
    assert proc.returncode == 2 and "is not a folder" in proc.stderr


def test_simulate_writes_a_report(tmp_path):
    out = tmp_path / "report"
    proc = flexmarket("simulate", "--homes", "6", "--profiles", "synthetic", "--seed", "2",
                      "--transformer-kva", "4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"]["homes"] == 6
    assert all(summary["invariants"].values())
    assert len(summary["bills"]["per_home"]) == 6
    run = summary["run"]  # the homes' plans, counted by stage of the day
    assert run["plans"] > 0 and "day-ahead" in run["planning_stages"]
    assert sum(n for n, _ in run["planning_stages"].values()) == run["plans"]
    assert isinstance(run["plans_stood"], int)  # re-plans the plan a home had answered
    for png in ("prices.png", "transformer.png", "bills.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "journal.jsonl").stat().st_size > 0
    assert "energy traded locally" in proc.stdout
    assert "closing wallet balance" in proc.stdout
    assert proc.stdout.count("home-0") >= 6  # every home has its row


def test_plan_shows_one_homes_day_with_its_flexibility(tmp_path):
    """`flexmarket plan`: the home's A-plan on its own last week's forecasts, what a Wh is
    worth in each slot and how far its net could move there, as JSON and a plot; a home that
    is not in the scenario is a clear error."""
    proc = flexmarket("plan", "--home", "home-007", "--profiles", "synthetic",
                      "--out", str(tmp_path / "p"))
    assert proc.returncode == 0, proc.stderr
    assert "flexibility: up to" in proc.stdout
    plan = json.loads((tmp_path / "p" / "plan.json").read_text())
    assert (tmp_path / "p" / "plan.png").stat().st_size > 10_000
    flex = plan["flexibility"]
    assert all(len(flex[k]) == 96 for k in ("up_wh", "down_wh", "up_cost_ueur",
                                            "down_cost_ueur"))
    assert min(flex["up_wh"]) >= 0 and min(flex["down_wh"]) >= 0 and max(flex["up_wh"]) > 0
    assert len(plan["net_wh"]) == 96 and len(plan["marginal_value_ueur_per_kwh"]) == 96
    bad = flexmarket("plan", "--home", "home-999", "--profiles", "synthetic",
                     "--out", str(tmp_path / "q"))
    assert bad.returncode == 2 and "no home 'home-999'" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "q").exists()
