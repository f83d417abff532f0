"""Durability for `state.local_queue.LocalQueue`: every change to a queue's messages, written ahead to SQLite.

`LocalQueue` keeps its in-memory structures and tells its journal what changed (accepted, became due, locked,
completed, dead-lettered, replayed, duplicate-detection ids forgotten); it commits once per public call,
before the call returns, so an acknowledged `send` survives the process being killed. `load()` gives back
what was kept, for the queue to rebuild itself when it starts again, as Service Bus does after a restart:
messages not completed (scheduled ones with their due time), delivery counts, dead letters, and the message
ids still inside the duplicate-detection window. Locks are not kept: a message in flight when the process
died is delivered again (at-least-once), its delivery count already raised.

The file uses SQLite's write-ahead log with `synchronous=NORMAL`: a commit survives the process being killed
(SIGKILL); a power cut may lose the last commits. `MemoryJournal` keeps nothing (the default).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from state.queue import DeadLetteredMessage, QueueMessage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    key INTEGER PRIMARY KEY,        -- stable for the message's life in the queue
    queue TEXT NOT NULL,
    seq INTEGER NOT NULL,           -- delivery order (renumbered when a scheduled message becomes due)
    due TEXT,                       -- ISO time while scheduled; NULL once available
    deliveries INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL           -- QueueMessage JSON
);
CREATE TABLE IF NOT EXISTS dead_letters (
    key INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    letter TEXT NOT NULL            -- DeadLetteredMessage JSON
);
CREATE TABLE IF NOT EXISTS seen (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (queue, message_id)
);
"""
_SELECT_MESSAGES = "SELECT key, queue, seq, due, deliveries, message FROM messages ORDER BY seq"
_SELECT_DEAD = "SELECT key, queue, letter FROM dead_letters ORDER BY key"
_SELECT_SEEN = "SELECT queue, message_id, at FROM seen ORDER BY at"


@dataclass(frozen=True)
class KeptMessage:
    key: int
    seq: int
    due: datetime | None  # None: available (or in flight when the process stopped)
    message: QueueMessage  # delivery_count as last recorded


@dataclass
class KeptQueue:
    messages: list[KeptMessage] = field(default_factory=list)  # by seq
    dead: list[tuple[int, DeadLetteredMessage]] = field(default_factory=list)  # oldest first
    seen: list[tuple[str, datetime]] = field(default_factory=list)  # oldest first


class MemoryJournal:
    """Keeps nothing: the queue lives and dies with the process (tests, `tandem serve` without a data dir)."""

    durable = False

    def load(self) -> dict[str, KeptQueue]:
        return {}

    def accepted(
        self, queue: str, key: int, seq: int, message: QueueMessage, due: datetime | None, seen_at: datetime
    ) -> None:
        pass

    def forgot_seen(self, queue: str, message_ids: Iterable[str]) -> None:
        pass

    def became_due(self, key: int, seq: int) -> None:
        pass

    def delivered(self, key: int, deliveries: int) -> None:
        pass

    def removed(self, key: int) -> None:
        pass

    def dead_lettered(self, queue: str, key: int | None, letter: DeadLetteredMessage, dead_key: int) -> None:
        pass

    def replayed(self, dead_keys: Iterable[int]) -> None:
        pass

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass


class SqliteJournal(MemoryJournal):
    """The journal in one SQLite file; every method is called with the queue's lock held."""

    durable = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level="DEFERRED")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.commit()
        self._lock = threading.Lock()  # the queue serialises calls already; this guards close() too
        self._dirty = False
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteJournal({str(self.path)!r})"

    def load(self) -> dict[str, KeptQueue]:
        kept: dict[str, KeptQueue] = {}
        with self._lock:
            rows = self._db.execute(_SELECT_MESSAGES)
            for key, queue, seq, due, deliveries, text in rows:
                message = QueueMessage.model_validate_json(text)
                message.delivery_count = int(deliveries)
                when = datetime.fromisoformat(due) if due else None
                kept.setdefault(queue, KeptQueue()).messages.append(KeptMessage(key, seq, when, message))
            for key, queue, text in self._db.execute(_SELECT_DEAD):
                letter = DeadLetteredMessage.model_validate_json(text)
                kept.setdefault(queue, KeptQueue()).dead.append((key, letter))
            for queue, message_id, at in self._db.execute(_SELECT_SEEN):
                kept.setdefault(queue, KeptQueue()).seen.append((message_id, datetime.fromisoformat(at)))
        return kept

    def accepted(
        self, queue: str, key: int, seq: int, message: QueueMessage, due: datetime | None, seen_at: datetime
    ) -> None:
        self._write(
            "INSERT OR REPLACE INTO seen (queue, message_id, at) VALUES (?, ?, ?)",
            (queue, message.message_id, seen_at.isoformat()),
        )
        self._write(
            "INSERT INTO messages (key, queue, seq, due, deliveries, message) VALUES (?, ?, ?, ?, 0, ?)",
            (key, queue, seq, due.isoformat() if due else None, message.model_dump_json()),
        )

    def forgot_seen(self, queue: str, message_ids: Iterable[str]) -> None:
        for message_id in message_ids:
            self._write("DELETE FROM seen WHERE queue = ? AND message_id = ?", (queue, message_id))

    def became_due(self, key: int, seq: int) -> None:
        self._write("UPDATE messages SET seq = ?, due = NULL WHERE key = ?", (seq, key))

    def delivered(self, key: int, deliveries: int) -> None:
        self._write("UPDATE messages SET deliveries = ? WHERE key = ?", (deliveries, key))

    def removed(self, key: int) -> None:
        self._write("DELETE FROM messages WHERE key = ?", (key,))

    def dead_lettered(self, queue: str, key: int | None, letter: DeadLetteredMessage, dead_key: int) -> None:
        if key is not None:
            self.removed(key)
        self._write(
            "INSERT INTO dead_letters (key, queue, letter) VALUES (?, ?, ?)",
            (dead_key, queue, letter.model_dump_json()),
        )

    def replayed(self, dead_keys: Iterable[int]) -> None:
        for key in dead_keys:
            self._write("DELETE FROM dead_letters WHERE key = ?", (key,))

    def commit(self) -> None:
        with self._lock:
            if self._dirty and not self._closed:
                self._db.commit()
                self._dirty = False

    def close(self) -> None:
        """Commit and close. A worker still settling a message afterwards changes nothing on disk: the
        message is delivered again after the restart, as an unsettled one is on Service Bus."""
        with self._lock:
            if self._closed:
                return
            if self._dirty:
                self._db.commit()
                self._dirty = False
            self._db.close()
            self._closed = True

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        with self._lock:
            if self._closed:
                return
            self._db.execute(sql, params)
            self._dirty = True
