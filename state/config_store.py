"""The applied configuration, kept in Table Storage: one row per connection, field map and scenario."""

from __future__ import annotations

import json
from typing import Any

from state.tables import Tables, escape_key, pack_json, unpack_json

_KINDS = ("connections", "field_maps", "scenarios")


class ConfigStore:
    """Stores configuration as plain JSON documents; validation is the engine's job (`sync.config`)."""

    def __init__(self, tables: Tables) -> None:
        self.client = tables.table("config")

    def replace(self, document: dict[str, Any]) -> None:
        """Make the stored configuration exactly `document` (rows no longer present are removed)."""
        wanted: dict[tuple[str, str], Any] = {}
        for kind in ("connections", "field_maps"):
            for name, body in (document.get(kind) or {}).items():
                wanted[(kind, name)] = body
        for sc in document.get("scenarios") or []:
            wanted[("scenarios", sc["name"])] = sc
        for row in list(self.client.list_entities()):
            if (row["PartitionKey"], row.get("name")) not in wanted:
                self.client.delete_entity(row["PartitionKey"], row["RowKey"])
        for (kind, name), body in wanted.items():
            entity = {
                "PartitionKey": kind,
                "RowKey": escape_key(name),
                "name": name,
                **pack_json("body", body),
            }
            self.client.upsert_entity(entity)

    def load(self) -> dict[str, Any]:
        document: dict[str, Any] = {"connections": {}, "field_maps": {}, "scenarios": []}
        for row in self.client.list_entities():
            kind = row["PartitionKey"]
            if kind not in _KINDS:
                continue
            body = unpack_json("body", dict(row))
            if kind == "scenarios":
                document["scenarios"].append(body)
            else:
                document[kind][row["name"]] = body
        document["scenarios"].sort(key=lambda s: s["name"])
        return document

    def fingerprint(self) -> str:
        return json.dumps(self.load(), sort_keys=True, default=str)
