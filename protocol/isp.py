"""UFTP ISPs and our slots: ISP k (from 1) of a period (a date in a time zone) is one slot."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from protocol.units import SLOT_SECONDS


def first_slot_of(period: dt.date, time_zone: str) -> int:
    """The slot (unix s // 900) of ISP 1 of ``period``: local midnight in ``time_zone``."""
    midnight = dt.datetime(period.year, period.month, period.day, tzinfo=ZoneInfo(time_zone))
    return int(midnight.timestamp()) // SLOT_SECONDS


def slot_of_isp(period: dt.date, time_zone: str, isp: int) -> int:
    """The slot of ISP ``isp`` (1-based) of ``period``."""
    return first_slot_of(period, time_zone) + isp - 1


def isp_of_slot(period: dt.date, time_zone: str, slot: int) -> int:
    """The ISP number (1-based) of ``slot`` within ``period``."""
    return slot - first_slot_of(period, time_zone) + 1
