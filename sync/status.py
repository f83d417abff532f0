"""Status of a scenario for people: last runs, link counts, open conflicts and failures with reasons."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from state.problems import Conflict, Failure
from state.queue import DeadLetteredMessage
from state.runs import Run
from sync.services import Services


class ScenarioStatus(BaseModel):
    scenario: str
    links: dict[str, int]
    runs: list[Run]
    conflicts: list[Conflict]
    failures: list[Failure]
    dead_letters: list[dict[str, Any]]


def scenario_status(services: Services, name: str, runs: int = 10) -> ScenarioStatus:
    services.config().scenario(name)  # raises ConfigError for an unknown scenario
    counts: dict[str, int] = {"total": 0}
    for link in services.links.list(name):
        counts["total"] += 1
        counts[link.status] = counts.get(link.status, 0) + 1
    dead: list[DeadLetteredMessage] = []
    for queue in (services.settings.item_queue, services.settings.poll_queue):
        dead.extend(d for d in services.queue.dead_letters(queue) if d.message.body.get("scenario") == name)
    return ScenarioStatus(
        scenario=name,
        links=counts,
        runs=services.runs.recent(name, runs),
        conflicts=services.conflicts.list(name),
        failures=services.failures.list(name),
        dead_letters=[
            {
                "source_id": d.message.body.get("source_id"),
                "direction": d.message.body.get("direction"),
                "reason": d.reason,
                "description": d.description,
                "at": d.dead_lettered_at.isoformat() if d.dead_lettered_at else None,
            }
            for d in dead
        ],
    )
