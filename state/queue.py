"""The queue port: what the engine needs from a message broker, whichever adapter provides it.

Two adapters implement it: `state.servicebus_queue` (Azure Service Bus through the SDK) and
`state.local_queue` (in-process, same semantics, for the local stack and tests).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class QueueMessage(BaseModel):
    """One message as the broker carries it. `body` is JSON (ids only, never field values)."""

    queue: str
    body: dict[str, Any]
    message_id: str  # duplicate detection keys on this
    session_id: str | None = None  # messages of one session are delivered in order, one at a time
    scheduled_at: datetime | None = None  # not delivered before this instant (UTC)
    delivery_count: int = 0  # set on receive: 1 on first delivery
    application_properties: dict[str, str] = Field(default_factory=dict)


class DeadLetteredMessage(BaseModel):
    message: QueueMessage
    reason: str
    description: str = ""
    dead_lettered_at: datetime | None = None


@runtime_checkable
class MessageQueue(Protocol):
    def send(self, messages: Sequence[QueueMessage]) -> None:
        """Enqueue; a message whose id was seen within the duplicate-detection window is dropped."""

    def dead_letter(self, message: QueueMessage, reason: str, description: str = "") -> None:
        """Park a message that cannot succeed, with a reason a person can act on."""

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetteredMessage]:
        """Peek the dead-lettered messages of a queue, newest last."""

    def replay_dead_letters(
        self, queue: str, limit: int = 100, select: Callable[[QueueMessage], bool] | None = None
    ) -> int:
        """Move dead-lettered messages back onto their queue (only those `select` accepts, when given);
        returns how many moved."""


_REPLAY_SUFFIX = re.compile(r":r[0-9a-f]{8}$")


def replay_message_id(message_id: str) -> str:
    """A fresh id for a replayed message, so duplicate detection does not drop it as a repeat.

    Any earlier replay suffix is replaced rather than stacked: ids stay short (Service Bus caps them
    at 128 characters) however often a message is replayed.
    """
    return f"{_REPLAY_SUFFIX.sub('', message_id)}:r{uuid.uuid4().hex[:8]}"
