"""Crash test: the exchange process is killed at random points while orders stream in.

After every restart no acknowledged message is lost and no trade is duplicated: the served tape
equals a replay of the journal, and every acknowledged message is in the journal.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from market.journal import load_journal, replay
from protocol.messages import Cancel, EscrowUpdate, Order, Replace
from protocol.units import slot_of
from sim.participants import make_participants
from sim.scenario import default_scenario
from tests.test_ledger_serve import _free_port


def _cli() -> list[str]:
    exe = shutil.which("flexmarket")
    return [exe] if exe else [sys.executable, "-m", "sim.cli"]


class Server:
    def __init__(self, journal, market) -> None:
        self.journal, self.market, self.port = journal, market, _free_port()
        self.proc = None
        self.lock = threading.Lock()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*_cli(), "exchange", "run", "--journal", str(self.journal), "--market",
             str(self.market), "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                self.get("/health")
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("exchange did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return json.loads(r.read())

    def post(self, body: bytes) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/messages", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())


def test_killed_exchange_loses_no_acknowledged_order_and_duplicates_no_trade(tmp_path):
    market, journal = tmp_path / "market.json", tmp_path / "journal.jsonl"
    subprocess.run([*_cli(), "exchange", "init", "--homes", "6", "--seed", "1", "--out",
                    str(market)], check=True, capture_output=True)
    parts = make_participants(default_scenario(homes=6, seed=1))
    homes = [p for p, r in parts.roles.items() if r == "home"]
    server = Server(journal, market)
    server.start()

    rng = random.Random(11)
    nonces: dict[str, int] = {}
    slot = slot_of(int(time.time())) + 12  # three hours ahead: the gate stays open

    def sign(sender, cls, **kw):
        nonces[sender] = nonces.get(sender, 0) + 1
        return parts.message_keys[sender].sign(cls(sender=sender, nonce=nonces[sender], **kw))

    stream = [sign("operator", EscrowUpdate, participant=h, escrow_ueur=10**12,
                   settled_through_slot=0) for h in homes]
    open_ids: list[tuple[str, str]] = []
    for i in range(1500):
        who = rng.choice(homes)
        r = rng.random()
        if open_ids and r < 0.2:
            w, oid = open_ids.pop(rng.randrange(len(open_ids)))
            stream.append(sign(w, Cancel, order_id=oid))
        elif open_ids and r < 0.3:
            w, oid = rng.choice(open_ids)
            stream.append(sign(w, Replace, order_id=oid, quantity_wh=rng.randint(1, 300),
                               price=rng.choice([120_000, 150_000, 165_000, 200_000])))
        else:
            oid = f"o{i}"
            stream.append(sign(who, Order, order_id=oid, slot=slot + rng.randint(0, 2),
                               zone=parts.zones[who], side=rng.choice(["buy", "sell"]),
                               quantity_wh=rng.randint(1, 300),
                               price=rng.choice([120_000, 150_000, 165_000, 200_000])))
            open_ids.append((who, oid))

    kills = 0
    stop = threading.Event()

    def killer():  # kill at random moments, in the middle of whatever is going on
        nonlocal kills
        while not stop.is_set():
            time.sleep(rng.uniform(0.15, 0.5))
            if stop.is_set():
                return
            with server.lock:
                server.kill()
                kills += 1
                server.start()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    acknowledged, journaled_on_retry = [], 0
    for env in stream:
        body = env.to_json()
        resent = False
        while True:
            try:
                answer = server.post(body)
                break
            except (OSError, urllib.error.URLError):
                resent = True  # the answer was lost: send the same message again
                time.sleep(0.05)
        if answer["accepted"]:
            acknowledged.append(env)
        elif resent and "replayed nonce" in answer["reason"]:
            journaled_on_retry += 1  # it had been journaled before the crash
            acknowledged.append(env)
    stop.set()
    thread.join(5)
    with server.lock:
        served = server.get("/trades")
        server.kill()

    assert kills >= 3
    config, directory, entries = load_journal(journal)
    journaled = {env.digest() for _, env in entries}
    assert all(env.digest() in journaled for env in acknowledged)  # nothing acknowledged lost
    assert len(entries) == len(journaled)  # nothing journaled twice
    tape = replay(config, directory, entries)
    assert [t.model_dump(mode="json") for t in tape] == served
    assert [t["seq"] for t in served] == list(range(len(served)))  # no duplicated trade
    assert len(served) > 50
