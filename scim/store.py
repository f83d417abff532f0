"""What a SCIM client sets that Azure DevOps has no place for, kept in the `scim` table per resource:
`externalId` (stored as sent, filterable), whether the client set `active`, and the access level a user
had before `active: false` took the licence away (restored by `active: true`)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from state.tables import Tables, escape_key


@dataclass
class ScimRecord:
    external_id: str | None = None
    active: bool | None = None  # None: the client never set it (or removed it)
    suspended_access: dict[str, Any] | None = None  # the access level `active: false` replaced

    @property
    def empty(self) -> bool:
        return self.external_id is None and self.active is None and self.suspended_access is None


class ScimStore:
    def __init__(self, tables: Tables) -> None:
        self.client = tables.table("scim")

    def get(self, kind: str, resource_id: str) -> ScimRecord:
        try:
            entity = self.client.get_entity(escape_key(kind), escape_key(resource_id.lower()))
        except ResourceNotFoundError:
            return ScimRecord()
        suspended = entity.get("suspendedAccess")
        active = entity.get("active")
        return ScimRecord(
            external_id=entity.get("externalId"),
            active=None if active in (None, "") else active == "true",
            suspended_access=json.loads(suspended) if suspended else None,
        )

    def put(self, kind: str, resource_id: str, record: ScimRecord) -> None:
        pk, rk = escape_key(kind), escape_key(resource_id.lower())
        if record.empty:
            self.delete(kind, resource_id)
            return
        entity: dict[str, Any] = {"PartitionKey": pk, "RowKey": rk}
        if record.external_id is not None:
            entity["externalId"] = record.external_id
        if record.active is not None:
            entity["active"] = "true" if record.active else "false"
        if record.suspended_access is not None:
            entity["suspendedAccess"] = json.dumps(record.suspended_access)
        self.client.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def delete(self, kind: str, resource_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.client.delete_entity(escape_key(kind), escape_key(resource_id.lower()))

    def ids_with_external_id(self, kind: str, external_id: str) -> list[str]:
        query = "PartitionKey eq @pk and externalId eq @ext"
        rows = self.client.query_entities(query, parameters={"pk": escape_key(kind), "ext": external_id})
        return [str(row["RowKey"]) for row in rows]
