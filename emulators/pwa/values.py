"""PWA value formats and the standard working calendar: site-local dates without offset, duration and
work strings ("5d", "40h"), millisecond and ISO time-span forms, and working-time arithmetic
(Mon-Fri, 08:00-12:00 and 13:00-17:00)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 480
MINUTES_PER_WEEK = 2400
NO_DATE = datetime(1, 1, 1)
NO_DATE_TEXT = "0001-01-01T00:00:00"
_SHIFTS = ((time(8), time(12)), (time(13), time(17)))
DAY_START = time(8)
DAY_END = time(17)

_UNITS = {
    "m": 1,
    "min": 1,
    "mins": 1,
    "minute": 1,
    "minutes": 1,
    "h": 60,
    "hr": 60,
    "hrs": 60,
    "hour": 60,
    "hours": 60,
    "d": MINUTES_PER_DAY,
    "dy": MINUTES_PER_DAY,
    "day": MINUTES_PER_DAY,
    "days": MINUTES_PER_DAY,
    "w": MINUTES_PER_WEEK,
    "wk": MINUTES_PER_WEEK,
    "wks": MINUTES_PER_WEEK,
    "week": MINUTES_PER_WEEK,
    "weeks": MINUTES_PER_WEEK,
    "mo": MINUTES_PER_DAY * 20,
    "mon": MINUTES_PER_DAY * 20,
    "month": MINUTES_PER_DAY * 20,
    "months": MINUTES_PER_DAY * 20,
}
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\??\s*$", re.IGNORECASE)


class ValueFormatError(ValueError):
    """A value in a request that PWA would not accept; the message names what was wrong."""


# --- dates ----------------------------------------------------------------------------------------


def local_now(now_utc: datetime, zone: ZoneInfo) -> datetime:
    """The site-local wall time (naive) for a UTC instant, truncated to milliseconds."""
    local = now_utc.astimezone(zone).replace(tzinfo=None)
    return local.replace(microsecond=(local.microsecond // 1000) * 1000)


def format_date(value: datetime | None) -> str:
    """``2026-11-02T08:00:00`` (milliseconds only when present); None → the "no date" value."""
    if value is None or value == NO_DATE:
        return NO_DATE_TEXT
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def json_date(value: datetime | None) -> str:
    """OData v3 verbose form: ``/Date(<ms>)/`` of the naive local time read as UTC (WCF's convention)."""
    moment = (value or NO_DATE).replace(tzinfo=UTC)
    ms = int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    return f"/Date({ms})/"


def parse_date(value: Any, zone: ZoneInfo) -> datetime | None:
    """A written date: naive ISO text is site-local; text with ``Z``/offset is converted to site time;
    ``/Date(ms)/`` is accepted; None/empty/``0001-01-01`` clear the date."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueFormatError(f"expected a date string, got {value!r}")
    text = value.strip()
    match = re.fullmatch(r"/Date\((-?\d+)\)/", text)
    if match:
        return datetime(1970, 1, 1) + timedelta(milliseconds=int(match.group(1)))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueFormatError(f"'{value}' is not a valid Edm.DateTime value") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(zone).replace(tzinfo=None)
    if parsed.year <= 1:
        return None
    return parsed


# --- durations and work ---------------------------------------------------------------------------


def parse_span(value: Any, default_unit: str) -> int:
    """Minutes of working time from "5d", "40h", "30m", "2w", "1.5d" or a bare number in `default_unit`."""
    if isinstance(value, bool):
        raise ValueFormatError(f"expected a duration, got {value!r}")
    if isinstance(value, int | float):
        return round(float(value) * _UNITS[default_unit])
    if not isinstance(value, str):
        raise ValueFormatError(f"expected a duration string such as '5d' or '40h', got {value!r}")
    match = _SPAN.match(value)
    if match is None:
        raise ValueFormatError(f"'{value}' is not a valid duration (examples: '5d', '40h', '30m')")
    unit = (match.group(2) or default_unit).lower()
    if unit.startswith("e"):  # elapsed durations ("3ed") are not supported by the emulator
        unit = unit[1:]
    if unit not in _UNITS:
        raise ValueFormatError(f"'{value}' has an unknown duration unit '{match.group(2)}'")
    return round(float(match.group(1)) * _UNITS[unit])


def _number(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def format_days(minutes: int) -> str:
    return f"{_number(minutes / MINUTES_PER_DAY)}d"


def format_hours(minutes: int) -> str:
    return f"{_number(minutes / 60)}h"


def milliseconds(minutes: int) -> int:
    return int(minutes) * 60_000


def timespan(minutes: int) -> str:
    """ISO 8601 elapsed form of a working-time amount, as .NET writes a TimeSpan: 584 h → ``P24DT8H``."""
    total = int(minutes)
    if total <= 0:
        return "PT0S"
    days, rest = divmod(total, 24 * 60)
    hours, mins = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    if hours or mins:
        out += "T" + (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "")
    return out


def decimal_text(value: float) -> str:
    """Edm.Decimal as OData v3 writes it in JSON: a string."""
    return f"{value:.6f}"


# --- working calendar -----------------------------------------------------------------------------


def is_working_day(day: date) -> bool:
    return day.weekday() < 5


def next_working_time(moment: datetime) -> datetime:
    """The first working minute at or after `moment`."""
    current = moment.replace(second=0, microsecond=0)
    while True:
        if is_working_day(current.date()):
            for start, end in _SHIFTS:
                shift_start = datetime.combine(current.date(), start)
                shift_end = datetime.combine(current.date(), end)
                if current < shift_start:
                    return shift_start
                if current < shift_end:
                    return current
        current = datetime.combine(current.date() + timedelta(days=1), time(0))


def add_working_minutes(start: datetime, minutes: int) -> datetime:
    """The moment `minutes` of working time after `start` (which is first moved to working time); a span
    ending exactly at a shift end stays there (17:00, not next morning)."""
    current = next_working_time(start)
    remaining = max(int(minutes), 0)
    if remaining == 0:
        return current
    while True:
        if is_working_day(current.date()):
            for shift_start_t, shift_end_t in _SHIFTS:
                shift_start = datetime.combine(current.date(), shift_start_t)
                shift_end = datetime.combine(current.date(), shift_end_t)
                if current >= shift_end:
                    continue
                begin = max(current, shift_start)
                available = int((shift_end - begin).total_seconds() // 60)
                if remaining <= available:
                    return begin + timedelta(minutes=remaining)
                remaining -= available
                current = shift_end
        current = datetime.combine(current.date() + timedelta(days=1), time(0))


def working_minutes(start: datetime, finish: datetime) -> int:
    """Working minutes between two moments (0 when finish is not after start)."""
    if finish <= start:
        return 0
    total = 0
    day = start.date()
    while day <= finish.date():
        if is_working_day(day):
            for shift_start_t, shift_end_t in _SHIFTS:
                begin = max(start, datetime.combine(day, shift_start_t))
                end = min(finish, datetime.combine(day, shift_end_t))
                if end > begin:
                    total += int((end - begin).total_seconds() // 60)
        day += timedelta(days=1)
    return total


def day_start(day: date) -> datetime:
    return datetime.combine(day, DAY_START)


def strip_name(display_name: str) -> str:
    """ProjectData's property name for a custom field: the display name without spaces or symbols."""
    return re.sub(r"[^0-9A-Za-z_]", "", display_name)
