"""The Service Bus adapter against autospec'd SDK objects: wrong call signatures fail; messages inspected."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import azure.functions.servicebus as func_sb
import pytest
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusMessageBatch,
    ServiceBusReceivedMessage,
    ServiceBusReceiver,
    ServiceBusSender,
    ServiceBusSubQueue,
)
from azure.servicebus._pyamqp.message import Header, Message, Properties

from state.queue import MessageQueue, QueueMessage
from state.servicebus_queue import (
    DEAD_LETTER_DESCRIPTION,
    DEAD_LETTER_REASON,
    ORIGINAL_QUEUE,
    ServiceBusQueue,
    message_from_received,
    to_servicebus_message,
)

REPO = Path(__file__).resolve().parents[2]
NS = "contoso-sync.servicebus.windows.net"
ITEMS = "tandem-items"
PARKED = "tandem-deadletter"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def received(
    body: Any,
    message_id: str,
    *,
    session_id: str | None = None,
    props: dict[str, str] | None = None,
    seq: int = 1,
    delivery_count: int = 0,
    enqueued: datetime = T0,
) -> ServiceBusReceivedMessage:
    """A received message as the SDK decodes it from the wire (bytes property keys and values)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    amqp = Message(
        header=Header(delivery_count=delivery_count),
        properties=Properties(
            message_id=message_id.encode(),
            group_id=session_id.encode() if session_id else None,
            content_type=b"application/json",
        ),
        application_properties={k.encode(): v.encode() for k, v in (props or {}).items()},
        message_annotations={
            b"x-opt-sequence-number": seq,
            b"x-opt-enqueued-time": int(enqueued.timestamp() * 1000),
        },
        data=[data],
    )
    return ServiceBusReceivedMessage(amqp, receiver=None, is_peeked_message=True)


class FakeNamespace:
    """An autospec'd client whose senders and receivers are autospec'd too, one per queue / sub-queue."""

    def __init__(self, max_batch_bytes: int = 256 * 1024) -> None:
        self.client = mock.create_autospec(ServiceBusClient, instance=True)
        self.senders: dict[str, Any] = {}
        self.receivers: dict[tuple[str, Any], Any] = {}
        self.max_batch_bytes = max_batch_bytes
        self.client.get_queue_sender.side_effect = self._sender
        self.client.get_queue_receiver.side_effect = self._receiver

    def _sender(self, queue_name: str, **kwargs: Any) -> Any:
        sender = mock.create_autospec(ServiceBusSender, instance=True)
        sender.create_message_batch.side_effect = lambda max_size_in_bytes=None: ServiceBusMessageBatch(
            max_size_in_bytes=max_size_in_bytes or self.max_batch_bytes
        )
        self.senders[queue_name] = sender
        return sender

    def _receiver(self, queue_name: str, **kwargs: Any) -> Any:
        key = (queue_name, kwargs.get("sub_queue"))
        if key not in self.receivers:
            self.receivers[key] = mock.create_autospec(ServiceBusReceiver, instance=True)
        return self.receivers[key]

    def receiver(self, queue: str, sub_queue: Any = None) -> Any:
        return self._receiver(queue, sub_queue=sub_queue)

    def sent(self, queue: str) -> list[list[ServiceBusMessage]]:
        """The batches sent to a queue, each as its list of messages."""
        sender = self.senders[queue]
        return [list(c.args[0]._messages) for c in sender.send_messages.call_args_list]


def body_of(message: ServiceBusMessage) -> Any:
    return json.loads(b"".join(message.body))


def props_of(message: ServiceBusMessage) -> dict[str, Any]:
    return dict(message.application_properties or {})


@pytest.fixture
def ns() -> FakeNamespace:
    return FakeNamespace()


@pytest.fixture
def bus(ns: FakeNamespace) -> ServiceBusQueue:
    return ServiceBusQueue(NS, client=ns.client)


def qm(mid: str, session: str | None = None, **kw: Any) -> QueueMessage:
    return QueueMessage(
        queue=kw.pop("queue", ITEMS), body={"item": mid}, message_id=mid, session_id=session, **kw
    )


def test_importing_the_adapters_stays_cheap() -> None:
    code = (
        "import sys, state.servicebus_queue, state.secrets, state.local_queue; "
        "heavy = [m for m in ('azure.servicebus', 'azure.keyvault.secrets', 'azure.identity') "
        "if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_implements_the_port(bus: ServiceBusQueue) -> None:
    assert isinstance(bus, MessageQueue)


def test_send_builds_messages_with_ids_session_schedule_and_properties(
    bus: ServiceBusQueue, ns: FakeNamespace
) -> None:
    at = T0 + timedelta(minutes=5)
    bus.send(
        [
            qm("m1", "wi-42", application_properties={"scenario": "pwa-ado", "direction": "left_to_right"}),
            qm("m2", "wi-42", scheduled_at=at),
            qm("m3", None, scheduled_at=at.replace(tzinfo=None)),
        ]
    )
    ns.client.get_queue_sender.assert_called_once_with(ITEMS)
    [[m1, m2, m3]] = ns.sent(ITEMS)
    assert (m1.message_id, m1.session_id, m1.scheduled_enqueue_time_utc) == ("m1", "wi-42", None)
    assert body_of(m1) == {"item": "m1"}
    assert m1.content_type == "application/json"
    assert props_of(m1) == {"scenario": "pwa-ado", "direction": "left_to_right"}
    assert (m2.session_id, m2.scheduled_enqueue_time_utc) == ("wi-42", at)
    assert m3.session_id is None
    assert m3.scheduled_enqueue_time_utc == at  # naive taken as UTC


def test_send_groups_by_queue_and_reuses_senders(bus: ServiceBusQueue, ns: FakeNamespace) -> None:
    bus.send([qm("a"), qm("p", queue="tandem-poll"), qm("b")])
    bus.send([qm("c")])
    assert sorted(c.args[0] for c in ns.client.get_queue_sender.call_args_list) == [
        "tandem-items",
        "tandem-poll",
    ]
    assert [[m.message_id for m in batch] for batch in ns.sent(ITEMS)] == [["a", "b"], ["c"]]
    assert [[m.message_id for m in batch] for batch in ns.sent("tandem-poll")] == [["p"]]
    bus.close()
    ns.senders[ITEMS].close.assert_called_once_with()
    ns.client.close.assert_called_once_with()


def test_send_splits_oversized_batches_in_order() -> None:
    ns = FakeNamespace(max_batch_bytes=1000)
    bus = ServiceBusQueue(NS, client=ns.client)
    bus.send([qm(f"m{i:02}", "s") for i in range(20)])
    batches = ns.sent(ITEMS)
    assert len(batches) > 1
    assert [m.message_id for b in batches for m in b] == [f"m{i:02}" for i in range(20)]


def test_partitioned_queues_never_mix_sessions_in_a_batch() -> None:
    ns = FakeNamespace()
    bus = ServiceBusQueue(NS, client=ns.client, partitioned=True)
    bus.send([qm("a1", "A"), qm("a2", "A"), qm("b1", "B"), qm("a3", "A")])
    assert [[m.message_id for m in b] for b in ns.sent(ITEMS)] == [["a1", "a2"], ["b1"], ["a3"]]


def test_failed_send_discards_the_sender(bus: ServiceBusQueue, ns: FakeNamespace) -> None:
    bus.send([qm("a")])
    broken = ns.senders[ITEMS]
    broken.send_messages.side_effect = ConnectionError("link detached")
    with pytest.raises(ConnectionError):
        bus.send([qm("b")])
    broken.close.assert_called_once_with()
    bus.send([qm("c")])
    assert ns.senders[ITEMS] is not broken
    assert ns.client.get_queue_sender.call_count == 2


def test_message_without_queue_is_refused(bus: ServiceBusQueue) -> None:
    with pytest.raises(ValueError, match="no queue"):
        bus.send([qm("a", queue="")])


def test_dead_letter_parks_a_copy_with_reason_and_origin(bus: ServiceBusQueue, ns: FakeNamespace) -> None:
    message = qm("m1", "wi-42", delivery_count=3, application_properties={"scenario": "pwa-ado"})
    bus.dead_letter(message, "ValidationFailed", "System.Title is required")
    [[parked]] = ns.sent(PARKED)
    assert parked.session_id is None  # the parking queue has no sessions
    assert parked.message_id not in (None, "m1")
    assert body_of(parked) == {"item": "m1"}
    assert props_of(parked) == {
        "scenario": "pwa-ado",
        DEAD_LETTER_REASON: "ValidationFailed",
        DEAD_LETTER_DESCRIPTION: "System.Title is required",
        ORIGINAL_QUEUE: ITEMS,
        "OriginalMessageId": "m1",
        "OriginalSessionId": "wi-42",
        "OriginalDeliveryCount": "3",
    }


def parked_copy(bus: ServiceBusQueue, ns: FakeNamespace, message: QueueMessage, reason: str, seq: int) -> Any:
    """What the parking queue would hand back for a message the adapter parked."""
    before = len(ns.sent(PARKED)) if PARKED in ns.senders else 0
    bus.dead_letter(message, reason, f"{reason} details")
    [sent] = ns.sent(PARKED)[before]
    props = {str(k): str(v) for k, v in props_of(sent).items()}
    return received(
        body_of(sent), sent.message_id, props=props, seq=seq, enqueued=T0 + timedelta(minutes=seq)
    )


def test_dead_letters_reads_the_sub_queue_and_the_parked_entries(
    bus: ServiceBusQueue, ns: FakeNamespace
) -> None:
    dlq = ns.receiver(ITEMS, ServiceBusSubQueue.DEAD_LETTER)
    dlq.peek_messages.side_effect = [
        [
            received(
                {"item": "x"},
                "x",
                session_id="wi-7",
                delivery_count=10,
                props={
                    "DeadLetterReason": "MaxDeliveryCountExceeded",
                    "DeadLetterErrorDescription": "Message could not be consumed after 10 delivery attempts.",
                    "scenario": "pwa-ado",
                },
                seq=11,
                enqueued=T0,
            )
        ],
        [],
    ]
    mine = parked_copy(bus, ns, qm("m1", "wi-42"), "ValidationFailed", seq=1)
    other = parked_copy(bus, ns, qm("p1", queue="tandem-poll"), "BadConfig", seq=2)
    ns.receiver(PARKED).peek_messages.side_effect = [[mine, other], []]

    found = bus.dead_letters(ITEMS)

    ns.client.get_queue_receiver.assert_any_call(ITEMS, sub_queue=ServiceBusSubQueue.DEAD_LETTER)
    ns.client.get_queue_receiver.assert_any_call(PARKED)
    assert [(d.message.message_id, d.reason) for d in found] == [
        ("x", "MaxDeliveryCountExceeded"),
        ("m1", "ValidationFailed"),
    ]
    real, parked = found
    assert real.message.session_id == "wi-7"
    assert real.message.queue == ITEMS
    assert real.message.delivery_count == 10
    assert real.message.application_properties == {"scenario": "pwa-ado"}
    assert real.description.startswith("Message could not be consumed")
    assert parked.message.session_id == "wi-42"
    assert parked.message.queue == ITEMS
    assert parked.message.body == {"item": "m1"}
    assert parked.message.application_properties == {}
    assert parked.description == "ValidationFailed details"
    assert parked.dead_lettered_at == T0 + timedelta(minutes=1)
    for receiver in (dlq, ns.receiver(PARKED)):
        receiver.close.assert_called_once_with()
        first_call = receiver.peek_messages.call_args_list[0]
        assert first_call.kwargs["sequence_number"] == 0


def test_dead_letters_pages_through_peeks(bus: ServiceBusQueue, ns: FakeNamespace) -> None:
    dlq = ns.receiver(ITEMS, ServiceBusSubQueue.DEAD_LETTER)
    dlq.peek_messages.side_effect = [
        [received({"n": 1}, "a", seq=4), received({"n": 2}, "b", seq=9)],
        [received({"n": 3}, "c", seq=12)],
        [],
    ]
    ns.receiver(PARKED).peek_messages.return_value = []
    assert [d.message.message_id for d in bus.dead_letters(ITEMS)] == ["a", "b", "c"]
    assert [c.kwargs["sequence_number"] for c in dlq.peek_messages.call_args_list] == [0, 10, 13]


def test_replay_moves_both_kinds_back_with_fresh_ids(bus: ServiceBusQueue, ns: FakeNamespace) -> None:
    dlq = ns.receiver(ITEMS, ServiceBusSubQueue.DEAD_LETTER)
    real = received(
        {"item": "x"}, "x", session_id="wi-7", props={"DeadLetterReason": "MaxDeliveryCountExceeded"}
    )
    dlq.receive_messages.side_effect = [[real], []]
    mine = parked_copy(bus, ns, qm("m1", "wi-42", application_properties={"scenario": "s"}), "Boom", seq=1)
    other = parked_copy(bus, ns, qm("p1", queue="tandem-poll"), "Bad", seq=2)
    parked_receiver = ns.receiver(PARKED)
    parked_receiver.receive_messages.side_effect = [[mine, other], []]

    assert bus.replay_dead_letters(ITEMS) == 2

    resent = [m for batch in ns.sent(ITEMS) for m in batch]
    assert [(m.session_id, m.message_id.split(":r")[0]) for m in resent] == [("wi-7", "x"), ("wi-42", "m1")]
    assert all(len(m.message_id) == len(m.message_id.split(":r")[0]) + 10 for m in resent)
    assert body_of(resent[1]) == {"item": "m1"}
    assert props_of(resent[0]) is not None and props_of(resent[0]) == {}  # broker bookkeeping stripped
    assert props_of(resent[1]) == {"scenario": "s"}
    dlq.complete_message.assert_called_once_with(real)
    parked_receiver.complete_message.assert_called_once_with(mine)
    parked_receiver.abandon_message.assert_called_once_with(other)
    dlq.close.assert_called_once_with()
    parked_receiver.close.assert_called_once_with()


def test_replay_respects_the_limit(bus: ServiceBusQueue, ns: FakeNamespace) -> None:
    dlq = ns.receiver(ITEMS, ServiceBusSubQueue.DEAD_LETTER)
    dlq.receive_messages.side_effect = [[received({"n": 1}, "a"), received({"n": 2}, "b")]]
    assert bus.replay_dead_letters(ITEMS, limit=2) == 2
    assert dlq.receive_messages.call_args.kwargs["max_message_count"] == 2
    assert (PARKED, None) not in ns.receivers  # the limit was reached before the parking queue


def test_replay_does_not_complete_when_the_send_fails(bus: ServiceBusQueue, ns: FakeNamespace) -> None:
    dlq = ns.receiver(ITEMS, ServiceBusSubQueue.DEAD_LETTER)
    dlq.receive_messages.side_effect = [[received({"n": 1}, "a")]]
    bus.send([qm("warm-up")])
    ns.senders[ITEMS].send_messages.side_effect = ConnectionError("down")
    with pytest.raises(ConnectionError):
        bus.replay_dead_letters(ITEMS)
    dlq.complete_message.assert_not_called()  # the lock expires and the entry stays dead-lettered
    dlq.close.assert_called_once_with()


def test_message_from_functions_trigger_message() -> None:
    trigger = func_sb.ServiceBusMessage(
        body=b'{"scenario": "pwa-ado", "id": "42"}',
        message_id="m-42",
        session_id="wi-42",
        delivery_count=2,
        application_properties={"scenario": "pwa-ado", "rev": 7},
        user_properties={},
    )
    message = message_from_received(trigger, ITEMS)
    assert message == QueueMessage(
        queue=ITEMS,
        body={"scenario": "pwa-ado", "id": "42"},
        message_id="m-42",
        session_id="wi-42",
        delivery_count=2,
        application_properties={"scenario": "pwa-ado", "rev": "7"},
    )


def test_message_from_sdk_received_message_round_trips(ns: FakeNamespace) -> None:
    original = qm("m1", "wi-1", application_properties={"k": "v"})
    sent = to_servicebus_message(original)
    got = message_from_received(
        received(
            body_of(sent), sent.message_id, session_id=sent.session_id, props={"k": "v"}, delivery_count=1
        ),
        ITEMS,
    )
    assert got == original.model_copy(update={"delivery_count": 1})


def test_message_with_a_bad_body_is_refused() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        message_from_received(received(b"not json", "m"), ITEMS)
    with pytest.raises(ValueError, match="not an object"):
        message_from_received(received([1, 2], "m"), ITEMS)


def test_client_is_created_lazily_with_default_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.identity
    import azure.servicebus

    created: list[tuple[Any, ...]] = []
    fake_client = mock.create_autospec(ServiceBusClient, instance=True)
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", lambda: "the-credential")
    monkeypatch.setattr(
        azure.servicebus,
        "ServiceBusClient",
        lambda fqns, credential: created.append((fqns, credential)) or fake_client,
    )
    bus = ServiceBusQueue(NS)
    assert created == []
    assert bus.client is fake_client
    assert bus.client is fake_client
    assert created == [(NS, "the-credential")]


def test_missing_namespace_names_the_setting() -> None:
    with pytest.raises(ValueError, match="ServiceBusConnection__fullyQualifiedNamespace"):
        ServiceBusQueue("")


def test_message_from_the_simple_functions_message_class() -> None:
    import azure.functions as func

    message = message_from_received(func.ServiceBusMessage(body=b'{"a": 1}'), ITEMS)
    assert (message.body, message.message_id, message.session_id, message.delivery_count) == (
        {"a": 1},
        "",
        None,
        0,
    )


def test_replay_of_selected_messages_leaves_the_others_dead_lettered(
    bus: ServiceBusQueue, ns: FakeNamespace
) -> None:
    dlq = ns.receiver(ITEMS, ServiceBusSubQueue.DEAD_LETTER)
    keep = received({"scenario": "other"}, "keep")
    take = received({"scenario": "s"}, "take")
    dlq.receive_messages.side_effect = [[keep, take], []]
    mine = parked_copy(bus, ns, qm("m1", "wi-42"), "Boom", seq=1)
    theirs = parked_copy(bus, ns, qm("m2", "wi-43"), "Boom", seq=2)
    parked_receiver = ns.receiver(PARKED)
    parked_receiver.receive_messages.side_effect = [[mine, theirs], []]

    chosen = {"take", "m1"}
    assert bus.replay_dead_letters(ITEMS, select=lambda m: m.message_id in chosen) == 2

    resent = [m.message_id.split(":r")[0] for batch in ns.sent(ITEMS) for m in batch]
    assert resent == ["take", "m1"]
    dlq.complete_message.assert_called_once_with(take)
    dlq.abandon_message.assert_called_once_with(keep)
    parked_receiver.complete_message.assert_called_once_with(mine)
    parked_receiver.abandon_message.assert_called_once_with(theirs)
