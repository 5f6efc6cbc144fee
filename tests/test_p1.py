"""P1 telegrams from real meters and the simulated meter, through dsmr-parser."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from meter_oracle.intervals import IntervalBuilder, RegisterWentBackwards
from meter_oracle.p1 import P1Stream, UnknownTelegram, detect_spec, equipment_name
from meter_oracle.simulated import TelegramMeter
from meter_oracle.telegram import crc16, meter_time, write_telegram
from protocol.units import slot_start

DATA = Path(__file__).parent / "data" / "p1"  # real meters' telegrams, see its README


def _real(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize(
    "name, spec, meter_id, time_utc, import_wh, export_wh",
    [
        ("dsmr5-nl.txt", "dsmr5", "K8EG004046395507", "2017-01-02T18:20:02", 6825, 2444),
        ("dsmr4-nl.txt", "dsmr4", "3960221976967177082151037881335713",
         "2016-11-13T19:57:57", 3016829, 0),
        ("emucs-be-fluvius-1.7.1.txt", "fluvius", "1SAG3101021605", "2020-05-12T11:54:09",
         15792, 11),
        ("emucs-be-fluvius-1.7.1-alt.txt", "fluvius", "1SAG3100721326", "2023-11-02T11:15:48",
         571562, 5),
    ],
)
def test_real_telegrams_give_exact_registers(name, spec, meter_id, time_utc, import_wh,
                                             export_wh):
    raw = _real(name)
    assert detect_spec(raw.decode()) == spec
    (r,) = P1Stream().feed(raw)
    assert r.meter_id == meter_id
    assert r.sample.time == int(dt.datetime.fromisoformat(time_utc + "+00:00").timestamp())
    assert (r.sample.import_wh, r.sample.export_wh) == (import_wh, export_wh)


def test_fluvius_capacity_tariff_fields():
    (r,) = P1Stream().feed(_real("emucs-be-fluvius-1.7.1.txt"))
    assert r.average_demand_w == 2351  # 1-0:1.4.0, current 15-minute average
    assert r.month_peak_w == 2589  # 1-0:1.6.0, this month's peak
    assert r.month_peak_time == int(dt.datetime(2020, 5, 9, 11, 45, 58, tzinfo=dt.UTC).timestamp())


def test_crc_failures_are_counted_and_skipped_and_garbage_survives():
    good = _real("dsmr5-nl.txt")
    bad = good.replace(b"1-0:1.8.1(000004.426", b"1-0:1.8.1(000004.427")
    stream = P1Stream()
    out = stream.feed(b"\x00garbage\r\n" + bad + good[:100])
    out += stream.feed(good[100:] + good)
    assert len(out) == 2
    assert stream.crc_failures == 1
    assert stream.telegrams == 3


def test_writer_matches_the_real_crc_and_round_trips():
    raw = _real("dsmr5-nl.txt")
    body = raw[: raw.index(b"!") + 1]
    assert f"{crc16(body):04X}".encode() == raw[raw.index(b"!") + 1 : raw.index(b"!") + 5]
    t = write_telegram(time=1_464_264_000, equipment_id="home-7", import_t1_wh=1, import_t2_wh=2,
                       export_t1_wh=30, export_t2_wh=40)
    (r,) = P1Stream("dsmr5").feed(t)
    assert (r.meter_id, r.sample.time, r.sample.import_wh, r.sample.export_wh) == (
        "home-7", 1_464_264_000, 3, 70)


def test_unknown_telegram_is_a_parse_error():
    with pytest.raises(UnknownTelegram):
        detect_spec("/XYZ\r\n\r\n!0000")
    assert equipment_name("zz") == "zz"


def test_meter_time_carries_the_dst_flag():
    assert meter_time(int(dt.datetime(2016, 7, 1, 12, tzinfo=dt.UTC).timestamp())) == (
        "160701140000S")
    assert meter_time(int(dt.datetime(2016, 1, 1, 12, tzinfo=dt.UTC).timestamp())) == (
        "160101130000W")


def test_intervals_are_continuous_across_the_dst_change():
    # 2016-10-30: local 02:00-03:00 happens twice (S, then W). UTC slots run straight through.
    start = int(dt.datetime(2016, 10, 30, 0, 0, tzinfo=dt.UTC).timestamp())  # 02:00 S local
    meter = TelegramMeter("m", telegrams_per_slot=2)
    stream, builder = P1Stream(), IntervalBuilder()
    slot0, out = start // 900, []
    for i in range(8):  # 02:00S .. 03:00W local, two hours of UTC
        for t in meter.run_slot(slot0 + i, 100 + i, 0):
            for r in stream.feed(t):
                out += builder.add(r.sample)
    for r in stream.feed(meter.telegram_now(slot_start(slot0 + 8))):
        out += builder.add(r.sample)
    assert [iv.slot - slot0 for iv in out] == list(range(8))
    assert [iv.import_wh for iv in out] == [100 + i for i in range(8)]


def test_clock_jump_back_loses_no_energy_and_forward_jump_is_estimated():
    builder = IntervalBuilder(max_gap_s=60)
    meter = TelegramMeter("m", telegrams_per_slot=3)
    stream = P1Stream()
    s0 = 1_464_264_000 // 900
    telegrams = []
    for i in range(4):
        telegrams += list(meter.run_slot(s0 + i, 300, 0))
    telegrams.append(meter.telegram_now(slot_start(s0 + 4)))
    # The meter clock jumps back 10 minutes once (a resync): that telegram is ignored.
    jumped = write_telegram(time=slot_start(s0 + 1) - 600, equipment_id="m",
                            import_t1_wh=0, import_t2_wh=meter.registers[1],
                            export_t1_wh=0, export_t2_wh=0)
    out = []
    for t in [*telegrams[:5], *telegrams[6:]]:  # drop one telegram mid slot 1
        for r in stream.feed(t):
            out += builder.add(r.sample)
    assert sum(iv.import_wh for iv in out) == 1200
    builder2, out2 = IntervalBuilder(max_gap_s=60), []
    for t in [telegrams[0], telegrams[3], jumped, *telegrams[-1:]]:
        for r in P1Stream().feed(t):
            out2 += builder2.add(r.sample)
    assert sum(iv.import_wh for iv in out2) == 1200  # nothing lost or invented
    assert any(iv.estimated for iv in out2)  # the 45-minute hole is estimated


def test_meter_swap_is_an_error():
    meter = TelegramMeter("m")
    builder, stream = IntervalBuilder(), P1Stream()
    for t in meter.run_slot(1000, 500, 0):
        for r in stream.feed(t):
            builder.add(r.sample)
    swapped = write_telegram(time=slot_start(1001) + 10, equipment_id="m", import_t1_wh=0,
                             import_t2_wh=1, export_t1_wh=0, export_t2_wh=0)
    (r,) = stream.feed(swapped)
    with pytest.raises(RegisterWentBackwards):
        builder.add(r.sample)
