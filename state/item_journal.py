"""The per-item journal: the last runs that touched a linked item (created, updated, unchanged, conflict,
failed), with the names of the fields written, never their values.

It lives on the item's link row (packed like the snapshot) and is written with the link save the applier
makes anyway: no extra table call per item. Bounded to the last MAX_EVENTS events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

MAX_EVENTS = 50
Action = Literal["created", "updated", "unchanged", "conflict", "failed", "skipped"]


class ItemEvent(BaseModel):
    at: datetime
    run_id: str = ""
    direction: str
    action: Action
    fields: list[str] = Field(default_factory=list)  # names only: values never go into the journal


def appended(events: list[dict[str, Any]], event: ItemEvent) -> list[dict[str, Any]]:
    """The journal with `event` added, the oldest dropped beyond MAX_EVENTS."""
    return [*events, event.model_dump(mode="json")][-MAX_EVENTS:]


def read_events(raw: Iterable[dict[str, Any]]) -> list[ItemEvent]:
    return [ItemEvent.model_validate(e) for e in raw]
