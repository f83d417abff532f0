"""What processing one message came to; the runtime turns it into complete, reschedule or dead-letter."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Done:
    result: str  # created | updated | unchanged | skipped | conflict


@dataclass(frozen=True)
class Retry:
    delay: float  # seconds; never sooner than the system's Retry-After
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    description: str = ""


Outcome = Done | Retry | DeadLetter
