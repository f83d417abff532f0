"""Operations routes of the admin API: the overview of every integration, failures and dead letters (with
replay). The admin console and the CLI are their clients."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from sync.admin.app import ApiError, ErrorReply, Name, Svc
from sync.deadletters import DeadLetterItem
from sync.item_history import ItemHistory
from sync.overview import Overview
from sync.resolve import ConflictView, Resolution

router = APIRouter(tags=["operations"])
MAX_IDS = 1000


class DeadLetters(BaseModel):
    items: list[DeadLetterItem]


class ReplayRequest(BaseModel):
    """Either `message_ids` (one or some), or `all` (of `scenario` when named)."""

    model_config = ConfigDict(extra="forbid")

    message_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, min_length=1, max_length=MAX_IDS
    )
    all: bool = False
    scenario: str | None = Field(default=None, min_length=1, max_length=63)
    queue: str | None = Field(default=None, min_length=1, max_length=260, description="one queue only")
    limit: int = Field(default=10_000, ge=1, le=10_000, description="with all: at most this many")


class Replayed(BaseModel):
    replayed: int


class FailureItem(BaseModel):
    kind: str
    reason: str
    source_id: str
    direction: str
    entity: str
    attempts: int
    at: datetime
    message_id: str = ""
    run_id: str = ""


class Failures(BaseModel):
    items: list[FailureItem]


@router.get("/api/admin/overview", response_model=Overview)
def get_overview(services: Svc) -> Any:
    """Every integration: directions and schedules, last runs, links, open conflicts, failures, dead letters
    and the items written per hour over the last 24 hours."""
    from sync.overview import overview

    return overview(services)


@router.get("/api/admin/deadletters", response_model=DeadLetters)
def list_dead_letters(
    services: Svc,
    scenario: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    queue: Annotated[str | None, Query(max_length=260, description="one queue only")] = None,
) -> Any:
    """Dead-lettered messages of both queues, oldest first (of one scenario when named)."""
    from sync.deadletters import dead_letter_items

    _known_queue(services, queue)
    return DeadLetters(items=dead_letter_items(services, scenario or None, limit, queue or None))


def _known_queue(services: Svc, queue: str | None) -> None:
    from sync.deadletters import queues

    if queue and queue not in queues(services):
        raise ApiError(400, f"no queue '{queue}': the queues are {', '.join(queues(services))}", "queue")


@router.post(
    "/api/admin/deadletters/replay",
    response_model=Replayed,
    responses={400: {"model": ErrorReply}},
)
def replay_dead_letters(request: ReplayRequest, services: Svc) -> Any:
    """Move dead letters back onto their queues with fresh ids: those named, or all (of a scenario)."""
    from sync.deadletters import replay

    _known_queue(services, request.queue)
    if request.message_ids is not None and request.all:
        raise ApiError(400, "name message_ids or set all, not both", "all")
    if request.message_ids is None and not request.all:
        raise ApiError(400, "name the message_ids to replay, or set all to true", "message_ids")
    if request.message_ids is not None:
        return Replayed(replayed=replay(services, message_ids=request.message_ids, queue=request.queue))
    moved = replay(services, scenario=request.scenario, queue=request.queue, limit=request.limit)
    return Replayed(replayed=moved)


@router.get(
    "/api/scenarios/{scenario}/failures", response_model=Failures, responses={404: {"model": ErrorReply}}
)
def list_failures(name: Name, services: Svc) -> Any:
    """Items that failed or are being retried, with the reason, newest first."""
    scenario = services.config().scenario(name)
    items = []
    for view in scenario.views():
        for failure in services.failures.list(view.key):
            items.append(FailureItem.model_validate(failure.model_dump()))
    items.sort(key=lambda f: f.at, reverse=True)
    return Failures(items=items)


class Conflicts(BaseModel):
    items: list[ConflictView]


class ResolveRequest(BaseModel):
    """`side` (keep that side's value) or `value` (typed, in the field terms of the `terms` side: left by
    default)."""

    model_config = ConfigDict(extra="forbid")

    side: Literal["left", "right"] | None = None
    value: Any = None
    terms: Literal["left", "right"] = "left"


@router.get(
    "/api/scenarios/{scenario}/conflicts", response_model=Conflicts, responses={404: {"model": ErrorReply}}
)
def list_conflicts(name: Name, services: Svc) -> Any:
    """Flagged conflicts: each field with both values, the snapshot (base) values and the item ids."""
    from sync.resolve import list_conflicts as conflicts_of

    return Conflicts(items=conflicts_of(services, name))


@router.post(
    "/api/scenarios/{scenario}/conflicts/{id}/resolve",
    response_model=Resolution,
    responses={
        400: {"model": ErrorReply},
        404: {"model": ErrorReply},
        409: {"model": ErrorReply},
        503: {"model": ErrorReply},
    },
)
def resolve(
    name: Name,
    services: Svc,
    request: ResolveRequest,
    id: Annotated[str, Path(min_length=1, max_length=2000)],
) -> Any:
    """Write the chosen side's value (or a typed value) to both systems through the engine and clear the
    conflict; 409 when a side changed again since it was flagged."""
    from sync.resolve import resolve_conflict

    typed = "value" in request.model_fields_set
    if typed == (request.side is not None):
        raise ApiError(400, "choose a side (left or right) or type a value, one of the two", "side")
    return resolve_conflict(services, name, id, side=request.side, value=request.value, terms=request.terms)


class ItemReply(BaseModel):
    item: ItemHistory


@router.get(
    "/api/scenarios/{scenario}/items",
    response_model=ItemReply,
    responses={404: {"model": ErrorReply}},
)
def item(
    name: Name,
    services: Svc,
    id: Annotated[str, Query(min_length=1, max_length=400, description="the item's id on either system")],
    side: Annotated[Literal["left", "right"] | None, Query()] = None,
    entity: Annotated[
        str | None, Query(max_length=63, description="the entity pair (default: every)")
    ] = None,
) -> Any:
    """An item found by its id on either system: its link, snapshot, last versions, notes and the runs that
    touched it (newest first, field names only)."""
    from sync.item_history import item_history

    return ItemReply(item=item_history(services, name, id, side=side, entity=entity))


__all__ = ["router"]
