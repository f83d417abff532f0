"""Which scenario directions are due at a timer tick, by each direction's own NCRONTAB schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from sync.config import TandemConfig
from sync.messages import PollMessage
from sync.ncrontab import parse_ncrontab


def previous_fire(schedule: str, now: datetime) -> datetime:
    """The latest instant at or before `now` matching a 6-field NCRONTAB (seconds first)."""
    return parse_ncrontab(schedule).previous(now)


def due_polls(
    config: TandemConfig, now: datetime, tick: timedelta = timedelta(minutes=1)
) -> list[PollMessage]:
    """One poll message per direction whose schedule fired within the last tick.

    The message id is derived from the schedule slot, so two timers firing for the same slot
    enqueue one poll, and a missed tick only delays a poll: the watermark keeps every change.
    """
    out = []
    for scenario in config.scenarios:
        for direction in scenario.enabled_directions():
            if scenario.directions[direction].trigger == "manual":
                continue  # runs only when someone asks (tandem run / sync, the admin API)
            fired = previous_fire(scenario.directions[direction].schedule, now)
            if now - fired < tick:
                out.append(
                    PollMessage(scenario=scenario.name, direction=direction, trigger="timer", due=fired)
                )
    return out
