"""Run records: one per poll, manual run or hook batch, with counters the item workers add to."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from state.tables import Tables, escape_key, modify, read

RunStatus = Literal["running", "enqueued", "failed"]
COUNTERS = (
    "changes",
    "enqueued",
    "created",
    "updated",
    "unchanged",
    "conflicts",
    "failed",
    "retried",
    "skipped",
)
_MAX_TS = 9_999_999_999_999


def new_run_id(now: datetime | None = None) -> str:
    """Sortable newest-first: an inverted millisecond timestamp, then a random suffix."""
    now = now or datetime.now(UTC)
    inverted = _MAX_TS - int(now.timestamp() * 1000)
    return f"{inverted:013d}-{secrets.token_hex(3)}"


class Run(BaseModel):
    scenario: str
    run_id: str
    direction: str
    trigger: str  # timer | manual | hook | demo
    status: RunStatus = "running"
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)


class RunStore:
    def __init__(self, tables: Tables) -> None:
        self.client = tables.table("runs")

    def start(self, scenario: str, direction: str, trigger: str) -> Run:
        run = Run(
            scenario=scenario,
            run_id=new_run_id(),
            direction=direction,
            trigger=trigger,
            started_at=datetime.now(UTC),
        )
        entity: dict[str, Any] = {
            "PartitionKey": escape_key(scenario),
            "RowKey": run.run_id,
            "direction": direction,
            "trigger": trigger,
            "status": run.status,
            "started_at": run.started_at,
        }
        self.client.create_entity(entity)
        return run

    def add(self, scenario: str, run_id: str, **counts: int) -> None:
        """Add to a run's counters (ETag-retried; many workers report into one run)."""
        if not run_id:
            return

        def change(entity: dict[str, Any] | None) -> dict[str, Any] | None:
            if entity is None:
                return None
            for name, n in counts.items():
                entity[f"n_{name}"] = int(entity.get(f"n_{name}", 0)) + n
            return entity

        modify(self.client, escape_key(scenario), run_id, change)

    def finish(self, scenario: str, run_id: str, status: RunStatus, error: str | None = None) -> None:
        def change(entity: dict[str, Any] | None) -> dict[str, Any] | None:
            if entity is None:
                return None
            entity["status"] = status
            entity["finished_at"] = datetime.now(UTC)
            if error:
                entity["error"] = error[:2000]
            return entity

        modify(self.client, escape_key(scenario), run_id, change)

    def get(self, scenario: str, run_id: str) -> Run | None:
        found = read(self.client, escape_key(scenario), run_id)
        return self._run(scenario, found[0]) if found else None

    def recent(self, scenario: str, limit: int = 10) -> list[Run]:
        rows = self.client.query_entities("PartitionKey eq @pk", parameters={"pk": escape_key(scenario)})
        out: list[Run] = []
        for row in rows:  # RowKeys sort newest first
            out.append(self._run(scenario, dict(row)))
            if len(out) >= limit:
                break
        return out

    @staticmethod
    def _run(scenario: str, entity: dict[str, Any]) -> Run:
        return Run(
            scenario=scenario,
            run_id=entity["RowKey"],
            direction=entity.get("direction", ""),
            trigger=entity.get("trigger", ""),
            status=entity.get("status", "running"),
            started_at=entity["started_at"],
            finished_at=entity.get("finished_at"),
            error=entity.get("error"),
            counts={k[2:]: int(v) for k, v in entity.items() if k.startswith("n_")},
        )
