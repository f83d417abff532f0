"""Hook deliveries already taken: a replayed delivery (ADO retries, a person re-sending) is recognised by
the ids of the item messages it would enqueue, so it writes no run record and enqueues nothing again.

One row per item message id, written with an insert that fails when the row exists: of two deliveries
racing, exactly one takes each message. Rows older than the window count as unseen again, as Service
Bus duplicate detection forgets ids after its window.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

from state.tables import Tables, escape_key

WINDOW = timedelta(minutes=10)  # Service Bus's default duplicate detection window
PURGE_EVERY = 100  # deliveries per scenario and process between two purges of stale rows
PURGE_BATCH = 500


class HookDeliveryStore:
    _taken = 0  # deliveries taken in this process, to purge now and then

    def __init__(self, tables: Tables, window: timedelta = WINDOW) -> None:
        self.client = tables.table("hooks")
        self.window = window

    def take(self, scenario: str, message_ids: Sequence[str], now: datetime) -> set[str]:
        """The ids not taken by an earlier delivery within the window; they are taken now."""
        HookDeliveryStore._taken += 1
        if HookDeliveryStore._taken % PURGE_EVERY == 0:
            self.purge(scenario, now)
        pk = escape_key(scenario)
        fresh: set[str] = set()
        for message_id in dict.fromkeys(message_ids):
            entity: dict[str, Any] = {"PartitionKey": pk, "RowKey": message_id, "seen_at": now}
            try:
                self.client.create_entity(entity)
                fresh.add(message_id)
                continue
            except ResourceExistsError:
                pass
            try:
                row = self.client.get_entity(pk, message_id)
            except ResourceNotFoundError:
                continue  # removed meanwhile: another delivery is handling it
            seen = row.get("seen_at")
            if isinstance(seen, datetime) and now - seen < self.window:
                continue
            try:  # stale: take it over, unless another delivery just did
                self.client.update_entity(
                    entity, etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified
                )
                fresh.add(message_id)
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
        return fresh

    def release(self, scenario: str, message_ids: Sequence[str]) -> None:
        """Forget ids taken by a delivery that then failed to enqueue them, so its retry takes them."""
        pk = escape_key(scenario)
        for message_id in message_ids:
            with contextlib.suppress(ResourceNotFoundError):
                self.client.delete_entity(pk, message_id)

    def purge(self, scenario: str, now: datetime, limit: int = PURGE_BATCH) -> int:
        """Delete up to `limit` rows older than the window (they decide nothing now); returns how many."""
        stale = self.client.query_entities(
            "PartitionKey eq @pk and seen_at lt @cutoff",
            parameters={"pk": escape_key(scenario), "cutoff": now - self.window},
            select=["PartitionKey", "RowKey"],
        )
        removed = 0
        for row in stale:
            if removed >= limit:
                break
            with contextlib.suppress(ResourceNotFoundError):
                self.client.delete_entity(row["PartitionKey"], row["RowKey"])
            removed += 1
        return removed
