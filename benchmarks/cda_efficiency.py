"""Benchmark: allocative efficiency of the CDA against the network-constrained welfare optimum.

Run from the repo root after the README set-up:  .venv/bin/python benchmarks/cda_efficiency.py
Per seed: 3 feeders under a transformer, with feeder-head congestion points on two of them; posted
fees on both transformer directions and one feeder; capacities on the transformer and a feeder;
45 traders with private values/costs between the feed-in and retail prices; the supplier at
retail/feed-in with infinite depth. Efficiency = realised surplus net of fees ÷ the optimum of the
same orders (an LP over all buyer–seller pairs with the same fees and capacities, scipy/HiGHS).
Two populations: truthful one-shot orders in random arrival order, and re-quoting agents that
start shaded and concede towards their value over 10 rounds; and the simulator's shipped Bidder
(mid price first, then the limit at the gate). Last line: {"efficiency_mean": …,
"efficiency_p5": …, "capacity_violations": …, …} (headline: the re-quoting agents).
"""

from __future__ import annotations

import json
import random
import statistics

import numpy as np
from scipy.optimize import linprog

from market.config import MarketConfig
from market.engine import Exchange
from node.strategy import AdaptiveZip, TruthfulRequote, ZeroIntelligence
from protocol.messages import Cancel, CongestionPrice, EscrowUpdate, Order
from protocol.signing import KeyDirectory
from protocol.tariff import two_rate_tariff
from protocol.topology import CongestionPoint, Topology

SLOT = 1_000_000
NOW = SLOT * 900 - 4 * 3600
ZONES = ("f1", "f2", "f3")
TOPOLOGY = Topology(zones=ZONES, points=(
    CongestionPoint(name="transformer", sensitivity_permille={z: -1000 for z in ZONES}),
    CongestionPoint(name="feeder-f1", sensitivity_permille={"f1": -1000}),
    CongestionPoint(name="feeder-f2", sensitivity_permille={"f2": -1000}),
))
TARIFF = two_rate_tariff()
RETAIL, FEED_IN = TARIFF.retail(SLOT), TARIFF.feed_in_price(SLOT)


def market(seed: int):
    rng = random.Random(seed)
    traders = []
    for i in range(45):
        side = "buy" if i % 2 == 0 else "sell"
        traders.append({"id": f"t{i}", "zone": ZONES[i % 3], "side": side,
                        "value": rng.randint(FEED_IN // 1000 + 5, RETAIL // 1000 - 5) * 1000,
                        "qty": rng.randint(50, 500)})
    posts = [("transformer", "import", 30_000, rng.randint(300, 1500)),
             ("transformer", "export", 15_000, rng.randint(300, 1500)),
             ("feeder-f1", "import", 10_000, rng.randint(200, 800)),
             ("feeder-f2", "export", 0, rng.randint(200, 800))]
    return traders, posts, rng


def _exchange(traders, posts):
    d = KeyDirectory()
    for t in traders:
        d.add(t["id"], "00" * 32, "home", t["zone"])
    d.add("dso", "00" * 32, "dso", "upstream")
    d.add("operator", "00" * 32, "operator", "upstream")
    ex = Exchange(MarketConfig(tariff=TARIFF, topology=TOPOLOGY), d)
    for i, t in enumerate(traders):
        ex.apply(EscrowUpdate(sender="operator", nonce=i + 1, participant=t["id"],
                              escrow_ueur=10**12, settled_through_slot=0), NOW)
    for i, (point, direction, price, cap) in enumerate(posts):
        ex.apply(CongestionPrice(sender="dso", nonce=i + 1, point=point, slot=SLOT,
                                 direction=direction, price=price, capacity_wh=cap), NOW)
    return ex


def surplus(ex, traders) -> float:
    """Σ (buyer value − seller cost − fee) × energy; the supplier's value/cost is its price."""
    by_id = {t["id"]: t for t in traders}
    total = 0
    for tr in ex.trades:
        v = by_id[tr.buyer]["value"] if tr.buyer in by_id else FEED_IN
        c = by_id[tr.seller]["value"] if tr.seller in by_id else RETAIL
        total += (v - c - tr.fee) * tr.quantity_wh
    return total / 1000


def optimum(traders, posts) -> float:
    """The welfare optimum: an LP over every buyer–seller pair with the same fees and limits."""
    prices = {(p, d): pr for p, d, pr, _ in posts}
    caps = {(p, d): c for p, d, _, c in posts}
    buyers = [t for t in traders if t["side"] == "buy"] + [{"id": "supplier", "zone": "upstream",
                                                           "value": FEED_IN, "qty": None}]
    sellers = [t for t in traders if t["side"] == "sell"] + [{"id": "supplier", "zone": "upstream",
                                                             "value": RETAIL, "qty": None}]
    pairs, gain, flows = [], [], []
    for bi, b in enumerate(buyers):
        for si, s in enumerate(sellers):
            if b["id"] == "supplier" and s["id"] == "supplier":
                continue
            fee, flow = 0, {}
            for p in TOPOLOGY.points:
                ch = p.flow_change_permille(s["zone"], b["zone"])
                if ch:
                    d = "import" if ch > 0 else "export"
                    fee += prices.get((p.name, d), 0)
                    flow[(p.name, d)] = abs(ch) / 1000
            g = (b["value"] - s["value"] - fee) / 1000
            if g > 0:
                pairs.append((bi, si))
                gain.append(g)
                flows.append(flow)
    if not pairs:
        return 0.0
    rows, rhs = [], []
    for bi, b in enumerate(buyers):
        if b["qty"] is not None:
            rows.append([1.0 if p[0] == bi else 0.0 for p in pairs])
            rhs.append(b["qty"])
    for si, s in enumerate(sellers):
        if s["qty"] is not None:
            rows.append([1.0 if p[1] == si else 0.0 for p in pairs])
            rhs.append(s["qty"])
    for key, cap in caps.items():
        rows.append([f.get(key, 0.0) for f in flows])
        rhs.append(cap)
    res = linprog(-np.array(gain), A_ub=np.array(rows), b_ub=np.array(rhs), bounds=(0, None),
                  method="highs")
    return -res.fun


def run_truthful(traders, posts, rng) -> Exchange:
    ex = _exchange(traders, posts)
    nonce = {t["id"]: 0 for t in traders}
    for t in rng.sample(traders, len(traders)):
        nonce[t["id"]] += 1
        ex.apply(Order(sender=t["id"], nonce=nonce[t["id"]], order_id="o", slot=SLOT,
                       zone=t["zone"], side=t["side"], quantity_wh=t["qty"], price=t["value"]),
                 NOW)
    return ex


def run_strategy(traders, posts, rng, make, rounds: int = 10) -> Exchange:
    """Every trader re-quotes its rest each round with a strategy from ``make(trader)``."""
    ex = _exchange(traders, posts)
    nonce = {t["id"]: 0 for t in traders}
    agents = {t["id"]: make(t) for t in traders}
    for k in range(rounds):
        for t in rng.sample(traders, len(traders)):
            tid = t["id"]
            if k and ex.open_order(tid, f"r{k - 1}") is not None:
                nonce[tid] += 1
                ex.apply(Cancel(sender=tid, nonce=nonce[tid], order_id=f"r{k - 1}"), NOW + k)
            left = t["qty"] - sum(tr.quantity_wh for tr in ex.trades if tid in (tr.buyer,
                                                                              tr.seller))
            if left <= 0:
                continue
            last = next((tr.price for tr in reversed(ex.trades)
                         if "supplier" not in (tr.buyer, tr.seller)), None)
            price = agents[tid].quote(t["side"], t["value"], k, rounds, last)
            nonce[tid] += 1
            ex.apply(Order(sender=tid, nonce=nonce[tid], order_id=f"r{k}", slot=SLOT,
                           zone=t["zone"], side=t["side"], quantity_wh=left, price=price),
                     NOW + k)
    return ex


def run_zic(traders, posts, rng) -> Exchange:
    return run_strategy(traders, posts, rng, lambda t: ZeroIntelligence(
        FEED_IN, RETAIL, random.Random(rng.random())))


def run_adaptive(traders, posts, rng) -> Exchange:
    return run_strategy(traders, posts, rng,
                        lambda t: AdaptiveZip(start_margin=(RETAIL - FEED_IN) // 2))


def run_truthful_requote(traders, posts, rng) -> Exchange:
    return run_strategy(traders, posts, rng,
                        lambda t: TruthfulRequote(start_margin=(RETAIL - FEED_IN) // 2))


def run_shipped_bidder(traders, posts, rng) -> Exchange:
    """The sim's Bidder: everyone quotes the mid price first, then its true limit at the gate."""
    return run_requoting(traders, posts, rng, rounds=2, first_at_mid=True)


def run_requoting(traders, posts, rng, rounds: int = 10, first_at_mid: bool = False) -> Exchange:
    """Agents quote with a margin that shrinks each round; the last round is truthful."""
    ex = _exchange(traders, posts)
    nonce = {t["id"]: 0 for t in traders}
    spread = RETAIL - FEED_IN
    for k in range(rounds):
        margin = int(spread * 0.5 * (rounds - 1 - k) / (rounds - 1))
        for t in rng.sample(traders, len(traders)):
            oid = f"r{k}"
            if k:
                prev = ex.open_order(t["id"], f"r{k - 1}")
                if prev is not None:
                    nonce[t["id"]] += 1
                    ex.apply(Cancel(sender=t["id"], nonce=nonce[t["id"]], order_id=f"r{k - 1}"),
                             NOW + k)
            done = sum(tr.quantity_wh for tr in ex.trades
                       if t["id"] in (tr.buyer, tr.seller))
            left = t["qty"] - done
            if left <= 0:
                continue
            price = t["value"] - margin if t["side"] == "buy" else t["value"] + margin
            if first_at_mid and k == 0:  # the shipped Bidder's opening quote, capped by its value
                mid = (RETAIL + FEED_IN) // 2
                price = min(mid, t["value"]) if t["side"] == "buy" else max(mid, t["value"])
            nonce[t["id"]] += 1
            ex.apply(Order(sender=t["id"], nonce=nonce[t["id"]], order_id=oid, slot=SLOT,
                           zone=t["zone"], side=t["side"], quantity_wh=left, price=price), NOW + k)
    return ex


def capacity_violations(ex, posts) -> int:
    bad = 0
    for point, direction, _, cap in posts:
        p = next(q for q in TOPOLOGY.points if q.name == point)
        flow = 0
        for tr in ex.trades:
            ch = p.flow_change_permille(tr.seller_zone, tr.buyer_zone)
            if (ch > 0 and direction == "import") or (ch < 0 and direction == "export"):
                flow += tr.quantity_wh * abs(ch) // 1000
        bad += flow > cap
    return bad


def main(seeds: int = 100) -> None:
    runs = (("truthful", run_truthful), ("shipped_bidder", run_shipped_bidder),
            ("requoting", run_requoting), ("zic", run_zic), ("adaptive_zip", run_adaptive),
            ("strategy_truthful_requote", run_truthful_requote))
    results = {name: [] for name, _ in runs}
    violations = {name: 0 for name, _ in runs}
    for seed in range(seeds):
        traders, posts, _ = market(seed)
        best = optimum(traders, posts)
        for name, run in runs:
            ex = run(traders, posts, random.Random(seed * 7 + 1))
            results[name].append(surplus(ex, traders) / best if best > 0 else 1.0)
            violations[name] += capacity_violations(ex, posts)

    def stats(xs):
        xs = sorted(xs)
        return {"mean": round(statistics.fmean(xs), 4), "p5": round(xs[int(0.05 * len(xs))], 4),
                "min": round(xs[0], 4)}

    out = {"efficiency_mean": stats(results["requoting"])["mean"],
           "efficiency_p5": stats(results["requoting"])["p5"],
           "capacity_violations": sum(violations.values()),
           "seeds": seeds, "truthful_one_shot": stats(results["truthful"]),
           "shipped_bidder_mid_then_limit": stats(results["shipped_bidder"]),
           "requoting_agents_10_rounds": stats(results["requoting"]),
           "strategies": {name: stats(results[name]) for name in
                          ("zic", "adaptive_zip", "strategy_truthful_requote")},
           "goal_mean": 0.98}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
