"""Benchmark: CDA engine throughput and per-event latency, in-process.

Run from the repo root after the README set-up:  .venv/bin/python benchmarks/cda_engine.py

The engine is the matching core every ``Exchange`` matches in (``market.ladder.Ladder``, built
by the Exchange from its config: 3 feeders + upstream, a transformer congestion price so that
supplier quotes carry a fee). Books are preloaded with 10^4 and 10^5 resting orders over 2
slots; then 200,000 events — 70 % new limit orders (about one in five crossing the spread),
30 % cancels — are handed to it one Python call at a time, as the Exchange does once a message
is validated. Throughput is timed over the whole stream; latency per event in a second,
identical run with a clock read around each call.

The full message path (``Exchange.apply``: pydantic messages, nonces, gate, escrow, Trade
models) is measured too (``exchange_apply``), and signature verification apart (PyNaCl).
Last line: {"events_per_s": …, "p99_us": …, …} of the engine at 10^5 resting.
"""

from __future__ import annotations

import gc
import json
import random
import time

from market.config import MarketConfig
from market.engine import Exchange
from protocol.messages import Cancel, CongestionPrice, EscrowUpdate, Order
from protocol.signing import KeyDirectory, KeyPair
from protocol.tariff import two_rate_tariff
from protocol.topology import transformer_topology

SLOT = 1_000_000
NOW = SLOT * 900 - 4 * 3600
ZONES = ("f1", "f2", "f3")
TRADERS = 300


def setup(resting: int, rng: random.Random):
    directory = KeyDirectory()
    names = [f"h{i}" for i in range(TRADERS)]
    for i, n in enumerate(names):
        directory.add(n, "00" * 32, "home", ZONES[i % 3])
    directory.add("dso", "00" * 32, "dso", "upstream")
    directory.add("operator", "00" * 32, "operator", "upstream")
    ex = Exchange(MarketConfig(tariff=two_rate_tariff(), topology=transformer_topology(ZONES)),
                  directory)
    nonce = {n: 0 for n in [*names, "dso", "operator"]}

    def nxt(n):
        nonce[n] += 1
        return nonce[n]

    for n in names:
        ex.apply(EscrowUpdate(sender="operator", nonce=nxt("operator"), participant=n,
                              escrow_ueur=10**15, settled_through_slot=0), NOW)
    ex.apply(CongestionPrice(sender="dso", nonce=nxt("dso"), point="transformer", slot=SLOT,
                             direction="import", price=20_000), NOW)
    open_ids: list[tuple[str, str]] = []
    # resting depth: bids 60–160 k, asks 170–270 k µ€/kWh, so preloading trades nothing
    for i in range(resting):
        n = rng.choice(names)
        side = rng.choice(["buy", "sell"])
        price = rng.randint(60, 160) * 1000 if side == "buy" else rng.randint(170, 270) * 1000
        oid = f"r{i}"
        ex.apply(Order(sender=n, nonce=nxt(n), order_id=oid, slot=SLOT + rng.randint(0, 1),
                       zone=directory.zones[n], side=side, quantity_wh=rng.randint(10, 500),
                       price=price), NOW)
        open_ids.append((n, oid))
    return ex, names, nxt, open_ids


def run(resting: int, events: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    ex, names, nxt, open_ids = setup(resting, rng)
    stream = []
    for i in range(events):
        if rng.random() < 0.3 and open_ids:
            n, oid = open_ids.pop(rng.randrange(len(open_ids)))
            stream.append(Cancel(sender=n, nonce=nxt(n), order_id=oid))
        else:
            n = rng.choice(names)
            side = rng.choice(["buy", "sell"])
            # mostly passive, about one in five crossing the spread
            if side == "buy":
                price = rng.randint(60, 160) * 1000 if rng.random() < 0.8 else 280_000
            else:
                price = rng.randint(170, 270) * 1000 if rng.random() < 0.8 else 50_000
            oid = f"e{i}"
            stream.append(Order(sender=n, nonce=nxt(n), order_id=oid,
                                slot=SLOT + rng.randint(0, 1), zone=ex.directory.zones[n],
                                side=side, quantity_wh=rng.randint(10, 500), price=price))
            open_ids.append((n, oid))
    lat = []
    gc.disable()
    t0 = time.perf_counter()
    clock = time.perf_counter_ns
    accepted = 0
    for msg in stream:
        a = clock()
        ack = ex.apply(msg, NOW)
        lat.append(clock() - a)
        accepted += ack.accepted
    total = time.perf_counter() - t0
    gc.enable()
    lat.sort()
    return {"resting": resting, "events": events, "accepted": accepted,
            "trades": len(ex.trades), "events_per_s": round(events / total),
            "p50_us": round(lat[len(lat) // 2] / 1000, 2),
            "p99_us": round(lat[int(len(lat) * 0.99)] / 1000, 2)}


def engine_stream(resting: int, events: int, seed: int):
    """An Exchange-configured ladder preloaded with ``resting`` orders, and an event stream."""
    rng = random.Random(seed)
    ex, names, _nxt, _open = setup(0, rng)
    ladder = ex._ladder
    owners = [ex._owner(n) for n in names]
    zone_of = [ex._zone_index[ex.directory.zones[n]] for n in names]
    for slot in (SLOT, SLOT + 1):
        ex._open_slot(slot)
    seq = 0
    open_seqs: list[int] = []
    for _ in range(resting):
        k = rng.randrange(TRADERS)
        side = rng.randrange(2)
        price = rng.randint(60, 160) * 1000 if side == 0 else rng.randint(170, 270) * 1000
        seq += 1
        ladder.place(owners[k], side, SLOT + rng.randint(0, 1), zone_of[k], price,
                     rng.randint(10, 500), seq, True)
        open_seqs.append(seq)
    place, cancel = ladder.place, ladder.cancel
    stream = []
    for _ in range(events):
        if rng.random() < 0.3 and open_seqs:
            stream.append((cancel, (open_seqs.pop(rng.randrange(len(open_seqs))),)))
        else:
            k = rng.randrange(TRADERS)
            side = rng.randrange(2)
            if side == 0:
                price = rng.randint(60, 160) * 1000 if rng.random() < 0.8 else 280_000
            else:
                price = rng.randint(170, 270) * 1000 if rng.random() < 0.8 else 50_000
            seq += 1
            stream.append((place, (owners[k], side, SLOT + rng.randint(0, 1), zone_of[k], price,
                                   rng.randint(10, 500), seq, True)))
            open_seqs.append(seq)
    return ladder, stream


def run_engine(resting: int, events: int = 200_000, seed: int = 0) -> dict:
    ladder, stream = engine_stream(resting, events, seed)
    gc.collect()
    gc.disable()
    t0 = time.perf_counter()
    for call, args in stream:
        call(*args)
    total = time.perf_counter() - t0
    gc.enable()
    fills, left = ladder.fill_count, len(ladder)
    ladder, stream = engine_stream(resting, events, seed)  # the same run again, timed per event
    clock = time.perf_counter_ns
    lat = []
    gc.collect()
    gc.disable()
    for call, args in stream:
        a = clock()
        call(*args)
        lat.append(clock() - a)
    gc.enable()
    assert (ladder.fill_count, len(ladder)) == (fills, left), "the two runs differ"
    lat.sort()
    return {"resting": resting, "events": events, "trades": fills, "resting_after": left,
            "events_per_s": round(events / total),
            "p50_us": round(lat[len(lat) // 2] / 1000, 3),
            "p99_us": round(lat[int(len(lat) * 0.99)] / 1000, 3),
            "max_us": round(lat[-1] / 1000, 1)}


def verify_rate(n: int = 3000) -> float:
    key = KeyPair.from_seed(b"bench")
    d = KeyDirectory()
    d.add("h0", key.public_hex, "home", "f1")
    envs = [key.sign(Order(sender="h0", nonce=i + 1, order_id=f"v{i}", slot=SLOT, zone="f1",
                           side="buy", quantity_wh=100, price=100_000)) for i in range(n)]
    t0 = time.perf_counter()
    for e in envs:
        d.verify(e, "h0")
    return n / (time.perf_counter() - t0)


def main() -> None:
    small = run_engine(10_000)
    large = run_engine(100_000, seed=1)
    out = {"events_per_s": large["events_per_s"], "p99_us": large["p99_us"],
           "p50_us": large["p50_us"], "engine_resting_1e4": small, "engine_resting_1e5": large,
           "exchange_apply_resting_1e4": run(10_000, 50_000),
           "exchange_apply_resting_1e5": run(100_000, 50_000, seed=1),
           "signature_verify_per_s": round(verify_rate()),
           "target": {"events_per_s": 1_000_000, "p99_us": 5},
           "ratio_to_target_events_per_s": round(large["events_per_s"] / 1_000_000, 3),
           "ratio_to_target_events_per_s_1e4": round(small["events_per_s"] / 1_000_000, 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
