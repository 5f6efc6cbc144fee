"""The gateway on real transports: a pseudo-terminal as the serial port, a loopback socket."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

from meter_oracle.gateway import Gateway, serial_chunks, tcp_chunks
from meter_oracle.oracle import ReadingVerifier
from meter_oracle.simulated import TelegramMeter
from protocol.signing import KeyPair
from protocol.units import slot_start

S0 = 1_464_264_000 // 900
ENERGY = [(120, 0), (0, 480), (60, 0)]


def _telegrams(fluvius: bool) -> list[bytes]:
    meter = TelegramMeter("GW-1", fluvius=fluvius, telegrams_per_slot=3)
    out = []
    for i, (imp, exp) in enumerate(ENERGY):
        out += list(meter.run_slot(S0 + i, imp, exp))
    out.append(meter.telegram_now(slot_start(S0 + len(ENERGY))))
    return out


def _check(readings, key):
    assert [(r.message.slot - S0, r.message.import_wh, r.message.export_wh)
            for r in readings] == [(i, imp, exp) for i, (imp, exp) in enumerate(ENERGY)]
    v = ReadingVerifier({"home-1": key.public_hex})
    assert all(v.submit(r, slot_start(S0 + 10)) for r in readings)


def test_serial_port_through_a_pty():
    master, slave = os.openpty()
    device = os.ttyname(slave)
    telegrams = _telegrams(fluvius=True)
    corrupt = telegrams[1].replace(b"1-0:1.8.2(", b"1-0:1.8.2(9", 1)
    key = KeyPair.from_seed(b"gw")
    gateway = Gateway("home-1", key, equipment_id="GW-1")

    def meter():  # readers flush input on open: the meter writes only once the port is open
        for i, t in enumerate(telegrams):
            if i == 1:
                os.write(master, corrupt)
            os.write(master, t)
            time.sleep(0.01)

    def start_meter():
        threading.Thread(target=meter, daemon=True).start()

    readings = []
    for data in serial_chunks(device, timeout_s=0.2, idle_limit_s=1.0, on_open=start_meter):
        readings += gateway.feed(data)
    _check(readings, key)
    assert gateway.stats()["crc_failures"] == 1
    os.close(master)
    os.close(slave)


def _serve(telegrams: list[bytes]) -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def run():
        conn, _ = server.accept()
        with conn:
            for t in telegrams:
                conn.sendall(t[:40])
                time.sleep(0.002)
                conn.sendall(t[40:])
        server.close()

    threading.Thread(target=run, daemon=True).start()
    return server, port


def test_tcp_bridge_on_loopback():
    key = KeyPair.from_seed(b"gw")
    gateway = Gateway("home-1", key, spec="dsmr5")
    _, port = _serve(_telegrams(fluvius=False))
    readings = []
    for data in tcp_chunks("127.0.0.1", port, timeout_s=5):
        readings += gateway.feed(data)
    _check(readings, key)
    assert gateway.stats() == {"telegrams": 10, "crc_failures": 0, "parse_errors": 0,
                               "foreign_telegrams": 0}


def test_telegrams_of_another_meter_are_refused():
    gateway = Gateway("home-1", KeyPair.from_seed(b"gw"), equipment_id="SOMEONE-ELSE")
    assert all(gateway.feed(t) == [] for t in _telegrams(fluvius=False))
    assert gateway.stats()["foreign_telegrams"] == 10


def test_meter_read_cli_prints_signed_readings(tmp_path):
    _, port = _serve(_telegrams(fluvius=True))
    exe = shutil.which("flexmarket")
    cmd = [exe] if exe else [sys.executable, "-m", "sim.cli"]
    proc = subprocess.run(
        [*cmd, "meter", "read", "--tcp", f"127.0.0.1:{port}", "--meter-id", "home-1",
         "--key", str(tmp_path / "meter.key"), "--idle-timeout", "5"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(x["import_wh"], x["export_wh"]) for x in lines] == ENERGY
    assert "register its public key" in proc.stderr
    assert (tmp_path / "meter.key").stat().st_mode & 0o777 == 0o600


def test_meter_read_cli_errors_are_plain(tmp_path):
    exe = shutil.which("flexmarket")
    cmd = [exe] if exe else [sys.executable, "-m", "sim.cli"]
    for args, msg in ((["--tcp", "127.0.0.1:1"], "cannot connect"),
                      (["--port", str(tmp_path / "no-such-tty")], "cannot open serial port"),
                      (["--tcp", "nohost"], "is not HOST:PORT")):
        proc = subprocess.run([*cmd, "meter", "read", *args, "--key",
                               str(tmp_path / "k.key"), "--idle-timeout", "2"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (args, proc.stderr)
        assert msg in proc.stderr and "Traceback" not in proc.stderr
