"""The applied configuration, kept in Table Storage: one row per connection, field map and scenario, and
one version row per change (who, when, the diff and the whole document) in the table's `versions`
partition, so every change is listed and can be rolled back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from pydantic import BaseModel, Field

from state.config_diff import Change, diff
from state.tables import Tables, escape_key, pack_json, read, unpack_json, write

_KINDS = ("connections", "field_maps", "scenarios")
VERSIONS = "versions"
HEAD = "head"  # the row (in VERSIONS) holding the current version number; its ETag serialises writers


class VersionConflict(Exception):
    """Someone else changed the configuration since the version this edit was made from."""

    def __init__(self, expected: int | None, current: int, author: str) -> None:
        self.expected = expected
        self.current = current
        self.author = author
        super().__init__(
            f"the configuration changed while you edited it: you started from version {expected}, it is now "
            f"version {current} (by {author}). Reload it, make your change again and retry; edits are "
            "never merged silently."
        )


class Version(BaseModel):
    number: int
    author: str
    at: datetime
    note: str = ""
    changes: list[Change] = Field(default_factory=list)


def _version_key(number: int) -> str:
    return f"{number:010d}"


class ConfigStore:
    """Stores configuration as plain JSON documents; validation is the engine's job (`sync.config`)."""

    def __init__(self, tables: Tables) -> None:
        self.client = tables.table("config")

    def version(self) -> int:
        head = read(self.client, VERSIONS, HEAD)
        return int(head[0].get("number", 0)) if head else 0

    def replace(
        self, document: dict[str, Any], *, author: str = "tandem", expected: int | None = None, note: str = ""
    ) -> int:
        """Make the stored configuration exactly `document` (rows no longer present are removed) and record
        it as a new version, returned. `expected`: the version the edit was made from; another version
        there (or a concurrent writer) raises VersionConflict before anything is written."""
        head = read(self.client, VERSIONS, HEAD)
        current = int(head[0].get("number", 0)) if head else 0
        last_author = str(head[0].get("author", "")) if head else ""
        if expected is not None and expected != current:
            raise VersionConflict(expected, current, last_author)
        old = self.load()
        number = current + 1
        now = datetime.now(UTC)
        try:  # claim the version: a writer that read the same head loses here
            write(
                self.client,
                {"PartitionKey": VERSIONS, "RowKey": HEAD, "number": number, "author": author},
                head[1] if head else None,
            )
        except (ResourceExistsError, ResourceModifiedError):
            latest = read(self.client, VERSIONS, HEAD)
            raise VersionConflict(
                expected if expected is not None else current,
                int(latest[0].get("number", 0)) if latest else current,
                str(latest[0].get("author", "")) if latest else "",
            ) from None
        self.client.upsert_entity(
            {
                "PartitionKey": VERSIONS,
                "RowKey": _version_key(number),
                "number": number,
                "author": author,
                "at": now,
                "note": note,
                **pack_json("changes", [c.model_dump(mode="json") for c in diff(old, document)]),
                **pack_json("document", document),
            }
        )
        self._write_rows(document)
        return number

    def _write_rows(self, document: dict[str, Any]) -> None:
        wanted: dict[tuple[str, str], Any] = {}
        for kind in ("connections", "field_maps"):
            for name, body in (document.get(kind) or {}).items():
                wanted[(kind, name)] = body
        for sc in document.get("scenarios") or []:
            wanted[("scenarios", sc["name"])] = sc
        for kind in _KINDS:
            for row in list(self.client.query_entities(f"PartitionKey eq '{kind}'")):
                if (kind, row.get("name")) not in wanted:
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
        for kind in _KINDS:
            for row in self.client.query_entities(f"PartitionKey eq '{kind}'"):
                body = unpack_json("body", dict(row))
                if kind == "scenarios":
                    document["scenarios"].append(body)
                else:
                    document[kind][row["name"]] = body
        document["scenarios"].sort(key=lambda s: s["name"])
        return document

    def history(self, limit: int = 50) -> list[Version]:
        """The latest versions, newest first."""
        low = _version_key(max(1, self.version() - limit + 1))  # only the rows asked for are read
        query = f"PartitionKey eq '{VERSIONS}' and RowKey ge '{low}' and RowKey ne '{HEAD}'"
        rows = [r for r in self.client.query_entities(query) if r["RowKey"] != HEAD]
        rows.sort(key=lambda r: r["RowKey"], reverse=True)
        return [
            Version(
                number=int(r["number"]),
                author=str(r.get("author", "")),
                at=r["at"],
                note=str(r.get("note", "")),
                changes=[Change.model_validate(c) for c in unpack_json("changes", dict(r), [])],
            )
            for r in rows[:limit]
        ]

    def snapshot(self, number: int) -> dict[str, Any] | None:
        """The whole document as version `number` stored it, or None when there is no such version."""
        row = read(self.client, VERSIONS, _version_key(number))
        return unpack_json("document", row[0]) if row else None

    def fingerprint(self) -> str:
        return json.dumps(self.load(), sort_keys=True, default=str)
