"""Per scenario-direction watermarks: where the last poll got to. Advanced only with a matching ETag."""

from __future__ import annotations

from datetime import datetime

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

from connectors.contract import Watermark
from state.tables import Tables, escape_key, read, write


class WatermarkMoved(Exception):
    """Another poll advanced the watermark meanwhile; this poll's result is discarded."""


class WatermarkStore:
    def __init__(self, tables: Tables) -> None:
        self.client = tables.table("watermarks")

    def get(self, scenario: str, direction: str) -> tuple[Watermark, str | None]:
        found = read(self.client, escape_key(scenario), escape_key(direction))
        if not found:
            return Watermark(), None
        entity, etag = found
        at = entity.get("at")
        return Watermark(at=at if isinstance(at, datetime) else None, cursor=entity.get("cursor")), etag

    def advance(self, scenario: str, direction: str, mark: Watermark, etag: str | None) -> str:
        entity = {"PartitionKey": escape_key(scenario), "RowKey": escape_key(direction)}
        if mark.at is not None:
            entity["at"] = mark.at
        if mark.cursor is not None:
            entity["cursor"] = mark.cursor
        try:
            return write(self.client, entity, etag)
        except (ResourceExistsError, ResourceModifiedError) as exc:
            raise WatermarkMoved(f"watermark of {scenario}/{direction} moved concurrently") from exc

    def reset(self, scenario: str, direction: str) -> None:
        self.client.delete_entity(escape_key(scenario), escape_key(direction))
