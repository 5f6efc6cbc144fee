"""Writing P1 telegrams, byte for byte, as a meter would: for the simulated meter and tests."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

METER_TZ = ZoneInfo("Europe/Brussels")


def crc16(data: bytes) -> int:
    """CRC-16/ARC (polynomial 0xA001 reflected, initial 0), as DSMR 4+ and e-MUCS use."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def meter_time(unix_s: int, tz: ZoneInfo = METER_TZ) -> str:
    """YYMMDDhhmmssX in the meter's local time, X = S (summer) or W (winter)."""
    local = dt.datetime.fromtimestamp(unix_s, tz)
    flag = "S" if local.dst() else "W"
    return local.strftime("%y%m%d%H%M%S") + flag


def _kwh(wh: int) -> str:
    return f"{wh // 1000:06d}.{wh % 1000:03d}"


def _kw(w: int) -> str:
    return f"{w // 1000:02d}.{w % 1000:03d}"


def write_telegram(
    *,
    time: int,
    equipment_id: str,
    import_t1_wh: int,
    import_t2_wh: int,
    export_t1_wh: int,
    export_t2_wh: int,
    power_import_w: int = 0,
    power_export_w: int = 0,
    fluvius: bool = False,
    average_demand_w: int = 0,
    month_peak_w: int = 0,
    month_peak_time: int | None = None,
) -> bytes:
    """A DSMR 5 (or, with ``fluvius``, e-MUCS 1.7.1) telegram with a valid CRC."""
    eid = equipment_id.encode().hex().upper()
    lines = ["/FLU5\\253769484_A" if fluvius else "/ISk5\\2MT382-1000", ""]
    lines.append("0-0:96.1.4(50217)" if fluvius else "1-3:0.2.8(50)")
    if fluvius:
        lines += [f"0-0:96.1.1({eid})", f"0-0:1.0.0({meter_time(time)})"]
    else:
        lines += [f"0-0:1.0.0({meter_time(time)})", f"0-0:96.1.1({eid})"]
    lines += [
        f"1-0:1.8.1({_kwh(import_t1_wh)}*kWh)",
        f"1-0:1.8.2({_kwh(import_t2_wh)}*kWh)",
        f"1-0:2.8.1({_kwh(export_t1_wh)}*kWh)",
        f"1-0:2.8.2({_kwh(export_t2_wh)}*kWh)",
    ]
    if fluvius:
        peak_time = meter_time(month_peak_time if month_peak_time is not None else time)
        lines += [
            f"1-0:1.4.0({_kw(average_demand_w)}*kW)",
            f"1-0:1.6.0({peak_time})({_kw(month_peak_w)}*kW)",
        ]
    lines += [
        "0-0:96.14.0(0001)",
        f"1-0:1.7.0({_kw(power_import_w)}*kW)",
        f"1-0:2.7.0({_kw(power_export_w)}*kW)",
    ]
    body = ("\r\n".join(lines) + "\r\n!").encode("ascii")
    return body + f"{crc16(body):04X}\r\n".encode("ascii")
