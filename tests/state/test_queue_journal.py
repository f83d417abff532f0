"""A LocalQueue with a SQLite journal comes back after a restart the way a Service Bus queue does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from state.local_queue import MAX_DELIVERY_COUNT_EXCEEDED, Delivery, LocalQueue, ManualClock, QueueCounts
from state.queue import QueueMessage
from state.queue_journal import SqliteJournal

Q = "tandem-items"
REPO = Path(__file__).resolve().parents[2]


def msg(mid: str, session: str | None = None, *, at: datetime | None = None) -> QueueMessage:
    return QueueMessage(queue=Q, body={"id": mid}, message_id=mid, session_id=session, scheduled_at=at)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))


def broker(path: Path, clock: ManualClock, **kwargs: object) -> LocalQueue:
    return LocalQueue(clock=clock, journal=SqliteJournal(path), max_delivery_count=3, **kwargs)  # type: ignore[arg-type]


def take(queue: LocalQueue) -> Delivery:
    delivery = queue.receive(Q)
    assert delivery is not None, "expected a deliverable message"
    return delivery


def drain(queue: LocalQueue) -> list[tuple[str, int]]:
    out = []
    while (d := queue.receive(Q)) is not None:
        out.append((d.message.message_id, d.message.delivery_count))
        queue.complete(d)
    return out


def test_uncompleted_messages_come_back_in_session_order_with_their_delivery_counts(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "queue.sqlite3"
    first = broker(path, clock)
    first.send([msg("a1", "A"), msg("b1", "B"), msg("a2", "A"), msg("done"), msg("a3", "A")])
    a1 = take(first)
    first.abandon(a1)  # back to its session's front, delivered once
    a1 = take(first)
    assert a1.message.message_id == "a1"
    b1 = take(first)
    first.complete(b1)
    done = take(first)
    first.complete(done)
    # a1 is in flight (delivered twice) when the process goes away: no close, no settle.

    second = broker(path, clock)
    assert second.counts(Q) == QueueCounts(active=3, scheduled=0, dead_lettered=0, in_flight=0)
    assert drain(second) == [("a1", 3), ("a2", 1), ("a3", 1)]
    third = broker(path, clock)
    assert drain(third) == []


def test_scheduled_messages_stay_scheduled_until_due(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "queue.sqlite3"
    later = clock() + timedelta(minutes=5)
    broker(path, clock).send([msg("later", "S", at=later), msg("now", "S")])

    again = broker(path, clock)
    assert again.counts(Q).scheduled == 1
    assert drain(again) == [("now", 1)]
    clock.advance(timedelta(minutes=5))
    assert drain(again) == [("later", 1)]
    assert broker(path, clock).counts(Q) == QueueCounts(active=0, scheduled=0, dead_lettered=0, in_flight=0)


def test_a_due_message_keeps_the_order_it_became_due_in(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "queue.sqlite3"
    first = broker(path, clock)
    first.send([msg("s1", "S", at=clock() + timedelta(seconds=1))])
    clock.advance(2)
    assert first.counts(Q).active == 1  # due now: renumbered after anything sent before it became due
    first.send([msg("s2", "S")])
    assert drain(broker(path, clock)) == [("s1", 1), ("s2", 1)]


def test_duplicate_detection_window_survives_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "queue.sqlite3"
    first = broker(path, clock, duplicate_window=timedelta(minutes=10))
    first.send([msg("x")])
    first.complete(take(first))

    second = broker(path, clock, duplicate_window=timedelta(minutes=10))
    second.send([msg("x")])  # within the window: dropped even though the first copy is long completed
    assert second.receive(Q) is None
    clock.advance(timedelta(minutes=11))
    second.send([msg("x")])
    assert drain(broker(path, clock)) == [("x", 1)]


def test_dead_letters_and_replays_survive_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "queue.sqlite3"
    first = broker(path, clock)
    first.send([msg("bad"), msg("parked"), msg("worse")])
    first.dead_letter_delivery(take(first), "Poison", "cannot map")
    parked = take(first)
    first.dead_letter(parked.message, "NotReady", "parked by the engine")
    first.complete(parked)

    second = broker(path, clock)
    assert [(d.message.message_id, d.reason) for d in second.dead_letters(Q)] == [
        ("bad", "Poison"),
        ("parked", "NotReady"),
    ]
    assert second.replay_dead_letters(Q, limit=1) == 1

    third = broker(path, clock)
    assert [d.message.message_id for d in third.dead_letters(Q)] == ["parked"]
    replayed = drain(third)
    assert [(mid.split(":")[0], count) for mid, count in replayed] == [("worse", 1), ("bad", 1)]


def test_a_message_in_flight_with_its_last_delivery_is_dead_lettered_on_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "queue.sqlite3"
    first = broker(path, clock)
    first.send([msg("flaky")])
    for _ in range(2):
        first.abandon(take(first))
    take(first)  # third and last delivery, never settled

    second = broker(path, clock)
    assert second.receive(Q) is None
    [dead] = second.dead_letters(Q)
    assert (dead.message.message_id, dead.reason) == ("flaky", MAX_DELIVERY_COUNT_EXCEEDED)


def test_settling_after_close_changes_nothing_on_disk(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "queue.sqlite3"
    first = broker(path, clock)
    first.send([msg("late")])
    delivery = take(first)
    first.close()
    first.complete(delivery)  # a worker finishing after shutdown: no error, and nothing recorded
    first.close()
    assert drain(broker(path, clock)) == [("late", 2)]


def test_without_a_journal_nothing_is_kept(tmp_path: Path, clock: ManualClock) -> None:
    LocalQueue(clock=clock).send([msg("gone")])
    assert LocalQueue(clock=clock).receive(Q) is None
    assert list(tmp_path.iterdir()) == []


CHILD = textwrap.dedent(
    """
    import sys, time
    from state.local_queue import LocalQueue
    from state.queue import QueueMessage
    from state.queue_journal import SqliteJournal

    queue = LocalQueue(journal=SqliteJournal(sys.argv[1]))
    for i in range(200):
        queue.send([QueueMessage(queue="q", body={"i": i}, message_id=f"m{i}", session_id=f"s{i % 7}")])
    delivery = queue.receive("q")
    print("sent", delivery.message.message_id, flush=True)
    time.sleep(60)
    """
)


def test_a_sigkill_loses_no_acknowledged_send(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("sent m0"), line
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)

    queue = LocalQueue(journal=SqliteJournal(path))
    got: dict[str, list[int]] = {}
    while (d := queue.receive("q")) is not None:
        got.setdefault(d.message.session_id or "", []).append(int(d.message.body["i"]))
        if d.message.message_id == "m0":
            assert d.message.delivery_count == 2  # delivered once before the kill
        queue.complete(d)
    assert sum(len(v) for v in got.values()) == 200
    for values in got.values():
        assert values == sorted(values)  # each session in the order it was sent
