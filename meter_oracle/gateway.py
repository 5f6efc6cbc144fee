"""The home gateway: P1 bytes from a serial port or a TCP socket to signed 15-minute readings.

``Gateway.feed`` is pure (bytes in, signed readings out); the sources below are the only I/O.
Intervals run on the meter's clock (each telegram's own timestamp), never on the gateway's.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from meter_oracle.intervals import IntervalBuilder
from meter_oracle.oracle import MeterOracle, SignedReading
from meter_oracle.p1 import P1Reading, P1Stream
from protocol.errors import FlexmarketError
from protocol.signing import KeyPair


class GatewayError(FlexmarketError):
    """The meter port or socket cannot be opened or read."""


@dataclass
class Gateway:
    """One meter's gateway: stream parser, interval builder and signing oracle."""

    meter_id: str
    key: KeyPair
    spec: str = "auto"
    equipment_id: str | None = None  # if set, telegrams from any other meter are refused
    max_gap_s: int = 60
    stream: P1Stream = field(init=False)
    builder: IntervalBuilder = field(init=False)
    oracle: MeterOracle = field(init=False)
    foreign_telegrams: int = 0
    last: P1Reading | None = None

    def __post_init__(self) -> None:
        self.stream = P1Stream(self.spec)
        self.builder = IntervalBuilder(self.max_gap_s)
        self.oracle = MeterOracle(self.meter_id, self.key)

    def feed(self, data: bytes) -> list[SignedReading]:
        """Received bytes → the signed readings of every slot they close."""
        out: list[SignedReading] = []
        for reading in self.stream.feed(data):
            if self.equipment_id is not None and reading.meter_id != self.equipment_id:
                self.foreign_telegrams += 1
                continue
            self.last = reading
            out += [self.oracle.sign(iv) for iv in self.builder.add(reading.sample)]
        return out

    def stats(self) -> dict:
        s = self.stream
        return {"telegrams": s.telegrams, "crc_failures": s.crc_failures,
                "parse_errors": s.parse_errors, "foreign_telegrams": self.foreign_telegrams}


def serial_chunks(device: str, baudrate: int = 115200, timeout_s: float = 1.0,
                  idle_limit_s: float | None = None,
                  on_open: Callable[[], None] | None = None) -> Iterator[bytes]:
    """Bytes from a serial device (serialx); stops after ``idle_limit_s`` without data, if set.

    ``on_open`` is called once the port is open (serial readers flush input on open).
    """
    import serialx

    with contextlib.ExitStack() as stack:
        try:
            port = stack.enter_context(
                serialx.serial_for_url(device, baudrate=baudrate, timeout=timeout_s))
        except (OSError, ValueError) as exc:
            raise GatewayError(f"cannot open serial port {device}: {exc}") from exc
        if on_open is not None:
            on_open()
        idle = 0.0
        while True:
            data = port.read(1024)
            if data:
                idle = 0.0
                yield data
            else:
                idle += timeout_s
                if idle_limit_s is not None and idle >= idle_limit_s:
                    return


def tcp_chunks(host: str, port: int, timeout_s: float = 60.0) -> Iterator[bytes]:
    """Bytes from a TCP P1 bridge (ser2net style) until it closes or stays silent too long."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise GatewayError(f"cannot connect to P1 bridge {host}:{port}: {exc}") from exc
    with sock:
        while True:
            try:
                data = sock.recv(4096)
            except TimeoutError:
                return
            if not data:
                return
            yield data
