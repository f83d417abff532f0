"""Asynchronous operations (`_apis/operations/{id}`): project creation, update and deletion are queued and
finish later; the change takes effect only when the operation completes, after a set number of polls."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

# The plugin id ADO reports for project operations (Team Foundation's project service).
PROJECT_PLUGIN = "00000000-0000-0000-0000-000000000000"


@dataclass
class Operation:
    id: str
    plugin_id: str
    polls_left: int
    complete: Callable[[], str | None]  # carries the change out; returns an error message on failure
    status: str = "queued"
    result_message: str = ""


class Operations:
    """Queued operations; `polls_before_done` GETs see it unfinished, the next one completes it."""

    def __init__(self, polls_before_done: int = 1) -> None:
        self.lock = threading.Lock()
        self.polls_before_done = polls_before_done
        self._ops: dict[str, Operation] = {}

    def start(self, complete: Callable[[], str | None], plugin_id: str = PROJECT_PLUGIN) -> Operation:
        op = Operation(str(uuid.uuid4()), plugin_id, self.polls_before_done, complete)
        with self.lock:
            self._ops[op.id] = op
        return op

    def poll(self, op_id: str) -> Operation | None:
        with self.lock:
            op = self._ops.get(op_id.lower())
            if op is None or op.status in ("succeeded", "failed", "cancelled"):
                return op
            if op.polls_left > 0:
                op.polls_left -= 1
                op.status = "inProgress"
                return op
            failure = op.complete()
            op.status = "failed" if failure else "succeeded"
            op.result_message = failure or ""
            return op

    def finish_all(self) -> None:
        """Complete every pending operation now (tests, seeding)."""
        with self.lock:
            pending = [op.id for op in self._ops.values() if op.status in ("queued", "inProgress")]
        for op_id in pending:
            while (op := self.poll(op_id)) is not None and op.status not in ("succeeded", "failed"):
                pass

    def reset(self) -> None:
        with self.lock:
            self._ops.clear()
