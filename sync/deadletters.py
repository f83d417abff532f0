"""Dead-lettered messages for people: listed from both queues (polls and items) with the item they are about,
and replayed one, some or all, whichever queue adapter holds them (Service Bus in Azure, the local queue in
`tandem serve`)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pydantic import BaseModel

from state.queue import DeadLetteredMessage, QueueMessage
from sync.services import Services

REPLAY_ALL = 10_000  # at most this many messages per queue in one "replay all"


class DeadLetterItem(BaseModel):
    queue: str
    message_id: str
    scenario: str | None = None
    direction: str | None = None
    entity: str | None = None
    source_id: str | None = None
    reason: str
    description: str = ""
    attempts: int = 0
    dead_lettered_at: datetime | None = None
    kind: str = "item"  # item | poll


def queues(services: Services) -> list[str]:
    return [services.settings.poll_queue, services.settings.item_queue]


def _item(queue: str, dead: DeadLetteredMessage) -> DeadLetterItem:
    body = dead.message.body
    attempt = body.get("attempt")
    attempts = max(dead.message.delivery_count, attempt if isinstance(attempt, int) else 0)
    return DeadLetterItem(
        queue=queue,
        message_id=dead.message.message_id,
        scenario=_text(body.get("scenario")),
        direction=_text(body.get("direction")),
        entity=_text(body.get("entity")),
        source_id=_text(body.get("source_id")),
        reason=dead.reason,
        description=dead.description,
        attempts=attempts,
        dead_lettered_at=dead.dead_lettered_at,
        kind="poll" if body.get("kind") == "poll" else "item",
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def dead_letter_items(
    services: Services, scenario: str | None = None, limit: int = 100, queue: str | None = None
) -> list[DeadLetterItem]:
    """The dead letters of both queues (or `queue`; of one scenario when named), oldest first, at most
    `limit`."""
    out: list[DeadLetterItem] = []
    for name in [queue] if queue else queues(services):
        # A scenario's letters may sit behind others': read past the limit when filtering.
        read = limit if scenario is None else max(limit, REPLAY_ALL)
        for dead in services.queue.dead_letters(name, read):
            item = _item(name, dead)
            if scenario is None or item.scenario == scenario:
                out.append(item)
    out.sort(key=lambda d: (d.dead_lettered_at is None, d.dead_lettered_at or datetime.min))
    return out[:limit]


def replay(
    services: Services,
    *,
    message_ids: Collection[str] | None = None,
    scenario: str | None = None,
    queue: str | None = None,
    limit: int = REPLAY_ALL,
) -> int:
    """Move dead letters back onto their queues (or `queue`'s): those with `message_ids`, or all (of
    `scenario` when named, at most `limit`). Returns how many moved."""
    wanted = set(message_ids) if message_ids is not None else None

    def select(message: QueueMessage) -> bool:
        if wanted is not None and message.message_id not in wanted:
            return False
        return scenario is None or message.body.get("scenario") == scenario

    limit = len(wanted) if wanted is not None else limit
    moved = 0
    for name in [queue] if queue else queues(services):
        if limit - moved <= 0:
            break
        moved += services.queue.replay_dead_letters(name, limit - moved, select)
    return moved
