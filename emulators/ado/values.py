"""Field values: parsing what clients send (per field kind) and writing dates the way Azure DevOps does
(UTC, millisecond precision, trailing zeros trimmed: ``2017-10-06T01:04:51.57Z``)."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time
from typing import Any

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def format_date(value: datetime) -> str:
    value = value.astimezone(UTC)
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    ms = value.microsecond // 1000
    if ms:
        return f"{base}.{f'{ms:03d}'.rstrip('0')}Z"
    return base + "Z"


def truncate_ms(value: datetime) -> datetime:
    return value.replace(microsecond=(value.microsecond // 1000) * 1000)


def parse_date(text: str) -> datetime:
    """ISO-8601 with ``Z``, an offset, no zone (taken as UTC) or a bare date (midnight UTC)."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty date")
    if _DATE_ONLY.match(raw):
        return datetime.combine(date.fromisoformat(raw), time(0), tzinfo=UTC)
    parsed = datetime.fromisoformat(raw.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return truncate_ms(parsed.astimezone(UTC))


def has_time_component(text: str) -> bool:
    return not _DATE_ONLY.match(text.strip())


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def coerce_number(value: Any, *, integer: bool) -> int | float:
    """Numbers and numeric strings; raises ValueError (the caller reports TF401326 InvalidType)."""
    if isinstance(value, bool):
        raise ValueError("boolean is not a number")
    if isinstance(value, int | float):
        number: float = float(value)
    elif isinstance(value, str):
        number = float(value.strip())
    else:
        raise ValueError("not a number")
    if math.isnan(number) or math.isinf(number):
        raise ValueError("not a finite number")
    if integer:
        if number != int(number):
            raise ValueError("not an integer")
        return int(number)
    return number


def coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("not a boolean")


def wire_number(value: int | float) -> int | float:
    """Doubles with no fraction go out as integers, as the real service writes them (``4`` not ``4.0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
