"""The local broker gives the engine the Service Bus semantics it relies on, without sleeping in tests."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from state.local_queue import (
    MAX_DELIVERY_COUNT_EXCEEDED,
    Delivery,
    LocalQueue,
    LockLostError,
    ManualClock,
    QueueCounts,
)
from state.queue import MessageQueue, QueueMessage

Q = "tandem-items"


def msg(mid: str, session: str | None = None, *, queue: str = Q, at: datetime | None = None) -> QueueMessage:
    return QueueMessage(queue=queue, body={"id": mid}, message_id=mid, session_id=session, scheduled_at=at)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def broker(clock: ManualClock) -> LocalQueue:
    return LocalQueue(clock=clock, max_delivery_count=3)


def take(broker: LocalQueue, queue: str = Q) -> Delivery:
    delivery = broker.receive(queue)
    assert delivery is not None, "expected a deliverable message"
    return delivery


def test_implements_the_port(broker: LocalQueue) -> None:
    assert isinstance(broker, MessageQueue)


def test_fifo_without_sessions_and_many_in_flight(broker: LocalQueue) -> None:
    broker.send([msg("a"), msg("b"), msg("c")])
    first, second, third = take(broker), take(broker), take(broker)
    assert [d.message.message_id for d in (first, second, third)] == ["a", "b", "c"]
    assert first.message.delivery_count == 1
    assert broker.counts(Q) == QueueCounts(active=0, scheduled=0, dead_lettered=0, in_flight=3)
    assert broker.receive(Q) is None


def test_queues_are_independent(broker: LocalQueue) -> None:
    broker.send([msg("p", queue="tandem-poll"), msg("i")])
    assert take(broker, "tandem-poll").message.message_id == "p"
    assert take(broker).message.message_id == "i"


def test_one_message_per_session_in_flight_other_sessions_proceed(broker: LocalQueue) -> None:
    broker.send([msg("a1", "A"), msg("a2", "A"), msg("b1", "B"), msg("a3", "A"), msg("b2", "B")])
    a1 = take(broker)
    b1 = take(broker)
    assert (a1.message.message_id, b1.message.message_id) == ("a1", "b1")
    assert broker.receive(Q) is None  # both sessions are busy
    broker.complete(b1)
    assert take(broker).message.message_id == "b2"
    broker.complete(a1)
    a2 = take(broker)
    assert a2.message.message_id == "a2"
    broker.complete(a2)
    assert take(broker).message.message_id == "a3"


def test_abandoned_message_is_redelivered_before_the_rest_of_its_session(broker: LocalQueue) -> None:
    broker.send([msg("a1", "A"), msg("a2", "A")])
    first = take(broker)
    broker.abandon(first)
    again = take(broker)
    assert again.message.message_id == "a1"
    assert again.message.delivery_count == 2
    assert again.lock_token != first.lock_token
    broker.complete(again)
    assert take(broker).message.message_id == "a2"


def test_abandoned_non_session_message_goes_back_to_the_front(broker: LocalQueue) -> None:
    broker.send([msg("a"), msg("b")])
    broker.abandon(take(broker))
    assert take(broker).message.message_id == "a"


def test_max_delivery_count_dead_letters_and_unblocks_the_session(broker: LocalQueue) -> None:
    broker.send([msg("a1", "A"), msg("a2", "A")])
    for attempt in (1, 2, 3):
        delivery = take(broker)
        assert (delivery.message.message_id, delivery.message.delivery_count) == ("a1", attempt)
        broker.abandon(delivery)
    [dead] = broker.dead_letters(Q)
    assert dead.reason == MAX_DELIVERY_COUNT_EXCEEDED
    assert dead.message.message_id == "a1"
    assert dead.message.delivery_count == 3
    assert dead.dead_lettered_at is not None
    assert take(broker).message.message_id == "a2"


def test_duplicate_detection_within_window_only(broker: LocalQueue, clock: ManualClock) -> None:
    broker.send([msg("x"), msg("x")])
    broker.complete(take(broker))
    clock.advance(timedelta(minutes=9))
    broker.send([msg("x")])  # completed already, but still inside the window: dropped
    assert broker.receive(Q) is None
    clock.advance(timedelta(minutes=1, seconds=1))
    broker.send([msg("x")])
    assert take(broker).message.message_id == "x"


def test_duplicate_window_is_configurable(clock: ManualClock) -> None:
    broker = LocalQueue(clock=clock, duplicate_window=timedelta(seconds=30))
    broker.send([msg("x")])
    clock.advance(31)
    broker.send([msg("x")])
    assert broker.counts(Q).active == 2


def test_scheduled_message_waits_until_due(broker: LocalQueue, clock: ManualClock) -> None:
    due = clock() + timedelta(seconds=30)
    broker.send([msg("later", at=due), msg("now")])
    assert take(broker).message.message_id == "now"
    assert broker.receive(Q) is None
    assert broker.counts(Q).scheduled == 1
    clock.advance(29)
    assert broker.receive(Q) is None
    clock.advance(1)
    later = take(broker)
    assert later.message.message_id == "later"
    assert broker.counts(Q).scheduled == 0


def test_scheduled_session_message_keeps_order_behind_earlier_ones(
    broker: LocalQueue, clock: ManualClock
) -> None:
    broker.send([msg("a1", "A", at=clock() + timedelta(seconds=5)), msg("a2", "A")])
    a2 = take(broker)
    assert a2.message.message_id == "a2"
    clock.advance(5)
    assert broker.receive(Q) is None  # session A still has a2 in flight
    broker.complete(a2)
    assert take(broker).message.message_id == "a1"


def test_naive_scheduled_time_is_utc(broker: LocalQueue, clock: ManualClock) -> None:
    naive = (clock() + timedelta(seconds=10)).replace(tzinfo=None)
    broker.send([msg("n", at=naive)])
    assert broker.receive(Q) is None
    clock.advance(10)
    assert take(broker).message.message_id == "n"


def test_lock_expiry_redelivers_and_old_lock_cannot_settle(broker: LocalQueue, clock: ManualClock) -> None:
    broker.send([msg("a1", "A"), msg("a2", "A")])
    crashed = take(broker)  # the worker "dies" without settling
    clock.advance(timedelta(minutes=1))
    again = take(broker)
    assert (again.message.message_id, again.message.delivery_count) == ("a1", 2)
    with pytest.raises(LockLostError):
        broker.complete(crashed)
    broker.complete(again)
    assert take(broker).message.message_id == "a2"


def test_lock_expiry_counts_towards_max_delivery(broker: LocalQueue, clock: ManualClock) -> None:
    broker.send([msg("a")])
    for _ in range(3):
        take(broker)
        clock.advance(timedelta(minutes=2))
    assert broker.receive(Q) is None
    assert [d.reason for d in broker.dead_letters(Q)] == [MAX_DELIVERY_COUNT_EXCEEDED]


def test_renew_lock_extends_the_lock(broker: LocalQueue, clock: ManualClock) -> None:
    broker.send([msg("a")])
    delivery = take(broker)
    clock.advance(50)
    renewed = broker.renew_lock(delivery)
    assert renewed == clock() + timedelta(minutes=1)
    clock.advance(50)
    broker.complete(delivery)  # would have expired at 60 s without the renewal
    clock.advance(120)
    with pytest.raises(LockLostError):
        broker.renew_lock(delivery)


def test_settling_twice_fails(broker: LocalQueue) -> None:
    broker.send([msg("a")])
    delivery = take(broker)
    broker.complete(delivery)
    with pytest.raises(LockLostError):
        broker.abandon(delivery)


def test_dead_letter_delivery_settles_with_reason(broker: LocalQueue) -> None:
    broker.send([msg("a1", "A"), msg("a2", "A")])
    broker.dead_letter_delivery(take(broker), "ValidationFailed", "System.Title is required")
    [dead] = broker.dead_letters(Q)
    assert (dead.reason, dead.description, dead.message.message_id) == (
        "ValidationFailed",
        "System.Title is required",
        "a1",
    )
    assert take(broker).message.message_id == "a2"


def test_port_dead_letter_then_complete_like_the_function_app(broker: LocalQueue) -> None:
    broker.send([msg("a1", "A")])
    delivery = take(broker)
    broker.dead_letter(delivery.message, "PermissionDenied", "no write access to project X")
    broker.complete(delivery)
    assert broker.counts(Q) == QueueCounts(active=0, scheduled=0, dead_lettered=1, in_flight=0)
    assert broker.dead_letters(Q)[0].message.delivery_count == 1


def test_replay_moves_dead_letters_back_with_fresh_ids(broker: LocalQueue) -> None:
    broker.send([msg("a1", "A"), msg("b1", "B"), msg("c1", "C")])
    for _ in range(3):
        delivery = take(broker)
        broker.dead_letter_delivery(delivery, "Boom")
    assert [d.message.message_id for d in broker.dead_letters(Q, limit=2)] == ["a1", "b1"]
    assert broker.replay_dead_letters(Q, limit=2) == 2
    assert [d.message.message_id for d in broker.dead_letters(Q)] == ["c1"]
    replayed = take(broker)
    # Same session, fresh id: duplicate detection (10 min) would otherwise drop it.
    assert replayed.message.session_id == "A"
    assert replayed.message.message_id.startswith("a1:r")
    assert replayed.message.delivery_count == 1
    assert replayed.message.body == {"id": "a1"}
    assert broker.replay_dead_letters(Q) == 1
    assert broker.replay_dead_letters(Q) == 0


def test_replaying_twice_does_not_grow_the_id(broker: LocalQueue) -> None:
    broker.send([msg("a")])
    broker.dead_letter_delivery(take(broker), "Boom")
    broker.replay_dead_letters(Q)
    broker.dead_letter_delivery(take(broker), "Boom")
    broker.replay_dead_letters(Q)
    again = take(broker).message.message_id
    assert again.startswith("a:r") and again.count(":r") == 1


def test_sent_messages_are_copies(broker: LocalQueue) -> None:
    original = msg("a")
    broker.send([original])
    original.body["id"] = "changed"
    delivery = take(broker)
    assert delivery.message.body == {"id": "a"}
    delivery.message.body["id"] = "mutated"
    broker.abandon(delivery)
    assert take(broker).message.body == {"id": "a"}


def test_wait_idle(broker: LocalQueue, clock: ManualClock) -> None:
    assert broker.wait_idle(timeout=0)
    broker.send([msg("a"), msg("later", at=clock() + timedelta(hours=1))])
    assert not broker.wait_idle(timeout=0)
    broker.complete(take(broker))
    assert broker.wait_idle(timeout=0)  # a not-yet-due scheduled message does not count
    clock.advance(timedelta(hours=1))
    assert not broker.wait_idle(timeout=0)


def test_receive_waits_for_a_message_sent_by_another_thread() -> None:
    broker = LocalQueue()
    timer = threading.Timer(0.05, broker.send, args=([msg("late")],))
    timer.start()
    started = time.monotonic()
    delivery = broker.receive(Q, timeout=5)
    timer.join()
    assert delivery is not None and delivery.message.message_id == "late"
    assert time.monotonic() - started < 2


def test_receive_times_out() -> None:
    started = time.monotonic()
    assert LocalQueue().receive(Q, timeout=0.05) is None
    assert time.monotonic() - started >= 0.05


def test_workers_keep_session_order_and_run_sessions_concurrently() -> None:
    broker = LocalQueue()
    sessions = [f"s{i}" for i in range(8)]
    broker.send([msg(f"{s}-{n}", s) for n in range(10) for s in sessions])
    seen: dict[str, list[int]] = defaultdict(list)
    busy: dict[str, int] = defaultdict(int)
    overlap: list[str] = []
    lock = threading.Lock()
    concurrent_peak = [0, 0]  # current, peak
    failed_once: set[str] = set()

    def handler(message: QueueMessage) -> None:
        sid = message.session_id or ""
        with lock:
            busy[sid] += 1
            if busy[sid] > 1:
                overlap.append(sid)
            concurrent_peak[0] += 1
            concurrent_peak[1] = max(concurrent_peak)
        try:
            time.sleep(0.001)
            # Every third message fails once: redelivery must not break the session's order.
            if message.message_id.endswith(("-3", "-6")) and message.message_id not in failed_once:
                failed_once.add(message.message_id)
                raise RuntimeError("transient")
            with lock:
                seen[sid].append(int(message.message_id.split("-")[1]))
        finally:
            with lock:
                busy[sid] -= 1
                concurrent_peak[0] -= 1

    with broker.run_workers(Q, handler, concurrency=4) as pool:
        assert broker.wait_idle(timeout=10)
    assert not overlap
    assert all(seen[s] == list(range(10)) for s in sessions)
    assert concurrent_peak[1] > 1
    assert pool.completed == 80
    assert pool.failed == 16
    assert all(not t.is_alive() for t in pool.threads)


def test_worker_failures_end_in_the_dead_letter_queue() -> None:
    broker = LocalQueue(max_delivery_count=2)
    broker.send([msg("poison", "A"), msg("fine", "A")])
    handled: list[str] = []

    def handler(message: QueueMessage) -> None:
        if message.message_id == "poison":
            raise ValueError("cannot map field")
        handled.append(message.message_id)

    stop = threading.Event()
    pool = broker.run_workers(Q, handler, concurrency=2, stop_event=stop)
    try:
        assert broker.wait_idle(timeout=10)
    finally:
        stop.set()
        pool.stop()
    assert handled == ["fine"]
    [dead] = broker.dead_letters(Q)
    assert (dead.message.message_id, dead.reason, dead.message.delivery_count) == (
        "poison",
        MAX_DELIVERY_COUNT_EXCEEDED,
        2,
    )


def test_concurrent_producers_lose_nothing() -> None:
    broker = LocalQueue()

    def produce(prefix: str) -> None:
        for n in range(200):
            broker.send([msg(f"{prefix}{n}", f"{prefix}{n % 5}")])

    threads = [threading.Thread(target=produce, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert broker.counts(Q).active == 800
    got = set()
    with broker.run_workers(Q, lambda m: got.add(m.message_id), concurrency=4):
        assert broker.wait_idle(timeout=10)
    assert len(got) == 800


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        LocalQueue(max_delivery_count=0)
    with pytest.raises(ValueError):
        LocalQueue().send([msg("x", queue="")])


def test_receive_batch_takes_one_sessions_ready_messages_in_order(broker: LocalQueue) -> None:
    broker.send([msg("a1", "A"), msg("b1", "B"), msg("a2", "A"), msg("a3", "A")])
    batch = broker.receive_batch(Q, 10)
    assert [d.message.message_id for d in batch] == ["a1", "a2", "a3"]
    # the session stays locked until every message of the batch is settled
    other = broker.receive_batch(Q, 10)
    assert [d.message.message_id for d in other] == ["b1"]
    broker.send([msg("a4", "A")])
    broker.complete(batch[0])
    assert broker.receive_batch(Q, 10) == []
    broker.complete(batch[1])
    broker.complete(batch[2])
    assert [d.message.message_id for d in broker.receive_batch(Q, 10)] == ["a4"]


def test_receive_batch_respects_the_maximum(broker: LocalQueue) -> None:
    broker.send([msg(f"m{i}", "S") for i in range(5)])
    assert [d.message.message_id for d in broker.receive_batch(Q, 2)] == ["m0", "m1"]


def test_abandoned_batch_keeps_its_order(broker: LocalQueue) -> None:
    broker.send([msg("a1", "A"), msg("a2", "A"), msg("a3", "A")])
    batch = broker.receive_batch(Q, 2)
    for delivery in reversed(batch):
        broker.abandon(delivery)
    again = broker.receive_batch(Q, 10)
    assert [d.message.message_id for d in again] == ["a1", "a2", "a3"]
    assert [d.message.delivery_count for d in again] == [2, 2, 1]


def test_batch_workers_complete_or_abandon_whole_batches(broker: LocalQueue) -> None:
    seen: list[list[str]] = []
    failed = threading.Event()

    def handler(messages: list[QueueMessage]) -> None:
        ids = [m.message_id for m in messages]
        seen.append(ids)
        if "boom" in ids and not failed.is_set():
            failed.set()
            raise RuntimeError("first attempt fails")

    broker.send([msg("x1", "X"), msg("boom", "X"), msg("x3", "X")])
    with broker.run_batch_workers(Q, handler, concurrency=1, max_batch=10):
        assert broker.wait_idle(5)
    assert seen[0] == ["x1", "boom", "x3"] and seen[1] == ["x1", "boom", "x3"]
    assert broker.counts(Q).dead_lettered == 0


def test_replay_of_selected_dead_letters_keeps_the_others_in_order(broker: LocalQueue) -> None:
    broker.send([msg("a1", "A"), msg("b1", "B"), msg("c1", "C")])
    for _ in range(3):
        broker.dead_letter_delivery(take(broker), "Boom")
    assert broker.replay_dead_letters(Q, select=lambda m: m.message_id == "b1") == 1
    assert [d.message.message_id for d in broker.dead_letters(Q)] == ["a1", "c1"]
    assert take(broker).message.message_id.startswith("b1:r")
