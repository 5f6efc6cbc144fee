"""``flexmarket wallet``: a prosumer's view of its money, read from the chain alone.

``wallet new`` creates an encrypted keystore (password from $FLEXMARKET_PASSWORD or a prompt);
``wallet show`` prints balance, escrow, committed funds and the history rebuilt from events, for
an account given by address, keystore or participant id (with a market's deployment file).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from ledger.chain import rpc_chain
from ledger.client import Deployment, LedgerClient
from protocol.errors import FlexmarketError
from wallet.keystore import address_of, create
from wallet.view import WalletView


def add_parser(sub: argparse._SubParsersAction) -> None:
    wallet = sub.add_parser("wallet", help="a prosumer's wallet: keys, balances, history")
    wsub = wallet.add_subparsers(dest="wallet_command", required=True)
    new = wsub.add_parser("new", help="create an encrypted keystore")
    new.add_argument("--keystore", type=Path, required=True)
    show = wsub.add_parser("show", help="balance, escrow and history of an account")
    show.add_argument("--ledger-url", required=True, help="Ethereum JSON-RPC URL")
    show.add_argument("--deployment", type=Path, required=True,
                      help="deployment.json of the market (written by simulate --out)")
    who = show.add_mutually_exclusive_group(required=True)
    who.add_argument("--address")
    who.add_argument("--keystore", type=Path)
    who.add_argument("--participant", help="participant id, e.g. home-001")
    show.add_argument("--json", action="store_true", help="machine-readable output")


def _password() -> str:
    pw = os.environ.get("FLEXMARKET_PASSWORD")
    if pw is None:
        if not sys.stdin.isatty():
            raise FlexmarketError("no password: set FLEXMARKET_PASSWORD or run in a terminal")
        pw = getpass.getpass("keystore password: ")
    return pw


def cmd_new(args: argparse.Namespace) -> int:
    account = create(args.keystore, _password())
    print(f"created {args.keystore} for {account.address}")
    return 0


def load_deployment(path: Path) -> tuple[Deployment, dict[str, str]]:
    try:
        data = json.loads(path.read_text())
        return Deployment(**data["contracts"]), data["participants"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FlexmarketError(f"cannot read deployment file {path}: {exc}") from exc


def cmd_show(args: argparse.Namespace) -> int:
    deployment, participants = load_deployment(args.deployment)
    if args.participant:
        if args.participant not in participants:
            raise FlexmarketError(f"no participant {args.participant!r} in {args.deployment}")
        address = participants[args.participant]
    elif args.keystore:
        address = address_of(args.keystore)
    else:
        address = args.address
    client = LedgerClient(rpc_chain(args.ledger_url), deployment)
    view = WalletView(client, client.w3.to_checksum_address(address))
    view.refresh()
    out = {
        "address": view.address,
        "balance_eur": view.balance_ueur() / 1e6,
        "escrow_eur": view.escrow_ueur() / 1e6,
        "committed_eur": client.committed_of(view.address) / 1e6,
        "history": [{"block": h.block, "kind": h.kind, "amount_eur": h.amount_ueur / 1e6,
                     "period": h.period} for h in view.history],
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"account   {out['address']}")
    print(f"balance   {out['balance_eur']:12.2f} €   (tokens held)")
    print(f"escrow    {out['escrow_eur']:12.2f} €   (of which committed to open bids: "
          f"{out['committed_eur']:.2f} €)")
    for h in out["history"]:
        period = f"  period {h['period']}" if h["period"] is not None else ""
        print(f"  block {h['block']:>6}  {h['kind']:<10} {h['amount_eur']:+12.2f} €{period}")
    return 0
