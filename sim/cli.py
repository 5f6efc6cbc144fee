"""The ``flexmarket`` command line: one subcommand per job.

Bad options or inputs print what is wrong and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

from meter_oracle import cli as meter_cli
from protocol.errors import FlexmarketError
from sim import meter_feed
from sim.presets import PRESETS
from wallet import cli as wallet_cli


def _int_at_least(minimum: int):
    """An argparse type: a whole number ≥ ``minimum``, with a plain-words error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        return value

    return parse


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2016-05-26") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flexmarket", description="Peer-to-peer local flexibility market with a ledger."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="simulate an LV grid market on the embedded chain")
    sim.add_argument("--days", type=_int_at_least(1), default=1, help="days to simulate (1)")
    sim.add_argument("--homes", type=_int_at_least(1), default=184, help="number of homes (184)")
    sim.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (0)")
    sim.add_argument("--start", type=_date, default=None, help="first day, YYYY-MM-DD (2016-05-26)")
    sim.add_argument("--transformer-kva", type=_positive_float, default=None,
                     help="transformer rating (160 kVA × homes/184)")
    sim.add_argument("--preset", choices=sorted(PRESETS), default=None,
                     help="one of the 12 smart-grid presets (assets planned by the MILP planner)")
    sim.add_argument("--dso", choices=("prices", "flexibility", "none"), default="prices",
                     help="the DSO posts congestion prices day ahead (the USEF price loop with "
                          "--preset; default), or buys flexibility home by home day ahead; in "
                          "either it activates flexibility in operation where the metered flow "
                          "still overloads. none: no DSO (the grid as it would run without one)")
    sim.add_argument("--strategy", choices=("local", "zic", "truthful", "zip"), default="local",
                     help="how home agents price quotes before the gate: at the exchange's "
                          "local price (default), or zero-intelligence, truthful re-quoting or "
                          "adaptive ZIP (node/strategy.py); the gate order is the same")
    sim.add_argument("--grid", default=None, metavar="SIMBENCH_CODE",
                     help="a real SimBench LV grid with its own customers and yearly profiles, "
                          "e.g. 1-LV-rural1--2-sw (codes: 1-LV-{rural1,rural2,rural3,semiurb4,"
                          "semiurb5,urban6}--{0,1,2}-sw)")
    sim.add_argument("--grid-model", choices=("ac", "lossless"), default="ac",
                     help="the DSO's congestion points: the transformer and every feeder cable "
                          "by the AC power flow, priced by their sensitivities (default; "
                          "dso/congestion_model.py), or the transformer alone as the sum of the "
                          "homes' net imports")
    sim.add_argument("--profiles", choices=("simbench", "synthetic"), default="simbench",
                     help="real SimBench profiles (default) or the seeded synthetic generator")
    sim.add_argument("--out", type=Path, default=Path("report"), help="report folder (report/)")
    sim.add_argument("--ledger-url", default=None,
                     help="Ethereum JSON-RPC URL instead of the embedded chain")
    sim.add_argument("--no-audit", action="store_true", help="skip the journal replay audit")
    sim.add_argument("--workers", type=_int_at_least(1), default=min(os.cpu_count() or 1, 8),
                     help="processes the homes of one planning round share (the machine's "
                          "cores, at most 8); the same result on any number")
    plan = sub.add_parser("plan", help="one home's day as its node plans it: A-plan, marginal "
                          "values, flexibility (plan.json, plan.png)")
    plan.add_argument("--home", default="home-001", help="the home (home-001)")
    plan.add_argument("--preset", choices=list(PRESETS), default="2030-green-high",
                      help="the smart-grid preset whose homes to plan (2030-green-high)")
    plan.add_argument("--seed", type=_int_at_least(0), default=0, help="scenario seed (0)")
    plan.add_argument("--start", type=_date, default=None, help="the day (2016-05-26)")
    plan.add_argument("--profiles", choices=["simbench", "synthetic"], default="simbench",
                      help="SimBench profiles, or a seeded synthetic fallback (simbench)")
    plan.add_argument("--out", type=Path, default=Path("plan"), help="output folder (plan/)")
    meter_feed.add_parser(meter_cli.add_parser(sub))
    exchange = sub.add_parser("exchange", help="the exchange service of one LV substation")
    xsub = exchange.add_subparsers(dest="exchange_command", required=True)
    init = xsub.add_parser("init", help="write the market file of the default scenario")
    init.add_argument("--homes", type=_int_at_least(1), default=184)
    init.add_argument("--seed", type=_int_at_least(0), default=0)
    init.add_argument("--out", type=Path, default=Path("market.json"))
    run = xsub.add_parser("run", help="run the exchange over HTTP, journaled")
    run.add_argument("--journal", type=Path, default=Path("exchange-journal.jsonl"))
    run.add_argument("--market", type=Path, default=None,
                     help="market file to start a new journal from (see exchange init)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=_int_at_least(1), default=8600)
    wallet_cli.add_parser(sub)
    ledger = sub.add_parser("ledger", help="the ledger: serve the embedded chain")
    lsub = ledger.add_subparsers(dest="ledger_command", required=True)
    serve = lsub.add_parser("serve", help="serve the embedded chain over JSON-RPC")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_int_at_least(1), default=8545, help="port (8545)")
    serve.add_argument("--data-dir", type=Path, default=Path("ledger-data"),
                       help="where the transaction journal lives (ledger-data/)")
    return parser


def cmd_simulate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sim.kpi import summarise
    from sim.profiles import simbench_profiles, synthetic_profiles
    from sim.report import print_summary, write_report
    from sim.runner import run_simulation
    from sim.scenario import DEFAULT_START, default_scenario, preset_scenario

    console = Console(stderr=True)
    if args.out.exists() and not args.out.is_dir():
        raise FlexmarketError(f"--out {args.out} exists and is not a folder")
    grid_profiles = None
    if args.grid:
        from sim.simbench_grid import SIMBENCH_LV_CODES, simbench_scenario

        if args.grid not in SIMBENCH_LV_CODES:
            raise FlexmarketError(f"--grid {args.grid!r} is not a SimBench LV grid; choose one "
                                  f"of {', '.join(SIMBENCH_LV_CODES)}")
        if args.preset:
            raise FlexmarketError("--grid and --preset are exclusive (a SimBench grid brings "
                                  "its own customers)")
        scenario, grid_profiles = simbench_scenario(args.grid, days=args.days, seed=args.seed,
                                                    start=args.start or DEFAULT_START)
    elif args.preset:
        scenario = preset_scenario(args.preset, homes=args.homes, days=args.days, seed=args.seed,
                                   start=args.start or DEFAULT_START,
                                   transformer_kva=args.transformer_kva)
    else:
        scenario = default_scenario(homes=args.homes, days=args.days, seed=args.seed,
                                    start=args.start or DEFAULT_START,
                                    transformer_kva=args.transformer_kva)
    scenario.strategy = args.strategy
    scenario.grid_model = args.grid_model
    scenario.dso_buys_flexibility = args.dso == "flexibility"
    if args.dso == "none":
        scenario.validation_rounds = 0
        scenario.dso_operates = False
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[phase]}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("loading profiles", total=args.days, phase="")
        if grid_profiles is not None:
            profiles = grid_profiles
        else:
            profiles = simbench_profiles() if args.profiles == "simbench" else (
                synthetic_profiles(args.seed))
        progress.update(task, description="deploying contracts")

        def on_progress(phase: str, done: int, total: int) -> None:
            progress.update(task, description=f"day {min(done + 1, total)}/{total}",
                            completed=done, phase=phase)

        result = run_simulation(scenario, profiles, out=args.out, ledger_url=args.ledger_url,
                                progress=on_progress, plan_workers=args.workers)
        progress.update(task, description="auditing", phase="replay + invariants")
        summary = summarise(result, audit_replay=not args.no_audit)
        summary["run"] = {"wall_s": round(time.perf_counter() - started, 2),
                          "profiles": profiles.source, "plans": result.plans,
                          "planning_s": round(result.planning_s, 2),
                          "planning_stages": {name: [n, round(spent, 2)] for name, (n, spent)
                                              in result.planning_stages.items()},
                          "plans_stood": result.plans_stood,
                          "plan_workers": args.workers}
        files = write_report(result, summary, args.out)
    print_summary(summary)
    console.print("report: " + ", ".join(str(f) for f in files))
    return 0 if all(v is not False for v in summary["invariants"].values()) else 1


def cmd_plan(args: argparse.Namespace) -> int:
    """One home's plan of a preset's day, with its flexibility, as JSON and a plot."""
    import json

    from sim.home_plan import plan_one_home, plot_home_plan
    from sim.profiles import simbench_profiles, synthetic_profiles
    from sim.scenario import DEFAULT_START, preset_scenario

    if args.out.exists() and not args.out.is_dir():
        raise FlexmarketError(f"--out {args.out} exists and is not a folder")
    sc = preset_scenario(args.preset, seed=args.seed, start=args.start or DEFAULT_START)
    profiles = simbench_profiles() if args.profiles == "simbench" else synthetic_profiles(
        args.seed)
    _, plan = plan_one_home(sc, profiles, args.home)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "plan.json").write_text(json.dumps(plan, indent=1))
    png = plot_home_plan(plan, args.out / "plan.png")
    flex = {k: [v for v in vs if v is not None] or [0] for k, vs in plan["flexibility"].items()}
    print(f"{args.home}: planned cost {plan['cost_ueur'] / 1e6:.2f} €, billed peak "
          f"{plan['billed_peak_wh'] * 4 / 1000:.1f} kW; flexibility: up to "
          f"+{max(flex['up_wh']) * 4 / 1000:.1f} / −{max(flex['down_wh']) * 4 / 1000:.1f} kW "
          f"in a slot (each slot alone); wrote {args.out / 'plan.json'}, {png}")
    return 0


def cmd_exchange_init(args: argparse.Namespace) -> int:
    """The market file (config + key directory) of the default scenario's exchange."""
    import json

    from market.config import MarketConfig
    from market.journal import Journal
    from sim.participants import make_participants
    from sim.scenario import default_scenario

    sc = default_scenario(homes=args.homes, seed=args.seed)
    config = MarketConfig(gate_closure_s=sc.gate_closure_s, tariff=sc.tariff,
                          topology=sc.grid.topology())
    header = Journal(config, make_participants(sc).directory()).header()
    args.out.write_text(json.dumps(header, indent=1, sort_keys=True))
    print(f"wrote {args.out}: {args.homes} homes, seed {args.seed}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "simulate":
            return cmd_simulate(args)
        if args.command == "plan":
            return cmd_plan(args)
        if args.command == "meter" and args.meter_command == "read":
            return meter_cli.cmd_read(args)
        if args.command == "meter" and args.meter_command == "simulate":
            return meter_feed.cmd_simulate(args)
        if args.command == "exchange" and args.exchange_command == "init":
            return cmd_exchange_init(args)
        if args.command == "exchange" and args.exchange_command == "run":
            from market.service import serve as serve_exchange

            serve_exchange(args.journal, args.market, args.host, args.port)
            return 0
        if args.command == "wallet" and args.wallet_command == "new":
            return wallet_cli.cmd_new(args)
        if args.command == "wallet" and args.wallet_command == "show":
            return wallet_cli.cmd_show(args)
        if args.command == "ledger" and args.ledger_command == "serve":
            from ledger.serve import serve

            serve(args.host, args.port, args.data_dir)
            return 0
    except FlexmarketError as exc:
        print(f"flexmarket: error: {exc.reason}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"flexmarket: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("flexmarket: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
