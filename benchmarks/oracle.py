"""Benchmark: meter oracle signing and verification rate, and a day of 184 meters.

Run from the repo root after the README set-up:  .venv/bin/python benchmarks/oracle.py
Last line: {"sign_per_s": …, "verify_per_s": …, …} — readings per second on one core; the
threaded figure shows PyNaCl releasing the GIL in its C calls.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from meter_oracle.intervals import Interval
from meter_oracle.oracle import MeterOracle, ReadingVerifier
from meter_oracle.p1 import P1Stream
from meter_oracle.simulated import TelegramMeter
from protocol.signing import KeyPair, verify_with_key
from protocol.units import SLOTS_PER_DAY

METERS = 184
S0 = 1_464_220_800 // 900


def main() -> None:
    keys = {f"home-{i:03d}": KeyPair.from_seed(f"bench/{i}".encode()) for i in range(METERS)}
    oracles = {m: MeterOracle(m, k) for m, k in keys.items()}

    t0 = time.perf_counter()
    day = []
    for oracle in oracles.values():
        reg = 0
        for s in range(SLOTS_PER_DAY):
            reg += 100 + s
            day.append(oracle.sign(Interval(S0 + s, 100 + s, 0, reg, 0, False)))
    sign_s = time.perf_counter() - t0
    n = len(day)

    t0 = time.perf_counter()
    verifier = ReadingVerifier({m: k.public_hex for m, k in keys.items()})
    accepted = sum(verifier.submit(r, (S0 + SLOTS_PER_DAY) * 900) for r in day)
    day_verify_s = time.perf_counter() - t0
    assert accepted == n

    pubs = {m: k.public_hex for m, k in keys.items()}
    t0 = time.perf_counter()
    for r in day:
        verify_with_key(r, pubs[r.message.meter_id])
    sig_only_s = time.perf_counter() - t0

    def verify_part(part):
        for r in part:
            verify_with_key(r, pubs[r.message.meter_id])

    halves = [day[: n // 2], day[n // 2 :]]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(verify_part, halves))
    threaded_s = time.perf_counter() - t0

    meter = TelegramMeter("bench", fluvius=True)
    telegrams = [t for s in range(SLOTS_PER_DAY) for t in meter.run_slot(S0 + s, 120, 0)]
    stream = P1Stream()
    t0 = time.perf_counter()
    for t in telegrams:
        stream.feed(t)
    parse_s = time.perf_counter() - t0

    print(json.dumps({
        "sign_per_s": round(n / sign_s),
        "verify_per_s": round(n / sig_only_s),
        "verify_per_s_2_threads": round(n / threaded_s),
        "readings_per_day": n,
        "day_verify_s": round(day_verify_s, 3),
        "day_verify_per_s_incl_chain_checks": round(n / day_verify_s),
        "p1_telegrams_parsed_per_s": round(len(telegrams) / parse_s),
    }))


if __name__ == "__main__":
    main()
