"""An engine under test: real tables on Azurite, the local queue, two in-memory systems."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from state.local_queue import LocalQueue, ManualClock
from state.secrets import LocalSecretStore
from state.tables import Tables
from sync.config import TandemConfig, parse_config
from sync.messages import PollMessage
from sync.outcome import Outcome
from sync.registry import ConnectorRegistry
from sync.runtime import enqueue_polls, handle_item, handle_poll
from sync.services import Services
from sync.settings import AppSettings
from tests.support.memory_connector import Crash, MemoryConnector, MemorySystem

HOOK_PASSWORD = "hook-pass-7f3a"

DEFAULT_RULES = [
    {"left": "title", "right": "Title", "direction": "both"},
    {
        "left": "state",
        "right": "State",
        "direction": "both",
        "transform": {"value_map": {"map": {"open": "Active", "done": "Closed"}}},
    },
    {"left": "owner", "right": "AssignedTo", "direction": "left_to_right"},
    {"left": "notes", "right": "Description", "direction": "right_to_left"},
]


def config_document(
    *,
    conflict: str = "newest_wins",
    rules: list[dict[str, Any]] | None = None,
    start: str | None = None,
    containers: list[dict[str, str]] | None = None,
    match: dict[str, Any] | None = None,
) -> dict[str, Any]:
    direction = {"schedule": "0 * * * * *", "hooks": True}
    if start:
        direction["start"] = start
    left_dir = dict(direction, match=match or {})
    return {
        "connections": {
            "mem-left": {"type": "memory", "url": "memory://left"},
            "mem-right": {"type": "memory", "url": "memory://right"},
        },
        "field_maps": {"default": copy.deepcopy(rules or DEFAULT_RULES)},
        "scenarios": [
            {
                "name": "demo",
                "left": "mem-left",
                "right": "mem-right",
                "entity": "item",
                "field_map": "default",
                "conflict": conflict,
                "containers": containers if containers is not None else [{"left": "P1", "right": "Q1"}],
                "hook_secret": "demo-hook",
                "directions": {"left_to_right": left_dir, "right_to_left": direction},
            }
        ],
    }


class Harness:
    def __init__(self, tables: Tables, document: dict[str, Any] | None = None) -> None:
        self.clock = ManualClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
        self.queue = LocalQueue(clock=self.clock, max_delivery_count=5)
        self.left = MemorySystem("L")
        self.right = MemorySystem("R", ticker=self.left.ticker)
        self.secrets = LocalSecretStore({"demo-hook": HOOK_PASSWORD})
        registry = ConnectorRegistry(self.secrets)
        systems = {"memory://left": self.left, "memory://right": self.right}
        registry.register("memory", lambda name, cfg, secrets: MemoryConnector(systems[cfg.url]))
        self.services = Services(
            settings=AppSettings(),
            tables=tables,
            queue=self.queue,
            secrets=self.secrets,
            registry=registry,
            clock=self.clock,
            config_ttl=0,
        )
        self.apply(document or config_document())
        self.outcomes: list[Outcome] = []

    @property
    def config(self) -> TandemConfig:
        return self.services.config()

    def apply(self, document: dict[str, Any]) -> None:
        self.services.apply_config(parse_config(document))

    def poll(self, direction: str = "left_to_right", trigger: str = "manual", scenario: str = "demo") -> None:
        self.clock.advance(1)  # each poll is its own schedule slot
        enqueue_polls(
            self.services,
            [PollMessage(scenario=scenario, direction=direction, trigger=trigger, due=self.clock())],  # type: ignore[arg-type]
        )

    def drain(self, max_messages: int = 500, crash_ok: bool = False) -> int:
        """Deliver every message that is due now, like the function host would; returns how many."""
        handled = 0
        settings = self.services.settings
        while handled < max_messages:
            delivery = self.queue.receive(settings.poll_queue) or self.queue.receive(settings.item_queue)
            if delivery is None:
                return handled
            handled += 1
            try:
                if delivery.queue == settings.poll_queue:
                    handle_poll(self.services, delivery.message)
                else:
                    self.outcomes.append(handle_item(self.services, delivery.message))
            except Crash:
                if not crash_ok:
                    raise
                self.queue.abandon(delivery)  # the host's lock expires and the message comes back
                continue
            self.queue.complete(delivery)
        if max_messages >= 500:
            raise AssertionError("queue did not drain")
        return handled

    def drain_batches(self) -> None:
        """As the function host delivers: polls one by one, a session's ready items as one batch."""
        from sync.runtime import handle_items

        settings = self.services.settings
        while True:
            poll = self.queue.receive(settings.poll_queue)
            if poll is not None:
                handle_poll(self.services, poll.message)
                self.queue.complete(poll)
                continue
            batch = self.queue.receive_batch(settings.item_queue, 100)
            if not batch:
                return
            self.outcomes.extend(handle_items(self.services, [d.message for d in batch]))
            for delivery in batch:
                self.queue.complete(delivery)

    def sync(self, trigger: str = "manual") -> None:
        self.poll("left_to_right", trigger)
        self.poll("right_to_left", trigger)
        self.drain()

    def settle(self, seconds: float = 400, step: float = 5) -> None:
        """Let rescheduled messages come due (on the manual clock) until the queue is empty."""
        waited = 0.0
        while waited < seconds:
            self.drain()
            self.clock.advance(step)
            waited += step
        self.drain()
