"""Queue messages of the data path as the broker carries them, and sending them."""

from __future__ import annotations

from collections.abc import Sequence

from state.queue import QueueMessage
from sync.messages import ItemMessage, PollMessage
from sync.services import Services


def item_queue_message(services: Services, message: ItemMessage) -> QueueMessage:
    return QueueMessage(
        queue=services.settings.item_queue,
        body=message.model_dump(mode="json"),
        message_id=message.message_id,
        session_id=message.session,
    )


def poll_queue_message(services: Services, message: PollMessage) -> QueueMessage:
    return QueueMessage(
        queue=services.settings.poll_queue,
        body=message.model_dump(mode="json"),
        message_id=message.message_id,
        session_id=message.session_id,
    )


def enqueue_items(services: Services, items: Sequence[ItemMessage]) -> None:
    if items:
        services.queue.send([item_queue_message(services, m) for m in items])


def enqueue_polls(services: Services, polls: Sequence[PollMessage]) -> None:
    if polls:
        services.queue.send([poll_queue_message(services, m) for m in polls])
