"""Which scenario directions are due at a timer tick, by each direction's own NCRONTAB schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croniter import croniter

from sync.config import TandemConfig
from sync.messages import PollMessage


def previous_fire(schedule: str, now: datetime) -> datetime:
    """The latest instant at or before `now` matching a 6-field NCRONTAB (seconds first)."""
    now = now.astimezone(UTC)
    probe = now + timedelta(microseconds=1)
    it = croniter(schedule, probe, second_at_beginning=True)
    prev: datetime = it.get_prev(datetime)
    return prev.astimezone(UTC)


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
            fired = previous_fire(scenario.directions[direction].schedule, now)
            if now - fired < tick:
                out.append(
                    PollMessage(scenario=scenario.name, direction=direction, trigger="timer", due=fired)
                )
    return out
