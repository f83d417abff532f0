"""Turns queue deliveries into engine calls and engine outcomes into queue actions.

Retry → a copy of the message, attempt + 1, scheduled no sooner than the delay (a new message id,
so duplicate detection does not drop it); DeadLetter → parked with its reason. Shared by the
Service Bus triggers and the local queue workers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from state.queue import QueueMessage
from sync.applier import Applier
from sync.enqueue import enqueue_items, enqueue_polls, item_queue_message
from sync.messages import ItemMessage, PollMessage
from sync.outcome import DeadLetter, Done, Outcome, Retry
from sync.poller import poll
from sync.schedule import due_polls
from sync.services import Services

log = logging.getLogger("tandem.runtime")


def tick(services: Services, tick_seconds: float = 60.0) -> list[PollMessage]:
    """Timer: enqueue one poll per scenario direction that is due by its own schedule."""
    now = services.clock()
    polls = due_polls(services.config(), now, timedelta(seconds=tick_seconds))
    if polls:
        enqueue_polls(services, polls)
    base = services.settings.public_base_url
    if base.startswith("https://") and now.minute == 0 and now.second < tick_seconds:
        # Hourly: re-create deleted subscriptions and re-enable ones a system disabled after failures.
        from sync.hook_subscriptions import ensure_hooks

        ensure_hooks(services, f"{base.rstrip('/')}/api")
    return polls


def handle_poll(services: Services, message: QueueMessage) -> None:
    if message.body.get("kind") == "bulk":  # a bulk job's step shares the poll queue and its workers
        from sync.bulk import handle_bulk

        handle_bulk(services, message)
        return
    try:
        poll_message = PollMessage.model_validate(message.body)
    except ValidationError as exc:
        services.queue.dead_letter(message, "malformed poll message", _first_error(exc))
        return
    if poll_message.scenario not in {s.name for s in services.config().scenarios}:
        # the integration was deleted after this poll was queued: its synchronization has stopped
        log.info("poll for %s dropped: the integration is no longer configured", poll_message.scenario)
        return
    poll(services, poll_message)


def handle_item(services: Services, message: QueueMessage) -> Outcome:
    return handle_items(services, [message])[0]


def handle_items(services: Services, messages: Sequence[QueueMessage]) -> list[Outcome]:
    """A batch of one session's messages (Service Bus cardinality many): applied together where the
    target writes per container, one by one otherwise. Returns one outcome per message, in order."""
    outcomes: list[Outcome | None] = [None] * len(messages)
    valid: list[tuple[int, ItemMessage]] = []
    for i, message in enumerate(messages):
        try:
            valid.append((i, ItemMessage.model_validate(message.body)))
        except ValidationError as exc:
            outcomes[i] = DeadLetter("malformed item message", _first_error(exc))
            services.queue.dead_letter(message, "malformed item message", _first_error(exc))
    configured = {s.name for s in services.config().scenarios}
    for i, item in [(i, item) for i, item in valid if item.scenario not in configured]:
        # The integration was deleted after this message was queued: its synchronization has stopped.
        log.warning(
            "item message for %s dropped: the integration is no longer configured; nothing was written",
            item.scenario,
            extra={"scenario": item.scenario, "direction": item.direction, "source_id": item.source_id},
        )
        outcomes[i] = Done("dropped")
    valid = [(i, item) for i, item in valid if item.scenario in configured]
    applier = Applier(services)
    results = applier.apply_many([item for _, item in valid]) if len(valid) > 1 else None
    for n, (i, item) in enumerate(valid):
        outcome = results[n] if results is not None else applier.apply(item)
        _settle(services, messages[i], item, outcome)
        outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


def _settle(services: Services, message: QueueMessage, item: ItemMessage, outcome: Outcome) -> None:
    if isinstance(outcome, Retry):
        again = item.model_copy(update={"attempt": item.attempt + 1})
        copy = item_queue_message(services, again)
        copy.scheduled_at = services.clock() + timedelta(seconds=outcome.delay)
        services.queue.send([copy])
        log.info(
            "item rescheduled",
            extra={"scenario": item.scenario, "source_id": item.source_id, "delay": outcome.delay},
        )
    elif isinstance(outcome, DeadLetter):
        services.queue.dead_letter(message, outcome.reason, outcome.description)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


def body_of(raw: bytes | str) -> dict[str, Any]:
    import json

    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("message body is not a JSON object")
    return data


__all__ = ["Done", "enqueue_items", "enqueue_polls", "handle_item", "handle_items", "handle_poll", "tick"]
