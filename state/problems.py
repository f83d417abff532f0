"""Failures (dead-lettered items, with the reason) and flagged conflicts, listed by `tandem status`."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from pydantic import BaseModel

from state.tables import Tables, escape_key, pack_json, unpack_json


class Failure(BaseModel):
    scenario: str
    direction: str
    entity: str
    source_id: str
    kind: str  # permanent | exhausted | config | retrying (a transient error; cleared once written)
    reason: str
    message_id: str = ""
    run_id: str = ""
    attempts: int = 0
    at: datetime


class Conflict(BaseModel):
    scenario: str
    link_id: str
    rule: str  # the field rule's key, e.g. "System.Title<->System.Title"
    left_value: Any = None
    right_value: Any = None
    base_left: Any = None
    base_right: Any = None
    at: datetime


class FailureStore:
    def __init__(self, tables: Tables) -> None:
        self.client = tables.table("failures")

    @staticmethod
    def _rk(direction: str, entity: str, source_id: str) -> str:
        return escape_key(f"{direction}|{entity}|{source_id}")

    def record(self, failure: Failure) -> None:
        entity = failure.model_dump(mode="json")
        entity["at"] = failure.at
        entity["reason"] = failure.reason[:4000]
        entity["PartitionKey"] = escape_key(failure.scenario)
        entity["RowKey"] = self._rk(failure.direction, failure.entity, failure.source_id)
        self.client.upsert_entity(entity)

    def clear(self, scenario: str, direction: str, entity: str, source_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.client.delete_entity(escape_key(scenario), self._rk(direction, entity, source_id))

    def row_keys(self, scenario: str) -> set[str]:
        """The keys of the scenario's failure rows (one query), so callers clear only rows that exist."""
        rows = self.client.query_entities(
            "PartitionKey eq @pk", parameters={"pk": escape_key(scenario)}, select=["RowKey"]
        )
        return {str(r["RowKey"]) for r in rows}

    @classmethod
    def row_key(cls, direction: str, entity: str, source_id: str) -> str:
        return cls._rk(direction, entity, source_id)

    def list(self, scenario: str) -> list[Failure]:
        rows = self.client.query_entities("PartitionKey eq @pk", parameters={"pk": escape_key(scenario)})
        return [
            Failure.model_validate({k: v for k, v in dict(r).items() if k in Failure.model_fields})
            for r in rows
        ]


class ConflictStore:
    def __init__(self, tables: Tables) -> None:
        self.client = tables.table("conflicts")

    def record(self, conflict: Conflict) -> None:
        values = {
            "left": conflict.left_value,
            "right": conflict.right_value,
            "base_left": conflict.base_left,
            "base_right": conflict.base_right,
        }
        entity: dict[str, Any] = {
            "PartitionKey": escape_key(conflict.scenario),
            "RowKey": escape_key(f"{conflict.link_id}|{conflict.rule}"),
            "link_id": conflict.link_id,
            "rule": conflict.rule,
            "at": conflict.at,
            **pack_json("values", values),
        }
        self.client.upsert_entity(entity)

    def clear(self, scenario: str, link_id: str, rule: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.client.delete_entity(escape_key(scenario), escape_key(f"{link_id}|{rule}"))

    def list(self, scenario: str) -> list[Conflict]:
        rows = self.client.query_entities("PartitionKey eq @pk", parameters={"pk": escape_key(scenario)})
        out = []
        for row in rows:
            values = unpack_json("values", dict(row), {})
            out.append(
                Conflict(
                    scenario=scenario,
                    link_id=row["link_id"],
                    rule=row["rule"],
                    left_value=values.get("left"),
                    right_value=values.get("right"),
                    base_left=values.get("base_left"),
                    base_right=values.get("base_right"),
                    at=row.get("at") or datetime.now(UTC),
                )
            )
        return out
