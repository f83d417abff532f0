"""Azure Service Bus adapter of the queue port (azure-servicebus SDK), and conversion of received messages.

Dead letters live in two places, and `dead_letters` / `replay_dead_letters` read both:

* the queue's own dead-letter sub-queue (`<queue>/$deadletterqueue`), where Service Bus itself moves a
  message once it has been delivered `maxDeliveryCount` times (reason "MaxDeliveryCountExceeded");
* the parking queue `deadletter_queue` (plain, non-session), where `dead_letter()` puts messages the
  engine gives up on. A Python Functions Service Bus trigger with auto-complete has no handle to
  settle its own message, so it cannot dead-letter it with a reason; instead the engine parks a copy
  carrying `DeadLetterReason`, `DeadLetterErrorDescription` and `OriginalQueue` application properties
  and lets the trigger complete the original.

Replay re-sends each message with a fresh message-id suffix (duplicate detection would otherwise drop
it) and completes the dead-lettered copy only after the send succeeded, so a crash replays twice rather
than losing anything. Because the parking queue is shared by all queues, replaying one queue's parked
messages receives and abandons those of other queues; provision it with a generous `maxDeliveryCount`.

The SDK is imported only when the adapter first talks to Service Bus, so importing this module is cheap.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from state.queue import DeadLetteredMessage, QueueMessage, replay_message_id

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.servicebus import (
        ServiceBusClient,
        ServiceBusMessage,
        ServiceBusReceivedMessage,
        ServiceBusReceiver,
        ServiceBusSender,
    )

log = logging.getLogger("tandem.queue")

DEAD_LETTER_REASON = "DeadLetterReason"
DEAD_LETTER_DESCRIPTION = "DeadLetterErrorDescription"
ORIGINAL_QUEUE = "OriginalQueue"
ORIGINAL_MESSAGE_ID = "OriginalMessageId"
ORIGINAL_SESSION_ID = "OriginalSessionId"
ORIGINAL_DELIVERY_COUNT = "OriginalDeliveryCount"
# Broker bookkeeping, not part of the message the engine sent: stripped when converting back.
_BROKER_PROPERTIES = frozenset(
    {
        DEAD_LETTER_REASON,
        DEAD_LETTER_DESCRIPTION,
        ORIGINAL_QUEUE,
        ORIGINAL_MESSAGE_ID,
        ORIGINAL_SESSION_ID,
        ORIGINAL_DELIVERY_COUNT,
    }
)
# Service Bus caps reason and description; longer text would make the dead-letter call itself fail.
_MAX_REASON_CHARS = 4096
CONTENT_TYPE = "application/json"


def to_servicebus_message(message: QueueMessage) -> ServiceBusMessage:
    """Build the SDK message: JSON body, session and message ids, schedule and application properties."""
    from azure.servicebus import ServiceBusMessage

    scheduled = message.scheduled_at
    if scheduled is not None:
        scheduled = scheduled.replace(tzinfo=UTC) if scheduled.tzinfo is None else scheduled.astimezone(UTC)
    return ServiceBusMessage(
        body=json.dumps(message.body, separators=(",", ":"), sort_keys=True),
        session_id=message.session_id,
        message_id=message.message_id,
        scheduled_enqueue_time_utc=scheduled,
        application_properties=dict(message.application_properties) or None,
        content_type=CONTENT_TYPE,
    )


def message_from_received(received: Any, queue: str) -> QueueMessage:
    """Convert a received message into a QueueMessage of `queue`.

    Accepts the Functions trigger's `azure.functions.ServiceBusMessage` (`get_body()`, str properties)
    and the SDK's `ServiceBusReceivedMessage` (body as bytes chunks, bytes property keys and values).
    Raises ValueError when the body is not a JSON object.
    """
    props = _properties(received)
    return QueueMessage(
        queue=queue,
        body=_body(received),
        message_id=_text(received.message_id) or "",
        session_id=_text(received.session_id) or None,
        delivery_count=int(received.delivery_count or 0),
        application_properties={k: v for k, v in props.items() if k not in _BROKER_PROPERTIES},
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8")
    return str(value)


def _properties(received: Any) -> dict[str, str]:
    raw: Mapping[Any, Any] = received.application_properties or {}
    return {str(_text(k)): str(_text(v)) for k, v in raw.items() if v is not None}


def _body(received: Any) -> dict[str, Any]:
    if hasattr(received, "get_body"):
        raw: Any = received.get_body()
    else:
        raw = received.body
        if not isinstance(raw, bytes | bytearray | str | dict):
            raw = b"".join(raw)  # a data body arrives as a generator of byte sections
    if isinstance(raw, dict):
        return raw
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"message {_text(received.message_id)!r}: body is not JSON ({err})") from None
    if not isinstance(body, dict):
        raise ValueError(f"message {_text(received.message_id)!r}: body is JSON but not an object")
    return body


class ServiceBusQueue:
    """`MessageQueue` over Azure Service Bus, with identity-based auth (DefaultAzureCredential by default).

    Senders are opened once per queue and reused; each is used by one thread at a time, as the SDK asks.
    Set `partitioned=True` if the queues are partitioned: batches then never mix sessions.
    """

    def __init__(
        self,
        fully_qualified_namespace: str,
        credential: TokenCredential | None = None,
        client: ServiceBusClient | None = None,
        deadletter_queue: str = "tandem-deadletter",
        *,
        partitioned: bool = False,
        max_wait_time: float = 5.0,
        scan_limit: int = 5000,
    ) -> None:
        if not fully_qualified_namespace and client is None:
            raise ValueError(
                "Service Bus namespace missing: set ServiceBusConnection__fullyQualifiedNamespace "
                "to <namespace>.servicebus.windows.net"
            )
        self.fully_qualified_namespace = fully_qualified_namespace
        self.deadletter_queue = deadletter_queue
        self._credential = credential
        self._client = client
        self._partitioned = partitioned
        self._max_wait_time = max_wait_time
        self._scan_limit = scan_limit  # bounds how much of the shared parking queue one call walks
        self._lock = threading.Lock()
        self._senders: dict[str, tuple[ServiceBusSender, threading.Lock]] = {}

    def __repr__(self) -> str:
        return (
            f"ServiceBusQueue({self.fully_qualified_namespace!r}, deadletter_queue={self.deadletter_queue!r})"
        )

    @property
    def client(self) -> ServiceBusClient:
        with self._lock:
            if self._client is None:
                from azure.servicebus import ServiceBusClient

                credential = self._credential
                if credential is None:
                    from azure.identity import DefaultAzureCredential

                    credential = DefaultAzureCredential()
                self._client = ServiceBusClient(self.fully_qualified_namespace, credential=credential)
            return self._client

    def close(self) -> None:
        with self._lock:
            senders, self._senders = list(self._senders.values()), {}
        for sender, _ in senders:
            sender.close()
        if self._client is not None:
            self._client.close()

    # -- MessageQueue port -------------------------------------------------------------------------

    def send(self, messages: Sequence[QueueMessage]) -> None:
        by_queue: dict[str, list[QueueMessage]] = {}
        for message in messages:
            if not message.queue:
                raise ValueError(f"message {message.message_id!r} has no queue name")
            by_queue.setdefault(message.queue, []).append(message)
        for queue, group in by_queue.items():
            self._send(queue, [to_servicebus_message(m) for m in group])

    def dead_letter(self, message: QueueMessage, reason: str, description: str = "") -> None:
        from azure.servicebus import ServiceBusMessage

        props: dict[str | bytes, Any] = {
            **message.application_properties,
            DEAD_LETTER_REASON: reason[:_MAX_REASON_CHARS],
            DEAD_LETTER_DESCRIPTION: description[:_MAX_REASON_CHARS],
            ORIGINAL_QUEUE: message.queue,
            ORIGINAL_MESSAGE_ID: message.message_id,
            ORIGINAL_DELIVERY_COUNT: str(message.delivery_count),
        }
        if message.session_id is not None:
            props[ORIGINAL_SESSION_ID] = message.session_id
        parked = ServiceBusMessage(
            body=json.dumps(message.body, separators=(",", ":"), sort_keys=True),
            # A fresh id: the same message may be parked again after a replay, within any dedup window.
            message_id=uuid.uuid4().hex,
            application_properties=props,
            content_type=CONTENT_TYPE,
        )
        log.warning("message %s of %s dead-lettered: %s", message.message_id, message.queue, reason)
        self._send(self.deadletter_queue, [parked])

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetteredMessage]:
        from azure.servicebus import ServiceBusSubQueue

        found: list[tuple[datetime, DeadLetteredMessage]] = []
        receiver = self.client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER)
        try:
            for received in self._peek(receiver, limit):
                found.append((_enqueued(received), _from_dead_letter_queue(received, queue)))
        finally:
            receiver.close()
        parked = 0
        receiver = self.client.get_queue_receiver(self.deadletter_queue)
        try:
            for received in self._peek(receiver, self._scan_limit):
                if parked >= limit:
                    break
                if _properties(received).get(ORIGINAL_QUEUE) == queue:
                    parked += 1
                    found.append((_enqueued(received), _from_parking_queue(received)))
        finally:
            receiver.close()
        found.sort(key=lambda pair: pair[0])
        return [entry for _, entry in found[:limit]]

    def replay_dead_letters(
        self, queue: str, limit: int = 100, select: Callable[[QueueMessage], bool] | None = None
    ) -> int:
        from azure.servicebus import ServiceBusSubQueue

        def pick(received: ServiceBusReceivedMessage) -> QueueMessage | None:
            message = message_from_received(received, queue)
            return message if select is None or select(message) else None

        receiver = self.client.get_queue_receiver(
            queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=self._max_wait_time
        )
        moved = self._replay_picked(receiver, pick, limit, scan=select is not None)
        if moved < limit:
            moved += self._replay_parked(queue, limit - moved, select)
        return moved

    # -- internals ---------------------------------------------------------------------------------

    def _sender(self, queue: str) -> tuple[ServiceBusSender, threading.Lock]:
        client = self.client
        with self._lock:
            if queue not in self._senders:
                self._senders[queue] = (client.get_queue_sender(queue), threading.Lock())
            return self._senders[queue]

    def _send(self, queue: str, messages: list[ServiceBusMessage]) -> None:
        from azure.servicebus.exceptions import MessageSizeExceededError

        sender, lock = self._sender(queue)
        with lock:
            try:
                for group in self._groups(messages):
                    batch = sender.create_message_batch()
                    for message in group:
                        try:
                            batch.add_message(message)
                        except MessageSizeExceededError:
                            if len(batch) == 0:
                                raise  # a single message too large for any batch
                            sender.send_messages(batch)
                            batch = sender.create_message_batch()
                            batch.add_message(message)
                    if len(batch):
                        sender.send_messages(batch)
            except Exception:
                # A sender that failed may hold a broken link; the next send opens a new one.
                with self._lock:
                    self._senders.pop(queue, None)
                sender.close()
                raise

    def _groups(self, messages: list[ServiceBusMessage]) -> Iterator[list[ServiceBusMessage]]:
        if not self._partitioned:
            yield messages
            return
        # Partitioned entities reject batches spanning partitions; session id picks the partition.
        # Consecutive runs keep the send order of each session.
        run: list[ServiceBusMessage] = []
        for message in messages:
            if run and run[-1].session_id != message.session_id:
                yield run
                run = []
            run.append(message)
        if run:
            yield run

    def _peek(self, receiver: ServiceBusReceiver, limit: int) -> Iterator[ServiceBusReceivedMessage]:
        seen = 0
        next_sequence = 0
        while seen < limit:
            page = receiver.peek_messages(
                max_message_count=min(limit - seen, 250), sequence_number=next_sequence
            )
            if not page:
                return
            yield from page
            seen += len(page)
            next_sequence = (page[-1].sequence_number or 0) + 1

    def _replay(
        self, receiver: ServiceBusReceiver, pairs: list[tuple[ServiceBusReceivedMessage, QueueMessage]]
    ) -> None:
        fresh = [
            message.model_copy(
                update={
                    "message_id": replay_message_id(message.message_id),
                    "delivery_count": 0,
                    "scheduled_at": None,
                }
            )
            for _, message in pairs
        ]
        self.send(fresh)
        for received, _ in pairs:
            receiver.complete_message(received)

    def _replay_parked(
        self, queue: str, limit: int, select: Callable[[QueueMessage], bool] | None = None
    ) -> int:
        def pick(received: ServiceBusReceivedMessage) -> QueueMessage | None:
            if _properties(received).get(ORIGINAL_QUEUE) != queue:
                return None  # another queue's entry
            message = _from_parking_queue(received).message
            return message if select is None or select(message) else None

        receiver = self.client.get_queue_receiver(self.deadletter_queue, max_wait_time=self._max_wait_time)
        return self._replay_picked(receiver, pick, limit, scan=True)

    def _replay_picked(
        self,
        receiver: ServiceBusReceiver,
        pick: Callable[[ServiceBusReceivedMessage], QueueMessage | None],
        limit: int,
        *,
        scan: bool,
    ) -> int:
        """Receive from `receiver` and replay what `pick` accepts, up to `limit`; the entries not picked stay
        locked until the end, then are abandoned (left where they were). `scan`: look at no more than the
        scan limit (entries are skipped), else take only what is needed."""
        moved = scanned = 0
        held: list[ServiceBusReceivedMessage] = []
        try:
            while moved < limit and (not scan or scanned < self._scan_limit):
                wanted = 100 if scan else min(limit - moved, 100)
                batch = receiver.receive_messages(max_message_count=wanted, max_wait_time=self._max_wait_time)
                if not batch:
                    break
                scanned += len(batch)
                mine: list[tuple[ServiceBusReceivedMessage, QueueMessage]] = []
                for received in batch:
                    message = pick(received) if moved + len(mine) < limit else None
                    if message is not None:
                        mine.append((received, message))
                    else:
                        held.append(received)
                if mine:
                    self._replay(receiver, mine)
                    moved += len(mine)
        finally:
            try:
                for received in held:
                    receiver.abandon_message(received)
            finally:
                receiver.close()
        return moved


def _enqueued(received: ServiceBusReceivedMessage) -> datetime:
    return received.enqueued_time_utc or datetime.min.replace(tzinfo=UTC)


def _from_dead_letter_queue(received: ServiceBusReceivedMessage, queue: str) -> DeadLetteredMessage:
    return DeadLetteredMessage(
        message=message_from_received(received, queue),
        reason=received.dead_letter_reason or "",
        description=received.dead_letter_error_description or "",
        # The SDK exposes no dead-lettering time for entries Service Bus moved itself.
        dead_lettered_at=None,
    )


def _from_parking_queue(received: ServiceBusReceivedMessage) -> DeadLetteredMessage:
    props = _properties(received)
    message = message_from_received(received, props.get(ORIGINAL_QUEUE, ""))
    message = message.model_copy(
        update={
            "message_id": props.get(ORIGINAL_MESSAGE_ID, message.message_id),
            "session_id": props.get(ORIGINAL_SESSION_ID) or None,
            "delivery_count": int(props.get(ORIGINAL_DELIVERY_COUNT, "0") or 0),
        }
    )
    return DeadLetteredMessage(
        message=message,
        reason=props.get(DEAD_LETTER_REASON, ""),
        description=props.get(DEAD_LETTER_DESCRIPTION, ""),
        dead_lettered_at=received.enqueued_time_utc,
    )
