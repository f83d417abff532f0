"""Status of a scenario for people: last runs, link counts, open conflicts and failures with reasons."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from state.links import NOTES_KEY
from state.problems import Conflict, Failure
from state.runs import Run
from sync.deadletters import dead_letter_items
from sync.services import Services


class ScenarioStatus(BaseModel):
    scenario: str
    links: dict[str, int]
    runs: list[Run]
    conflicts: list[Conflict]
    failures: list[Failure]
    dead_letters: list[dict[str, Any]]
    # items written with a standing note (e.g. "needs secret: <name>: <where>"): one entry per item
    notes: list[dict[str, Any]] = []


def scenario_status(services: Services, name: str, runs: int = 10) -> ScenarioStatus:
    scenario = services.config().scenario(name)  # raises ConfigError for an unknown scenario
    keys = [view.key for view in scenario.views()]  # every entity pair's table key
    counts: dict[str, int] = {"total": 0}
    recent: list[Run] = []
    conflicts: list[Conflict] = []
    failures: list[Failure] = []
    notes: list[dict[str, Any]] = []
    for key in keys:
        for link in services.links.list(key):
            counts["total"] += 1
            counts[link.status] = counts.get(link.status, 0) + 1
            for warning in (link.snapshot.get(NOTES_KEY) or {}).get("warnings") or []:
                notes.append(
                    {"pair": key, "left_id": link.left_id, "right_id": link.right_id, "note": str(warning)}
                )
        recent += services.runs.recent(key, runs)
        conflicts += services.conflicts.list(key)
        failures += services.failures.list(key)
    recent.sort(key=lambda r: r.run_id)  # run ids sort newest first
    return ScenarioStatus(
        scenario=name,
        links=counts,
        runs=recent[:runs],
        conflicts=conflicts,
        failures=failures,
        notes=notes,
        dead_letters=[
            {**d.model_dump(mode="json"), "at": d.model_dump(mode="json")["dead_lettered_at"]}
            for d in dead_letter_items(services, name, limit=1000)
        ],
    )
