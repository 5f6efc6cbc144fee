"""``flexmarket meter simulate``: a P1 bridge on TCP that serves a simulated home's telegrams.

It plays one home of the default scenario (SimBench profiles) through a :class:`TelegramMeter`
to the first client that connects, like a ser2net bridge in front of a real meter.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

from meter_oracle.cli import host_port
from meter_oracle.simulated import TelegramMeter
from protocol.units import SLOTS_PER_DAY, slot_start
from sim.profiles import simbench_profiles, synthetic_profiles
from sim.scenario import default_scenario, home_day_wh


def add_parser(msub: argparse._SubParsersAction) -> None:
    sim = msub.add_parser("simulate", help="serve a simulated meter's P1 telegrams over TCP")
    sim.add_argument("--listen", type=host_port, default=("127.0.0.1", 2000),
                     help="HOST:PORT to listen on (127.0.0.1:2000)")
    sim.add_argument("--home", type=int, default=1, help="home number in the default scenario")
    sim.add_argument("--slots", type=int, default=8, help="slots of telegrams to send (8)")
    sim.add_argument("--fluvius", action="store_true", help="Belgian e-MUCS telegrams")
    sim.add_argument("--profiles", choices=("simbench", "synthetic"), default="simbench")
    sim.add_argument("--pace", type=float, default=0.0,
                     help="seconds between telegrams (0: as fast as the client reads)")


def cmd_simulate(args: argparse.Namespace) -> int:
    sc = default_scenario()
    if not 1 <= args.home <= len(sc.homes):
        print(f"flexmarket: error: --home must be 1..{len(sc.homes)}", file=sys.stderr)
        return 2
    home = sc.homes[args.home - 1]
    profiles = simbench_profiles() if args.profiles == "simbench" else synthetic_profiles(0)
    load, pv = home_day_wh(home, profiles, sc.start_day)
    meter = TelegramMeter(home.home_id, fluvius=args.fluvius)
    with socket.create_server(args.listen) as server:
        print(f"P1 bridge for {home.home_id} on {args.listen[0]}:{args.listen[1]}",
              file=sys.stderr, flush=True)
        conn, _ = server.accept()
        with conn:
            first = sc.first_slot
            for i in range(args.slots):
                net = int(load[i % SLOTS_PER_DAY] - pv[i % SLOTS_PER_DAY])
                for telegram in meter.run_slot(first + i, max(net, 0), max(-net, 0)):
                    conn.sendall(telegram)
                    if args.pace:
                        time.sleep(args.pace)
            conn.sendall(meter.telegram_now(slot_start(first + args.slots)))
    return 0
