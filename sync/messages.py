"""Queue messages of the data path. They carry ids and versions, never field values."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from mapping.fieldmap import SyncDirection

Origin = Literal["timer", "manual", "bulk", "hook", "bounce", "parent", "reference", "demo"]
# What a message applies beyond an ordinary change: manual-mode rules (a manual run of a scenario with such
# rules), or a forced sync (source values written whatever the snapshot says). Part of the message id, so
# such a pass is not dropped as a duplicate of the ordinary one.
Variant = Literal["", "manual", "force"]
MANUAL_TRIGGERS = ("manual", "bulk")


class PollMessage(BaseModel):
    """Poll one direction of one scenario now."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["poll"] = "poll"
    scenario: str
    direction: SyncDirection
    trigger: Origin = "timer"
    due: datetime  # the schedule slot this poll is for; makes the message id stable per slot

    @property
    def message_id(self) -> str:
        return _digest("poll", self.scenario, self.direction, self.due.isoformat())

    @property
    def session_id(self) -> str:
        # One poll of a direction at a time; directions never block each other.
        return f"{self.scenario}|{self.direction}"


class ItemMessage(BaseModel):
    """Apply the change of one source item to its target. Values are re-read fresh at apply time."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["item"] = "item"
    scenario: str
    direction: SyncDirection
    entity: str
    source_id: str
    source_version: str
    session: str  # the target unit written serially: see sync.sessions
    origin: Origin = "timer"
    run_id: str = ""
    attempt: int = 1
    enqueued_at: datetime | None = None  # when the change was first seen (for hook-to-write latency)
    deleted: bool = False
    trigger: Origin | None = None  # what started the run (follow-ups keep it); None: the origin
    variant: Variant = ""
    match_key: str | None = None  # a bulk job's match key (sync.match); None: the scenario's `match_on`

    @property
    def message_id(self) -> str:
        """Same change → same id, whether it came from a poll, a hook or a manual run."""
        base = item_message_id(
            self.scenario, self.direction, self.entity, self.source_id, self.source_version
        )
        if self.variant:
            base = f"{base}~{self.variant}"
        return base if self.attempt <= 1 else f"{base}~{self.attempt}"

    @property
    def manual(self) -> bool:
        """Part of a manual or bulk run: manual-mode rules flow."""
        return (self.trigger or self.origin) in MANUAL_TRIGGERS or self.variant == "force"


def item_message_id(scenario: str, direction: str, entity: str, source_id: str, source_version: str) -> str:
    return _digest(scenario, direction, entity, source_id, source_version)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]
