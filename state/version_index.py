"""The versions a listing-only source (no change feed) held at its last poll, per scenario pair and direction.

A poll of such a source lists every item as (id, version); only items whose version differs from the one
recorded here are enqueued. The versions live in a fixed number of shard rows (ids spread by hash), each a
compressed JSON map packed across properties by `pack_json`, so 50,000 items never make one oversized
property, and reading them all is one query whatever the number of items.
"""

from __future__ import annotations

import hashlib
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

from state.tables import Tables, escape_key, pack_json, unpack_json, write

SHARDS = 64


class VersionIndexMoved(Exception):
    """Another poll of the same direction saved the index meanwhile; this poll's save is dropped."""


def shard_of(item_id: str) -> int:
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:4], "big") % SHARDS


class VersionIndex:
    """Lives in the watermarks table (row keys `{direction}|v|{shard}` beside the direction's watermark)."""

    def __init__(self, tables: Tables) -> None:
        self.client = tables.table("watermarks")

    @staticmethod
    def _prefix(direction: str) -> str:
        return escape_key(f"{direction}|v|")

    def load(self, key: str, direction: str) -> tuple[dict[int, dict[str, str]], dict[int, str]]:
        """Every shard's id -> version map and ETag (one query)."""
        prefix = self._prefix(direction)
        rows = self.client.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": escape_key(key), "lo": prefix, "hi": prefix + "~"},
        )
        shards: dict[int, dict[str, str]] = {}
        etags: dict[int, str] = {}
        for row in rows:
            shard = int(str(row["RowKey"])[len(prefix) :])
            shards[shard] = dict(unpack_json("versions", dict(row), {}))
            etags[shard] = row.metadata["etag"]
        return shards, etags

    def save(
        self,
        key: str,
        direction: str,
        shards: dict[int, dict[str, str]],
        etags: dict[int, str],
        changed: set[int],
    ) -> None:
        """Write the shards that changed, each conditional on the ETag it was read with."""
        prefix = self._prefix(direction)
        for shard in sorted(changed):
            entity: dict[str, Any] = {"PartitionKey": escape_key(key), "RowKey": f"{prefix}{shard:02d}"}
            entity.update(pack_json("versions", shards.get(shard, {})))
            try:
                etags[shard] = write(self.client, entity, etags.get(shard))
            except (ResourceExistsError, ResourceModifiedError) as exc:
                raise VersionIndexMoved(f"the version index of {key}/{direction} moved concurrently") from exc
