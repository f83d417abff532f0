"""PWA value formats: offset-less dates in the PWA's time zone, durations and work as text or time spans.

The hub sees dates as UTC ISO-8601 strings (`2026-11-02T07:00:00Z`) and durations/work as hours (float).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

NO_DATE = "0001-01-01T00:00:00"  # how PWA says "no date"
_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_ISO_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?"
    r"(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_TEXT_DURATION = re.compile(r"^\s*(-?[\d.,]+)\s*(e?)([a-z]*)\??\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Calendar:
    """Working time used to turn days/weeks/months into hours (the project's own settings when known)."""

    hours_per_day: float = 8.0
    hours_per_week: float = 40.0
    days_per_month: float = 20.0


# --- dates ---------------------------------------------------------------------------------------


def parse_pwa_date(value: Any, zone: ZoneInfo) -> datetime | None:
    """A PWA date as an aware UTC datetime; None for no date. Offset-less values are in `zone`."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        ms = _MS_DATE.match(text)
        if ms:
            # Verbose OData v3 `/Date(ms)/`: the wall-clock time counted as if it were UTC.
            parsed = datetime(1970, 1, 1) + timedelta(milliseconds=int(ms.group(1)))
        else:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
    if parsed.year <= 1:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def utc_iso(value: datetime | None) -> str | None:
    """The hub's date form: `2026-11-02T07:00:00Z` (sub-second precision dropped, as PWA keeps none)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_pwa_date(value: Any, zone: ZoneInfo) -> str:
    """A hub value (ISO string, datetime or date) as PWA wants it: offset-less wall-clock time in `zone`.

    A value without an offset is taken as UTC (the hub's convention); a bare date is midnight in `zone`.
    """
    if value is None or value == "":
        return NO_DATE
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day).strftime("%Y-%m-%dT%H:%M:%S")
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return text + "T00:00:00"
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO-8601 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(zone).replace(tzinfo=None, microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")


def version_of(modified: Any) -> str:
    """A task's version: its Modified date as PWA sends it, normalised so reads compare equal."""
    if modified is None:
        return ""
    text = str(modified).strip()
    ms = _MS_DATE.match(text)
    if ms:
        return (datetime(1970, 1, 1) + timedelta(milliseconds=int(ms.group(1)))).isoformat()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None).isoformat()
    except ValueError:
        return text


# --- durations and work --------------------------------------------------------------------------

_UNITS: dict[str, str] = {
    "m": "minute",
    "min": "minute",
    "mins": "minute",
    "minute": "minute",
    "minutes": "minute",
    "h": "hour",
    "hr": "hour",
    "hrs": "hour",
    "hour": "hour",
    "hours": "hour",
    "d": "day",
    "dy": "day",
    "day": "day",
    "days": "day",
    "w": "week",
    "wk": "week",
    "wks": "week",
    "week": "week",
    "weeks": "week",
    "mo": "month",
    "mon": "month",
    "month": "month",
    "months": "month",
}


def parse_hours(value: Any, calendar: Calendar | None = None) -> float | None:
    """Hours from a PWA duration/work value: "208h", "73d", "1.5w", "P24DT8H", or a number of hours.

    Days, weeks and months are working time, converted with the project's calendar; elapsed units
    ("3ed") are calendar time (24 h a day).
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    calendar = calendar or Calendar()
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    iso = _ISO_DURATION.match(text)
    if iso and text not in ("P", "PT"):
        hours = (
            float(iso.group("d") or 0) * 24
            + float(iso.group("h") or 0)
            + float(iso.group("m") or 0) / 60
            + float(iso.group("s") or 0) / 3600
        )
        return round(-hours if iso.group("sign") else hours, 6)
    match = _TEXT_DURATION.match(text)
    if not match:
        return None
    try:
        number = float(match.group(1).replace(",", "."))
    except ValueError:
        return None
    elapsed = bool(match.group(2))
    unit = _UNITS.get(match.group(3).lower() or "h")
    if unit is None:
        return None
    if unit == "minute":
        hours = number / 60
    elif unit == "hour":
        hours = number
    elif unit == "day":
        hours = number * (24 if elapsed else calendar.hours_per_day)
    elif unit == "week":
        hours = number * (168 if elapsed else calendar.hours_per_week)
    else:
        hours = number * (720 if elapsed else calendar.days_per_month * calendar.hours_per_day)
    return round(hours, 6)


def hours_from_ms(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return round(float(value) / 3_600_000, 6)
    except (TypeError, ValueError):
        return None


def task_hours(raw: dict[str, Any], name: str, calendar: Calendar) -> float | None:
    """Hours of a Task duration/work property, from the most exact form present.

    `<name>TimeSpan` (ISO duration of working time) beats `<name>Milliseconds` (Int32 on the wire, so it
    overflows past ~596 h) beats the display text (`<name>`, in the project's units).
    """
    span = raw.get(f"{name}TimeSpan")
    if span:
        hours = parse_hours(span, calendar)
        if hours is not None:
            return hours
    text = raw.get(name)
    if text not in (None, ""):
        hours = parse_hours(text, calendar)
        if hours is not None:
            return hours
    return hours_from_ms(raw.get(f"{name}Milliseconds"))


def to_pwa_hours(value: Any) -> str:
    """Hours as a PWA duration/work string ("12.5h")."""
    if value is None or value == "":
        return "0h"
    if isinstance(value, str):
        hours = parse_hours(value)
        if hours is None:
            raise ValueError(f"{value!r} is not a number of hours")
    else:
        hours = float(value)
    if hours < 0:
        raise ValueError(f"work and durations cannot be negative, got {hours:g} h")
    return f"{round(hours, 4):g}h"
