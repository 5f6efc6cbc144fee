"""``flexmarket exchange run``: the exchange as an HTTP service (aiohttp) on the wall clock.

POST /messages      a signed message (JSON); answered after the journal line is fsynced:
                    {"accepted": bool, "reason": str, "trades": [...]}; 400 for unparseable input
GET  /trades?since=N the trade tape from sequence N
GET  /book/{slot}/{zone}  aggregated depth
GET  /health        journal head and counts
The process can die at any point: on restart it rebuilds every book from the journal.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from aiohttp import web

from market.config import MarketConfig
from market.journal import JournaledExchange, parse_envelope
from protocol.errors import InvalidMessage
from protocol.signing import KeyDirectory


def open_exchange(journal: Path, market: Path | None) -> JournaledExchange:
    """Recover from ``journal`` if it exists, else start it from the ``market`` file."""
    if journal.exists() and journal.stat().st_size > 0:
        return JournaledExchange.recover(journal)
    if market is None:
        raise InvalidMessage(f"{journal} does not exist: give --market to start a new exchange")
    header = json.loads(market.read_text())
    config = MarketConfig.model_validate(header["config"])
    directory = KeyDirectory()
    for p, d in header["directory"].items():
        directory.add(p, d["key"], d["role"], d["zone"])
    journal.parent.mkdir(parents=True, exist_ok=True)
    return JournaledExchange(config, directory, path=journal)


def make_app(jx: JournaledExchange, clock=lambda: int(time.time())) -> web.Application:
    async def post_message(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            envelope = parse_envelope(raw)
        except InvalidMessage as exc:
            return web.json_response({"accepted": False, "reason": exc.reason}, status=400)
        ack = jx.submit(envelope, clock())  # journaled (fsync) before we answer
        return web.json_response({"accepted": ack.accepted, "reason": ack.reason,
                                  "trades": [t.model_dump(mode="json") for t in ack.trades]})

    async def get_trades(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        tape = jx.exchange.trades[since:]
        return web.json_response([t.model_dump(mode="json") for t in tape])

    async def get_book(request: web.Request) -> web.Response:
        bids, asks = jx.exchange.book(int(request.match_info["slot"]),
                                      request.match_info["zone"]).depth()
        return web.json_response({"bids": bids, "asks": asks})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"journal_head": jx.journal.head,
                                  "messages": len(jx.journal.entries),
                                  "trades": len(jx.exchange.trades)})

    app = web.Application()
    app.router.add_post("/messages", post_message)
    app.router.add_get("/trades", get_trades)
    app.router.add_get("/book/{slot}/{zone}", get_book)
    app.router.add_get("/health", health)
    return app


def serve(journal: Path, market: Path | None, host: str, port: int) -> None:
    jx = open_exchange(journal, market)
    print(f"flexmarket exchange on http://{host}:{port}: {len(jx.journal.entries)} journaled "
          f"messages, {len(jx.exchange.trades)} trades recovered", flush=True)
    web.run_app(make_app(jx), host=host, port=port, print=None)
