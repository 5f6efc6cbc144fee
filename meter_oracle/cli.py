"""``flexmarket meter read``: live signed 15-minute readings from a P1 port or a TCP bridge."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from meter_oracle.gateway import Gateway, serial_chunks, tcp_chunks
from meter_oracle.p1 import SPECS
from protocol.errors import FlexmarketError
from protocol.signing import KeyPair
from protocol.units import slot_start


def host_port(text: str) -> tuple[str, int]:
    """argparse type for HOST:PORT."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def add_parser(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add ``meter`` and ``meter read``; returns the ``meter`` subcommands for more."""
    meter = sub.add_parser("meter", help="meter oracle: read and sign P1 telegrams")
    msub = meter.add_subparsers(dest="meter_command", required=True)
    read = msub.add_parser("read", help="print live signed 15-minute readings")
    src = read.add_mutually_exclusive_group(required=True)
    src.add_argument("--port", help="serial device of the P1 port, e.g. /dev/ttyUSB0")
    src.add_argument("--tcp", type=host_port, help="P1 bridge (ser2net style), HOST:PORT")
    read.add_argument("--baudrate", type=int, default=115200, help="serial speed (115200)")
    read.add_argument("--spec", choices=("auto", *SPECS), default="auto",
                      help="telegram specification (auto-detected)")
    read.add_argument("--meter-id", default="meter", help="participant id of this meter")
    read.add_argument("--equipment-id", default=None,
                      help="refuse telegrams from any other meter")
    read.add_argument("--key", type=Path, default=Path("meter.key"),
                      help="Ed25519 key file of the meter (created if missing)")
    read.add_argument("--count", type=int, default=0, help="stop after N readings (0: never)")
    read.add_argument("--idle-timeout", type=float, default=60.0,
                      help="stop after this many seconds without data (60)")
    return msub


def _load_or_create_key(path: Path) -> KeyPair:
    if path.exists():
        try:
            return KeyPair.load(path)
        except (OSError, ValueError) as exc:
            raise FlexmarketError(f"cannot read meter key {path}: {exc}") from exc
    key = KeyPair.generate()
    key.save(path)
    print(f"created meter key {path}; register its public key {key.public_hex}",
          file=sys.stderr)
    return key


def cmd_read(args: argparse.Namespace) -> int:
    key = _load_or_create_key(args.key)
    gateway = Gateway(args.meter_id, key, spec=args.spec, equipment_id=args.equipment_id)
    if args.port:
        chunks = serial_chunks(args.port, args.baudrate, idle_limit_s=args.idle_timeout)
    else:
        chunks = tcp_chunks(*args.tcp, timeout_s=args.idle_timeout)
    printed = 0
    for data in chunks:
        for signed in gateway.feed(data):
            r = signed.message
            start = dt.datetime.fromtimestamp(slot_start(r.slot), dt.UTC).isoformat()
            print(json.dumps({"slot": r.slot, "start": start, "import_wh": r.import_wh,
                              "export_wh": r.export_wh, "estimated": r.estimated,
                              "signed": json.loads(signed.to_json())}), flush=True)
            printed += 1
            if args.count and printed >= args.count:
                break
        if args.count and printed >= args.count:
            break
    print(json.dumps({"stats": gateway.stats(), "readings": printed}), file=sys.stderr)
    return 0
