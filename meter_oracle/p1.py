"""P1 telegrams (DSMR 5, DSMR 4, Belgian e-MUCS / Fluvius) into register samples.

Parsing and CRC checking are dsmr-parser's (``TelegramBuffer`` splits the byte stream into
telegrams, ``TelegramParser`` checks the CRC and parses). Timestamps come from the meter's clock
with its DST flag (W/S), which dsmr-parser turns into UTC. Registers are summed over tariffs and
converted to integer Wh exactly (they are kWh with three decimals).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from dsmr_parser import telegram_specifications
from dsmr_parser.clients.telegram_buffer import TelegramBuffer
from dsmr_parser.exceptions import InvalidChecksumError, ParseError
from dsmr_parser.parsers import TelegramParser

from meter_oracle.intervals import RegisterSample
from protocol.errors import FlexmarketError

SPECS = {
    "dsmr5": telegram_specifications.V5,
    "dsmr4": telegram_specifications.V4,
    "fluvius": telegram_specifications.BELGIUM_FLUVIUS,
}


class UnknownTelegram(FlexmarketError):
    """A telegram whose meter type cannot be recognised."""


def detect_spec(raw: str) -> str:
    """Guess the specification from a telegram's header and version lines."""
    if raw.startswith("/FLU") or "0-0:96.1.4(" in raw:
        return "fluvius"
    if "1-3:0.2.8(50)" in raw or "1-3:0.2.8(5" in raw:
        return "dsmr5"
    if "1-3:0.2.8(42)" in raw or "1-3:0.2.8(4" in raw:
        return "dsmr4"
    raise UnknownTelegram("unrecognised P1 telegram: no DSMR or e-MUCS version line")


@dataclass(frozen=True)
class P1Reading:
    """What the oracle keeps of one telegram (Wh, W, UTC unix seconds)."""

    meter_id: str
    sample: RegisterSample
    power_import_w: int
    power_export_w: int
    average_demand_w: int | None = None  # e-MUCS: current 15-minute average demand
    month_peak_w: int | None = None  # e-MUCS: this month's highest 15-minute average
    month_peak_time: int | None = None


def equipment_name(hex_id: str) -> str:
    """Meters send their equipment id as hex of ASCII (4B38… = "K8…"); decode if printable."""
    try:
        text = bytes.fromhex(hex_id).decode("ascii")
    except ValueError:
        return hex_id
    return text if text.isprintable() and text.strip() == text and text else hex_id


def _wh(value: Decimal) -> int:
    return int(value * 1000)


def _value(telegram, name: str):
    obj = getattr(telegram, name, None)
    return None if obj is None else obj.value


def to_reading(telegram) -> P1Reading:
    """Convert a parsed dsmr-parser telegram to a :class:`P1Reading`."""
    ts = _value(telegram, "P1_MESSAGE_TIMESTAMP")
    if ts is None:
        raise UnknownTelegram("telegram has no timestamp (0-0:1.0.0)")
    meter_id = _value(telegram, "EQUIPMENT_IDENTIFIER") or _value(
        telegram, "BELGIUM_EQUIPMENT_IDENTIFIER")
    imp = sum(_wh(_value(telegram, f"ELECTRICITY_USED_TARIFF_{i}") or Decimal(0)) for i in (1, 2))
    exp = sum(_wh(_value(telegram, f"ELECTRICITY_DELIVERED_TARIFF_{i}") or Decimal(0))
              for i in (1, 2))
    avg = _value(telegram, "BELGIUM_CURRENT_AVERAGE_DEMAND")
    peak = getattr(telegram, "BELGIUM_MAXIMUM_DEMAND_MONTH", None)
    return P1Reading(
        meter_id=equipment_name(str(meter_id)) if meter_id else "unknown",
        sample=RegisterSample(int(ts.timestamp()), imp, exp),
        power_import_w=_wh(_value(telegram, "CURRENT_ELECTRICITY_USAGE") or Decimal(0)),
        power_export_w=_wh(_value(telegram, "CURRENT_ELECTRICITY_DELIVERY") or Decimal(0)),
        average_demand_w=None if avg is None else _wh(avg),
        month_peak_w=None if peak is None else _wh(peak.value),
        month_peak_time=None if peak is None or peak.datetime is None
        else int(peak.datetime.timestamp()),
    )


@dataclass
class P1Stream:
    """Bytes in, readings out; counts telegrams, CRC failures and parse errors."""

    spec: str = "auto"
    buffer: TelegramBuffer = field(default_factory=TelegramBuffer)
    telegrams: int = 0
    crc_failures: int = 0
    parse_errors: int = 0
    _parsers: dict[str, TelegramParser] = field(default_factory=dict)

    def feed(self, data: bytes) -> list[P1Reading]:
        """Add received bytes; return the readings of every complete, valid telegram."""
        self.buffer.append(data.decode("ascii", errors="replace"))
        out = []
        for raw in self.buffer.get_all():
            self.telegrams += 1
            try:
                spec = detect_spec(raw) if self.spec == "auto" else self.spec
                parser = self._parsers.setdefault(spec, TelegramParser(SPECS[spec]))
                out.append(to_reading(parser.parse(raw)))
            except InvalidChecksumError:
                self.crc_failures += 1
            except (ParseError, UnknownTelegram, ValueError, KeyError):
                self.parse_errors += 1
        return out
