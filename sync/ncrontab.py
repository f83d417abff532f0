"""NCRONTAB schedules (Azure Functions' 6-field cron, seconds first): one parser to validate and evaluate.

croniter evaluates the schedule and checks each value's range; this module only translates NCRONTAB's
grammar into croniter's where the two differ, so that what the configuration accepts is exactly what
NCrontab (the library Azure Functions uses) accepts, and means the same thing:

- six fields, `sec min hour day month day-of-week`; each a list of `*`, `N` or `N-M`, each with an
  optional `/step` (`N/step` runs from N to the field's maximum);
- month and day-of-week names are any case-insensitive prefix of the English name (`Jan`, `january`,
  `MON`); day of week is 0-6 with Sunday 0 (7 is refused);
- a range written backwards (`30-10`) is the same range forwards (croniter would wrap around);
- a day and a day of week both given must both match (croniter's default is either);
- croniter's extensions (`L`, `W`, `#`, `?`, `H`, a seventh year field) are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

FIELDS = ("second", "minute", "hour", "day", "month", "day-of-week")
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
# (min, max, names) per field, as NCrontab defines them.
_BOUNDS: tuple[tuple[int, int, list[str] | None], ...] = (
    (0, 59, None),
    (0, 59, None),
    (0, 23, None),
    (1, 31, None),
    (1, 12, _MONTHS),
    (0, 6, _WEEKDAYS),
)
_ELEMENT = re.compile(r"^(?P<base>\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>[0-9]+))?$")
FORMAT_HINT = "a 6-field NCRONTAB expression 'second minute hour day month day-of-week'"


class NcrontabError(ValueError):
    """An expression NCrontab would refuse; the message names the field and the value."""


def _value(token: str, index: int) -> int:
    low, high, names = _BOUNDS[index]
    if token.isdigit():
        number = int(token)
    else:
        match = next((i for i, name in enumerate(names or []) if name.startswith(token.lower())), None)
        if match is None:
            known = f"a number or a name ({', '.join(n[:3] for n in names)})" if names else "a number"
            raise NcrontabError(f"'{token}' in the {FIELDS[index]} field is not {known}")
        number = match + low
    if not low <= number <= high:
        raise NcrontabError(f"{number} is outside the {FIELDS[index]} field's range {low}-{high}")
    return number


def _translate(field: str, index: int) -> str:
    """One NCRONTAB field in croniter's grammar, with the same meaning."""
    parts = []
    for element in field.split(","):
        match = _ELEMENT.match(element)
        if not match:
            raise NcrontabError(f"'{element or field}' is not a valid {FIELDS[index]} field")
        base, step = match["base"], int(match["step"] or 1)
        step = max(step, 1)  # NCrontab treats a step of 0 as 1
        low, high, _ = _BOUNDS[index]
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = sorted(_value(token, index) for token in base.split("-"))
        else:
            first = _value(base, index)
            last = high if match["step"] else first
        parts.append(
            f"{first}-{last}/{step}" if step > 1 else (f"{first}-{last}" if last > first else f"{first}")
        )
    return ",".join(parts)


@dataclass(frozen=True)
class NcrontabSchedule:
    """A parsed schedule: `previous(now)` and `next(now)` in UTC."""

    expression: str
    croniter_expression: str

    def _iter(self, start: datetime) -> croniter:
        return croniter(self.croniter_expression, start, second_at_beginning=True, day_or=False)

    def previous(self, now: datetime) -> datetime:
        """The latest instant at or before `now` that the schedule fires."""
        now = now.astimezone(UTC)
        fired: datetime = self._iter(now + timedelta(microseconds=1)).get_prev(datetime)
        return fired.astimezone(UTC)

    def next(self, now: datetime) -> datetime:
        """The first instant after `now` that the schedule fires."""
        fired: datetime = self._iter(now.astimezone(UTC)).get_next(datetime)
        return fired.astimezone(UTC)


def parse_ncrontab(expression: str) -> NcrontabSchedule:
    """Parse a 6-field NCRONTAB expression; `NcrontabError` names what is wrong."""
    fields = expression.split()
    if len(fields) != len(FIELDS):
        raise NcrontabError(f"'{expression}' has {len(fields)} fields; expected {FORMAT_HINT}")
    translated = " ".join(_translate(field, index) for index, field in enumerate(fields))
    if not croniter.is_valid(translated, second_at_beginning=True):  # the range checks' second opinion
        raise NcrontabError(f"'{expression}' is not {FORMAT_HINT}")
    return NcrontabSchedule(expression, translated)
