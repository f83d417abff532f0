"""In-process message broker with the Service Bus semantics the engine relies on, for local runs and tests.

Sessions in order (one message per session in flight), duplicate detection by message id, scheduled delivery,
peek-lock with at-least-once redelivery, max-delivery-count dead-lettering, and dead-letter replay. With a
`SqliteJournal` (state.queue_journal) the queues survive the process being killed, as Service Bus queues do.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from state.queue import DeadLetteredMessage, QueueMessage, replay_message_id
from state.queue_journal import KeptQueue, MemoryJournal

log = logging.getLogger("tandem.queue")

Clock = Callable[[], datetime]
Handler = Callable[[QueueMessage], None]
BatchHandler = Callable[[list[QueueMessage]], None]

MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC, as Service Bus does with scheduled_enqueue_time_utc.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ManualClock:
    """A clock that moves only when told to: tests of windows, schedules and lock expiry need no sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _as_utc(start or datetime(2026, 11, 1, tzinfo=UTC))
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: float | timedelta) -> datetime:
        """Move forward by `by` seconds (or a timedelta) and return the new time."""
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        with self._lock:
            self._now += step
            return self._now


class LockLostError(Exception):
    """The delivery's lock expired or it was already settled; the message is (or will be) delivered again."""


@dataclass(frozen=True)
class Delivery:
    """A received message and the lock that must be settled with complete / abandon / dead_letter_delivery."""

    message: QueueMessage
    lock_token: str
    locked_until: datetime
    sequence_number: int

    @property
    def queue(self) -> str:
        return self.message.queue


@dataclass(frozen=True)
class QueueCounts:
    active: int  # deliverable now or waiting behind their session's in-flight message
    scheduled: int  # not yet due
    dead_lettered: int
    in_flight: int  # received and locked, not yet settled


@dataclass
class _Entry:
    seq: int
    message: QueueMessage  # delivery_count here counts deliveries so far
    key: int = 0  # the journal's name for it: its first seq, kept while seq changes

    @property
    def session_id(self) -> str | None:
        return self.message.session_id


@dataclass
class _InFlight:
    entry: _Entry
    locked_until: datetime


@dataclass
class _Queue:
    # Non-session messages go straight into `ready`; a session's messages wait in its deque and only its
    # head is offered in `ready`, and only while no message of that session is in flight.
    ready: list[tuple[int, _Entry]] = field(default_factory=list)
    sessions: dict[str, deque[_Entry]] = field(default_factory=dict)
    offered: set[str] = field(default_factory=set)
    locked: dict[str, int] = field(default_factory=dict)  # session -> messages of it in flight
    scheduled: list[tuple[datetime, int, _Entry]] = field(default_factory=list)
    in_flight: dict[str, _InFlight] = field(default_factory=dict)
    dead: list[tuple[int, DeadLetteredMessage]] = field(default_factory=list)  # (journal key, letter)
    seen: OrderedDict[str, datetime] = field(default_factory=OrderedDict)


class LocalQueue:
    """Thread-safe in-process broker implementing `state.queue.MessageQueue` plus a peek-lock consumer side.

    Queues are created on first use. Every queue behaves like the provisioned Service Bus queues: sessions
    honoured when a message has a session id, duplicate detection, `max_delivery_count`, `lock_duration`.
    """

    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        duplicate_window: timedelta = timedelta(minutes=10),
        max_delivery_count: int = 10,
        lock_duration: timedelta = timedelta(minutes=1),
        poll_interval: float = 0.05,
        journal: MemoryJournal | None = None,
    ) -> None:
        if max_delivery_count < 1:
            raise ValueError("max_delivery_count must be at least 1")
        self._clock = clock
        self._duplicate_window = duplicate_window
        self._max_delivery_count = max_delivery_count
        self._lock_duration = lock_duration
        # Waits are sliced so that a ManualClock moved by another thread is noticed promptly.
        self._poll_interval = poll_interval
        self._cond = threading.Condition()
        self._queues: dict[str, _Queue] = {}
        self._seq = 0
        self._journal = journal or MemoryJournal()
        with self._cond:
            self._restore(self._journal.load())

    def __repr__(self) -> str:
        return f"LocalQueue(queues={sorted(self._queues)})"

    # -- MessageQueue port -------------------------------------------------------------------------

    def send(self, messages: Sequence[QueueMessage]) -> None:
        with self._cond:
            now = self._clock()
            for message in messages:
                self._accept(message.model_copy(deep=True), now)
            self._journal.commit()  # before returning: an acknowledged send survives a kill
            self._cond.notify_all()

    def dead_letter(self, message: QueueMessage, reason: str, description: str = "") -> None:
        with self._cond:
            letter = DeadLetteredMessage(
                message=message.model_copy(deep=True),
                reason=reason,
                description=description,
                dead_lettered_at=self._clock(),
            )
            self._add_dead(self._queue(message.queue), None, letter)
            self._journal.commit()
            self._cond.notify_all()

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetteredMessage]:
        with self._cond:
            return [d.model_copy(deep=True) for _, d in self._queue(queue).dead[:limit]]

    def replay_dead_letters(
        self, queue: str, limit: int = 100, select: Callable[[QueueMessage], bool] | None = None
    ) -> int:
        with self._cond:
            q = self._queue(queue)
            moved: list[tuple[int, DeadLetteredMessage]] = []
            kept: list[tuple[int, DeadLetteredMessage]] = []
            for entry in q.dead:
                chosen = len(moved) < limit and (select is None or select(entry[1].message))
                (moved if chosen else kept).append(entry)
            q.dead = kept
            self._journal.replayed(key for key, _ in moved)
            now = self._clock()
            for _, dead in moved:
                fresh = dead.message.model_copy(
                    update={
                        "message_id": replay_message_id(dead.message.message_id),
                        "delivery_count": 0,
                        "scheduled_at": None,
                    },
                    deep=True,
                )
                self._accept(fresh, now)
            self._journal.commit()
            self._cond.notify_all()
            return len(moved)

    # -- consumer side -----------------------------------------------------------------------------

    def receive(
        self, queue: str, timeout: float = 0.0, *, lock_duration: timedelta | None = None
    ) -> Delivery | None:
        """Lock and return the next deliverable message, waiting up to `timeout` seconds; None if none."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = self._clock()
                q = self._queue(queue)
                self._housekeep(q, now)
                if q.ready:
                    delivery = self._deliver(q, now, lock_duration or self._lock_duration)
                    self._journal.commit()
                    return delivery
                self._journal.commit()  # housekeeping may have moved scheduled messages or expired locks
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, self._poll_interval, self._until_next_event(q, now)))

    def receive_batch(
        self,
        queue: str,
        max_messages: int,
        timeout: float = 0.0,
        *,
        lock_duration: timedelta | None = None,
    ) -> list[Delivery]:
        """Like a session receiver's batch: the next session's ready messages, in order, up to `max_messages`.

        Messages without a session come one at a time. Each delivery is settled on its own.
        """
        first = self.receive(queue, timeout, lock_duration=lock_duration)
        if first is None:
            return []
        batch = [first]
        sid = first.message.session_id
        if sid is None:
            return batch
        with self._cond:
            now = self._clock()
            q = self._queue(queue)
            waiting = q.sessions.get(sid)
            while waiting and len(batch) < max_messages:
                # The session is locked by `first`, so its next messages are not offered to anyone else.
                batch.append(
                    self._lock_entry(q, waiting.popleft(), now, lock_duration or self._lock_duration)
                )
            self._journal.commit()
        return batch

    def complete(self, delivery: Delivery) -> None:
        """Settle successfully: the message is gone. Raises LockLostError if the lock was lost."""
        with self._cond:
            q, held = self._settle(delivery)
            self._journal.removed(held.entry.key)
            self._release_session(q, held.entry)
            self._journal.commit()
            self._cond.notify_all()

    def abandon(self, delivery: Delivery) -> None:
        """Give the message back for redelivery (or dead-letter it once max_delivery_count is reached)."""
        with self._cond:
            q, held = self._settle(delivery)
            self._requeue(q, held.entry, self._clock())
            self._journal.commit()
            self._cond.notify_all()

    def dead_letter_delivery(self, delivery: Delivery, reason: str, description: str = "") -> None:
        """Settle by moving the message to the queue's dead-letter sub-queue."""
        with self._cond:
            q, held = self._settle(delivery)
            self._to_dead_letter(q, held.entry, reason, description, self._clock())
            self._release_session(q, held.entry)
            self._journal.commit()
            self._cond.notify_all()

    def renew_lock(self, delivery: Delivery) -> datetime:
        """Extend the lock by the lock duration and return the new expiry; LockLostError if already lost."""
        with self._cond:
            now = self._clock()
            q = self._queue(delivery.queue)
            self._housekeep(q, now)
            held = q.in_flight.get(delivery.lock_token)
            if held is None:
                raise LockLostError(f"lock on message {delivery.message.message_id} was lost")
            held.locked_until = now + self._lock_duration
            return held.locked_until

    def counts(self, queue: str) -> QueueCounts:
        with self._cond:
            q = self._queue(queue)
            self._housekeep(q, self._clock())
            waiting = sum(len(d) for d in q.sessions.values())
            loose = sum(1 for _, e in q.ready if e.session_id is None)
            self._journal.commit()
            return QueueCounts(
                active=waiting + loose,
                scheduled=len(q.scheduled),
                dead_lettered=len(q.dead),
                in_flight=len(q.in_flight),
            )

    def queue_names(self) -> list[str]:
        with self._cond:
            return sorted(self._queues)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no queue has active, in-flight or due scheduled messages; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = self._clock()
                busy = False
                for q in self._queues.values():
                    self._housekeep(q, now)
                    busy = busy or bool(q.ready or q.sessions or q.in_flight)
                self._journal.commit()
                if not busy:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, self._poll_interval))

    def run_workers(
        self,
        queue: str,
        handler: Handler,
        concurrency: int = 4,
        stop_event: threading.Event | None = None,
        *,
        lock_duration: timedelta = timedelta(minutes=5),
    ) -> WorkerPool:
        """Start `concurrency` daemon threads that feed `queue` to `handler`, like the Functions host does.

        `lock_duration` stands in for the host's automatic lock renewal (maxAutoLockRenewalDuration).
        """
        return WorkerPool(self, queue, handler, concurrency, stop_event, lock_duration=lock_duration).start()

    def run_batch_workers(
        self,
        queue: str,
        handler: BatchHandler,
        concurrency: int = 4,
        max_batch: int = 100,
        stop_event: threading.Event | None = None,
        *,
        lock_duration: timedelta = timedelta(minutes=5),
    ) -> WorkerPool:
        """Like `run_workers`, but the handler gets a session's ready messages together (cardinality many):
        handler returns → all completed; handler raises → all abandoned, their order kept.
        """
        pool = WorkerPool(
            self,
            queue,
            lambda message: handler([message]),
            concurrency,
            stop_event,
            lock_duration=lock_duration,
            batch_handler=handler,
            max_batch=max_batch,
        )
        return pool.start()

    # -- internals (all called with self._cond held) -----------------------------------------------

    def _queue(self, name: str) -> _Queue:
        if not name:
            raise ValueError("a message needs a queue name")
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = _Queue()
        return q

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _accept(self, message: QueueMessage, now: datetime) -> None:
        q = self._queue(message.queue)
        forgotten = []
        while q.seen:
            oldest_id, first_seen = next(iter(q.seen.items()))
            if now - first_seen < self._duplicate_window:
                break
            del q.seen[oldest_id]
            forgotten.append(oldest_id)
        self._journal.forgot_seen(message.queue, forgotten)
        if message.message_id in q.seen:
            log.debug("duplicate message %s on %s dropped", message.message_id, message.queue)
            return
        q.seen[message.message_id] = now
        message.delivery_count = 0
        seq = self._next_seq()
        entry = _Entry(seq=seq, message=message, key=seq)
        due = _as_utc(message.scheduled_at) if message.scheduled_at is not None else None
        if due is not None and due > now:
            self._journal.accepted(message.queue, entry.key, entry.seq, message, due, now)
            heapq.heappush(q.scheduled, (due, entry.seq, entry))
        else:
            self._journal.accepted(message.queue, entry.key, entry.seq, message, None, now)
            self._make_available(q, entry)

    def _make_available(self, q: _Queue, entry: _Entry) -> None:
        sid = entry.session_id
        if sid is None:
            heapq.heappush(q.ready, (entry.seq, entry))
            return
        q.sessions.setdefault(sid, deque()).append(entry)
        self._offer(q, sid)

    def _offer(self, q: _Queue, sid: str) -> None:
        waiting = q.sessions.get(sid)
        if not waiting:
            q.sessions.pop(sid, None)
            return
        if sid in q.locked or sid in q.offered:
            return
        q.offered.add(sid)
        head = waiting[0]
        heapq.heappush(q.ready, (head.seq, head))

    def _housekeep(self, q: _Queue, now: datetime) -> None:
        while q.scheduled and q.scheduled[0][0] <= now:
            _, _, entry = heapq.heappop(q.scheduled)
            entry.seq = self._next_seq()  # ordered by when it became due, as Service Bus enqueues it then
            self._journal.became_due(entry.key, entry.seq)
            self._make_available(q, entry)
        expired = [token for token, held in q.in_flight.items() if held.locked_until <= now]
        for token in expired:
            held = q.in_flight.pop(token)
            log.info(
                "lock expired on message %s (delivery %d); redelivering",
                held.entry.message.message_id,
                held.entry.message.delivery_count,
            )
            self._requeue(q, held.entry, now)

    def _until_next_event(self, q: _Queue, now: datetime) -> float:
        events: Iterable[datetime] = [*(h.locked_until for h in q.in_flight.values())]
        if q.scheduled:
            events = [*events, q.scheduled[0][0]]
        soonest = min(events, default=None)
        if soonest is None:
            return self._poll_interval
        return max((soonest - now).total_seconds(), 0.001)

    def _deliver(self, q: _Queue, now: datetime, lock_duration: timedelta) -> Delivery:
        _, entry = heapq.heappop(q.ready)
        sid = entry.session_id
        if sid is not None:
            head = q.sessions[sid].popleft()
            assert head is entry, "the offered entry must be its session's head"
            q.offered.discard(sid)
        return self._lock_entry(q, entry, now, lock_duration)

    def _lock_entry(self, q: _Queue, entry: _Entry, now: datetime, lock_duration: timedelta) -> Delivery:
        sid = entry.session_id
        if sid is not None:
            q.locked[sid] = q.locked.get(sid, 0) + 1
        entry.message.delivery_count += 1
        self._journal.delivered(entry.key, entry.message.delivery_count)
        token = uuid.uuid4().hex
        locked_until = now + lock_duration
        q.in_flight[token] = _InFlight(entry, locked_until)
        return Delivery(
            message=entry.message.model_copy(deep=True),
            lock_token=token,
            locked_until=locked_until,
            sequence_number=entry.seq,
        )

    def _settle(self, delivery: Delivery) -> tuple[_Queue, _InFlight]:
        q = self._queue(delivery.queue)
        # Expired locks are reclaimed first, so settling a lost lock fails just as it does on Service Bus.
        self._housekeep(q, self._clock())
        held = q.in_flight.pop(delivery.lock_token, None)
        if held is None:
            raise LockLostError(
                f"lock on message {delivery.message.message_id} in {delivery.queue} expired or was settled"
            )
        return q, held

    def _release_session(self, q: _Queue, entry: _Entry) -> None:
        sid = entry.session_id
        if sid is not None:
            self._unlock(q, sid)

    def _requeue(self, q: _Queue, entry: _Entry, now: datetime) -> None:
        if entry.message.delivery_count >= self._max_delivery_count:
            self._to_dead_letter(
                q,
                entry,
                MAX_DELIVERY_COUNT_EXCEEDED,
                f"delivered {entry.message.delivery_count} times without completing",
                now,
            )
            self._release_session(q, entry)
            return
        sid = entry.session_id
        if sid is None:
            heapq.heappush(q.ready, (entry.seq, entry))
            return
        # Back to the front of its session: nothing later in the session may overtake it.
        q.sessions.setdefault(sid, deque()).appendleft(entry)
        self._unlock(q, sid)

    def _unlock(self, q: _Queue, sid: str) -> None:
        """One message of the session settled; the session is offered again once none is in flight."""
        left = q.locked.get(sid, 0) - 1
        if left > 0:
            q.locked[sid] = left
            return
        q.locked.pop(sid, None)
        self._offer(q, sid)

    def _to_dead_letter(self, q: _Queue, entry: _Entry, reason: str, description: str, now: datetime) -> None:
        log.warning("message %s dead-lettered: %s", entry.message.message_id, reason)
        letter = DeadLetteredMessage(
            message=entry.message.model_copy(deep=True),
            reason=reason,
            description=description,
            dead_lettered_at=now,
        )
        self._add_dead(q, entry.key, letter)

    def _add_dead(self, q: _Queue, key: int | None, letter: DeadLetteredMessage) -> None:
        dead_key = self._next_seq()
        self._journal.dead_lettered(letter.message.queue, key, letter, dead_key)
        q.dead.append((dead_key, letter))

    def _restore(self, kept: dict[str, KeptQueue]) -> None:
        """Rebuild the queues from the journal, as the broker finds them after a restart: messages in order,
        scheduled ones still scheduled, in-flight ones deliverable again (or dead-lettered once their delivery
        count is used up), dead letters and the duplicate-detection window as they were."""
        now = self._clock()
        for name, queue in kept.items():
            q = self._queue(name)
            for message_id, at in queue.seen:
                q.seen[message_id] = at
            for dead_key, letter in queue.dead:
                q.dead.append((dead_key, letter))
                self._seq = max(self._seq, dead_key)
            for m in queue.messages:
                self._seq = max(self._seq, m.seq, m.key)
                entry = _Entry(seq=m.seq, message=m.message, key=m.key)
                if m.due is not None:
                    heapq.heappush(q.scheduled, (m.due, entry.seq, entry))
                elif entry.message.delivery_count >= self._max_delivery_count:
                    # Only a message in flight keeps a used-up count; its lock died with the process.
                    self._to_dead_letter(
                        q, entry, MAX_DELIVERY_COUNT_EXCEEDED, "delivery count used up before a restart", now
                    )
                else:
                    self._make_available(q, entry)
        self._journal.commit()
        if kept:
            log.info("restored queues from %r: %s", self._journal, self)

    def close(self) -> None:
        """Write what is pending and close the journal (a no-op without one)."""
        with self._cond:
            self._journal.close()


class WorkerPool:
    """Consumer threads for one queue: handler returns → complete; handler raises → abandon (redelivery)."""

    def __init__(
        self,
        broker: LocalQueue,
        queue: str,
        handler: Handler,
        concurrency: int = 4,
        stop_event: threading.Event | None = None,
        *,
        lock_duration: timedelta = timedelta(minutes=5),
        receive_timeout: float = 0.1,
        batch_handler: BatchHandler | None = None,
        max_batch: int = 1,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.broker = broker
        self.queue = queue
        self.handler = handler
        self.batch_handler = batch_handler
        self.max_batch = max_batch
        self.stop_event = stop_event or threading.Event()
        self._lock_duration = lock_duration
        self._receive_timeout = receive_timeout
        self._counter_lock = threading.Lock()
        self.completed = 0
        self.failed = 0
        self.threads = [
            threading.Thread(target=self._run, name=f"tandem-worker-{queue}-{i}", daemon=True)
            for i in range(concurrency)
        ]

    def __repr__(self) -> str:
        return f"WorkerPool(queue={self.queue!r}, threads={len(self.threads)})"

    def start(self) -> WorkerPool:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the threads to finish their current message and exit, then wait for them."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(deadline - time.monotonic(), 0))

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            batch = self.broker.receive_batch(
                self.queue,
                self.max_batch if self.batch_handler else 1,
                timeout=self._receive_timeout,
                lock_duration=self._lock_duration,
            )
            if not batch:
                continue
            messages = [d.message for d in batch]
            try:
                if self.batch_handler is not None:
                    self.batch_handler(messages)
                else:
                    self.handler(messages[0])
            except Exception:
                log.warning(
                    "handler failed for message %s on %s (delivery %d); abandoning for redelivery",
                    messages[0].message_id,
                    self.queue,
                    messages[0].delivery_count,
                    exc_info=True,
                )
                self._count(failed=True)
                for delivery in reversed(batch):  # reversed: each goes back to its session's front
                    self._settle(self.broker.abandon, delivery)
            except BaseException:
                # The thread is going away: give the messages back rather than wait for their locks to expire.
                for delivery in reversed(batch):
                    self._settle(self.broker.abandon, delivery)
                raise
            else:
                self._count(failed=False)
                for delivery in batch:
                    self._settle(self.broker.complete, delivery)

    def _settle(self, settle: Callable[[Delivery], None], delivery: Delivery) -> None:
        try:
            settle(delivery)
        except LockLostError:
            log.warning("lock lost on message %s; it will be delivered again", delivery.message.message_id)

    def _count(self, *, failed: bool) -> None:
        with self._counter_lock:
            if failed:
                self.failed += 1
            else:
                self.completed += 1
