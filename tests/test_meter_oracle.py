from __future__ import annotations

import pytest

from meter_oracle.intervals import Interval, IntervalBuilder, RegisterSample, RegisterWentBackwards
from meter_oracle.oracle import MeterOracle, ReadingVerifier, SignedReading
from meter_oracle.simulated import SimulatedMeter
from protocol.messages import Reading
from protocol.signing import KeyPair, Signed
from protocol.units import slot_start

S0 = 1_700_000_000 // 900


def test_simulated_meter_registers_become_exact_intervals():
    meter, builder = SimulatedMeter(samples_per_slot=3), IntervalBuilder()
    energies = [(120, 0), (0, 340), (55, 0), (0, 0)]
    out = []
    builder.add(meter.sample_now(slot_start(S0)))
    for i, (imp, exp) in enumerate(energies):
        for s in meter.run_slot(S0 + i, imp, exp):
            out += builder.add(s)
    out += builder.add(meter.sample_now(slot_start(S0 + len(energies))))
    assert [(iv.slot, iv.import_wh, iv.export_wh) for iv in out] == [
        (S0 + i, imp, exp) for i, (imp, exp) in enumerate(energies)
    ]
    assert out[-1].import_register_wh == 175 and out[-1].export_register_wh == 340
    assert not any(iv.estimated for iv in out)


def test_registers_are_interpolated_at_slot_boundaries():
    b = IntervalBuilder(max_gap_s=30)
    t0 = slot_start(S0)
    b.add(RegisterSample(t0 - 10, 1000, 0))
    b.add(RegisterSample(t0 + 10, 1020, 0))  # crosses t0: registers at t0 = 1010
    closed = b.add(RegisterSample(t0 + 910, 1920, 0))  # 1 Wh/s: at t0+900, 1910
    assert [(iv.slot, iv.import_wh) for iv in closed] == [(S0, 900)]


def test_gap_marks_interval_estimated():
    b = IntervalBuilder(max_gap_s=60)
    t0 = slot_start(S0)
    b.add(RegisterSample(t0, 0, 0))
    closed = b.add(RegisterSample(t0 + 3 * 900 + 300, 3300, 0))
    assert [iv.estimated for iv in closed] == [True, True, True]
    assert sum(iv.import_wh for iv in closed) == 2970  # 1.1 Wh/s over 2,700 s


def test_backwards_register_is_an_error_and_duplicates_are_ignored():
    b = IntervalBuilder()
    b.add(RegisterSample(slot_start(S0), 500, 0))
    assert b.add(RegisterSample(slot_start(S0), 500, 0)) == []
    with pytest.raises(RegisterWentBackwards):
        b.add(RegisterSample(slot_start(S0) + 60, 400, 0))


def _chain(key: KeyPair, n: int, meter: str = "m1") -> list[SignedReading]:
    oracle = MeterOracle(meter, key)
    meter_sim, builder = SimulatedMeter(), IntervalBuilder()
    builder.add(meter_sim.sample_now(slot_start(S0)))
    out = []
    for i in range(n):
        for s in meter_sim.run_slot(S0 + i, 100 + i, 0):
            out += [oracle.sign(iv) for iv in builder.add(s)]
    out += [oracle.sign(iv) for iv in builder.add(meter_sim.sample_now(slot_start(S0 + n)))]
    return out


def test_verifier_accepts_a_chain_and_rejects_forgeries():
    key = KeyPair.from_seed(b"m1")
    readings = _chain(key, 4)
    late = slot_start(S0 + 10)
    v = ReadingVerifier({"m1": key.public_hex})
    assert all(v.submit(r, late) for r in readings[:2])

    altered = Signed[Reading](
        message=readings[2].message.model_copy(update={"import_wh": 9999}),
        signature=readings[2].signature)
    assert not v.submit(altered, late)
    assert "bad signature" in v.rejections[-1][2]

    assert not v.submit(readings[3], late)  # skips readings[2]: the chain breaks
    assert "broken hash chain" in v.rejections[-1][2]

    assert v.submit(readings[1], late)  # the same reading again is an acknowledgement
    equivocation = key.sign(readings[1].message.model_copy(update={"import_wh": 1}))
    assert not v.submit(equivocation, late)  # a second, different reading for the slot
    assert "duplicate" in v.rejections[-1][2]

    assert not v.submit(readings[2], slot_start(S0 + 2))  # slot S0+2 has not ended yet
    assert "future" in v.rejections[-1][2]

    stranger = _chain(KeyPair.from_seed(b"x"), 1, meter="m9")[0]
    assert not v.submit(stranger, late)
    assert "unregistered" in v.rejections[-1][2]

    impostor = _chain(KeyPair.from_seed(b"x"), 3)[2]  # right meter id, wrong key
    assert not v.submit(impostor, late)

    assert v.submit(readings[2], late) and v.submit(readings[3], late)
    assert [r.slot for r in v.accepted.values()] == [S0, S0 + 1, S0 + 2, S0 + 3]


def test_revoked_meter_is_rejected():
    key = KeyPair.from_seed(b"m1")
    v = ReadingVerifier({"m1": key.public_hex}, revoked={"m1"})
    assert not v.submit(_chain(key, 1)[0], slot_start(S0 + 5))
    assert "revoked" in v.rejections[-1][2]


def test_verifier_takes_meter_keys_from_the_chain_registry():
    from ledger.chain import embedded_chain
    from ledger.client import LedgerClient, Sender, account_from_seed

    w3, rich = embedded_chain()
    admin = account_from_seed(b"oracle-test/admin")
    w3.eth.send_transaction({"from": rich, "to": admin.address, "value": 10**20})
    sender = Sender(w3, admin)
    client = LedgerClient.deploy(sender, admin.address, admin.address)
    home = account_from_seed(b"oracle-test/home")
    key = KeyPair.from_seed(b"m1")
    client.register_many(sender, [(home.address, "home", "11" * 32, key.public_hex, 0)])
    readings = _chain(key, 2)
    late = slot_start(S0 + 10)

    v = ReadingVerifier.from_registry(client, {"m1": home.address})
    assert v.submit(readings[0], late)
    forged = _chain(KeyPair.from_seed(b"someone else"), 2)
    assert not v.submit(forged[1], late)

    # The meter gets a new key from slot S0 + 1: the old key still holds for slot S0 only.
    new_key = KeyPair.from_seed(b"m1-new")
    client.rotate_key(sender, home.address, "meter", new_key.public_hex, S0 + 1)
    oracle = MeterOracle("m1", new_key, prev_hash=readings[0].digest())
    after = oracle.sign(Interval(S0 + 1, 5, 0, 5, 0, False))
    v2 = ReadingVerifier.from_registry(client, {"m1": home.address})
    assert v2.submit(readings[0], late)  # old key, old slot
    assert not v2.submit(readings[1], late)  # old key after the rotation
    assert "bad signature" in v2.rejections[-1][2]
    assert v2.submit(after, late)  # new key

    client.revoke(sender, home.address, S0 + 2)
    v3 = ReadingVerifier.from_registry(client, {"m1": home.address})
    assert v3.submit(readings[0], late) and v3.submit(after, late)  # before the revocation
    later = oracle.sign(Interval(S0 + 2, 5, 0, 10, 0, False))
    assert not v3.submit(later, late)
    assert "revoked" in v3.rejections[-1][2]


def test_lost_reading_resent_later_closes_the_chain():
    key = KeyPair.from_seed(b"m1")
    readings = _chain(key, 5)
    late = slot_start(S0 + 10)
    v = ReadingVerifier({"m1": key.public_hex})
    assert v.submit(readings[0], late)
    assert not v.submit(readings[2], late)  # [1] was lost in transit
    assert not v.submit(readings[3], late)
    assert (("m1", S0 + 2) not in v.accepted) and len(v.pending) == 2
    orphan = KeyPair.from_seed(b"m1").sign(  # signed by the meter, but follows nothing
        readings[4].message.model_copy(update={"prev_hash": "ab" * 32}))
    assert not v.submit(orphan, late)
    assert v.submit(readings[1], late)  # the gateway re-sends it: 2 and 3 follow
    assert [r.slot - S0 for r in v.accepted.values()] == [0, 1, 2, 3]
    assert v.submit(readings[2], late) and v.acknowledged(readings[3])  # re-delivery is an ack
    assert v.submit(readings[4], late)
    assert not v.acknowledged(orphan) and ("m1", S0 + 4) in v.accepted
    assert v.accepted[("m1", S0 + 4)] == readings[4].message
