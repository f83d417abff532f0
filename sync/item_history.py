"""One item's story, found by its id on either system: its link, snapshot, last versions, standing notes
(write warnings, the last error, open failures) and the journal of the runs that touched it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from connectors.errors import ConnectorError
from state.item_journal import ItemEvent, read_events
from state.links import NOTES_KEY, Link, Side
from sync.config import ConfigError, ScenarioConfig
from sync.refusal import Refused
from sync.services import Services


class ItemNotFound(Refused):
    """Neither side knows the item (or the named entity pair does not exist): `field` says which input."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field, 404)


class ItemHistory(BaseModel):
    entity: str
    left_id: str | None = None
    right_id: str | None = None
    link: dict[str, Any] | None = None
    snapshot: dict[str, Any] | None = None
    versions: dict[str, str | None] = Field(default_factory=lambda: {"left": None, "right": None})
    notes: list[str] = Field(default_factory=list)
    events: list[ItemEvent] = Field(default_factory=list)


def _notes(
    services: Services, view: ScenarioConfig, link: Link | None, ids: dict[Side, str | None]
) -> list[str]:
    notes: list[str] = []
    if link is not None:
        notes += [str(w) for w in (link.snapshot.get(NOTES_KEY) or {}).get("warnings") or []]
        if link.last_error:
            notes.append(f"last error: {link.last_error}")
    for failure in services.failures.list(view.key):
        side: Side = "left" if failure.direction == "left_to_right" else "right"
        if ids.get(side) == failure.source_id:
            notes.append(
                f"{failure.kind} ({failure.direction}, {failure.attempts} attempt(s)): {failure.reason}"
            )
    return notes


def _from_link(services: Services, view: ScenarioConfig, link: Link) -> ItemHistory:
    ids: dict[Side, str | None] = {"left": link.left_id, "right": link.right_id}
    return ItemHistory(
        entity=view.pair,
        left_id=link.left_id,
        right_id=link.right_id,
        link={"link_id": link.link_id, **link.model_dump(mode="json", exclude={"snapshot", "events"})},
        snapshot={k: v for k, v in link.snapshot.items() if k != NOTES_KEY},
        versions={"left": link.left_version, "right": link.right_version},
        notes=_notes(services, view, link, ids),
        events=list(reversed(read_events(link.events))),  # newest first
    )


def item_history(
    services: Services,
    name: str,
    item_id: str,
    *,
    side: Literal["left", "right"] | None = None,
    entity: str | None = None,
) -> ItemHistory:
    scenario = services.config().scenario(name)
    try:
        views = [scenario.pair_view(entity)] if entity else scenario.views()
    except ConfigError as exc:
        raise ItemNotFound(str(exc), "entity") from None
    sides: list[Side] = [side] if side else ["left", "right"]
    for view in views:
        for s in sides:
            link = services.links.find(view.key, s, item_id)
            if link is not None:
                return _from_link(services, view, link)
    # Not linked: an item one of the systems holds (out of scope, not synced yet, or its create failed).
    for view in views:
        for s in sides:
            try:
                found = services.side_connector(view, s).read(view.entity_of(s), [item_id])
            except (ConnectorError, ValueError):
                found = []  # e.g. not an id this system could hold
            if found:
                ids: dict[Side, str | None] = {"left": None, "right": None}
                ids[s] = found[0].id
                versions = {"left": None, "right": None}
                versions[s] = found[0].version
                notes = ["not linked: no run has synced this item yet (out of scope, or its sync failed)"]
                return ItemHistory(
                    entity=view.pair,
                    left_id=ids["left"],
                    right_id=ids["right"],
                    versions=versions,
                    notes=notes + _notes(services, view, None, ids),
                )
    where = f"the {side} side" if side else "either side"
    raise ItemNotFound(f"no item '{item_id}' on {where} of scenario '{name}'", "id")
