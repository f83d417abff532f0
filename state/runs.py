"""Run records: one per poll, manual run or hook batch, with counters the item workers add to."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from state.tables import Tables, escape_key, modify

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
SHARDS = 16  # counter rows per run; a worker thread always writes the same one


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
        """Add to a run's counters. Many workers report into one run, so each writes its own counter row
        (`{run_id}|n{shard}`, ETag-retried) and readers add the rows up: no single hot row."""
        if not run_id or not counts:
            return

        def change(entity: dict[str, Any] | None) -> dict[str, Any]:
            entity = entity or {}
            for name, n in counts.items():
                entity[f"n_{name}"] = int(entity.get(f"n_{name}", 0)) + n
            return entity

        shard = f"{run_id}|n{threading.get_ident() % SHARDS}"
        modify(self.client, escape_key(scenario), shard, change)

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
        rows = self.client.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": escape_key(scenario), "lo": run_id, "hi": run_id + "~"},
        )
        runs = self._merge(scenario, rows, limit=1)
        return runs[0] if runs else None

    def recent(self, scenario: str, limit: int = 10) -> list[Run]:
        rows = self.client.query_entities("PartitionKey eq @pk", parameters={"pk": escape_key(scenario)})
        return self._merge(scenario, rows, limit)

    def since(self, scenario: str, moment: datetime, limit: int = 5000) -> list[Run]:
        """The runs started at or after `moment` (newest first, at most `limit`), with their counters."""
        hi = f"{_MAX_TS - int(moment.timestamp() * 1000):013d}~"
        rows = self.client.query_entities(
            "PartitionKey eq @pk and RowKey le @hi", parameters={"pk": escape_key(scenario), "hi": hi}
        )
        return self._merge(scenario, rows, limit)

    def _merge(self, scenario: str, rows: Any, limit: int) -> list[Run]:
        """Runs with their counter rows added in; RowKeys sort newest first, each run's counters after it."""
        out: list[Run] = []
        for row in rows:
            key = row["RowKey"]
            if "|" not in key:
                if len(out) >= limit:
                    break
                out.append(self._run(scenario, dict(row)))
            elif out and key.split("|", 1)[0] == out[-1].run_id:
                for name, value in row.items():
                    if name.startswith("n_"):
                        out[-1].counts[name[2:]] = out[-1].counts.get(name[2:], 0) + int(value)
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
