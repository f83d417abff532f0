"""Links between a left and a right item, with the snapshot of mapped values written at the last sync.

One partition per scenario. A link row is keyed by its origin (`link|{origin}|{id}`); index rows
(`idx|{side}|{id}`) find it from either side. Every change is an ETag-conditional write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode
from pydantic import BaseModel, Field

from state.item_journal import ItemEvent, appended
from state.tables import Tables, clear_json, escape_key, pack_json, read, submit, unpack_json

Side = Literal["left", "right"]
_OPS_PER_TRANSACTION = 100  # an entity group transaction holds at most 100 operations
LinkStatus = Literal["pending", "linked", "failed"]


def other(side: Side) -> Side:
    return "right" if side == "left" else "left"


class LinkConflict(Exception):
    """Another worker changed or created the link first; re-read and decide again."""


# Snapshot key of an item's standing notes (write warnings such as "needs secret"), shown by `tandem status`.
NOTES_KEY = "__notes__"


class Link(BaseModel):
    scenario: str
    origin: Side
    origin_id: str
    left_id: str | None = None
    right_id: str | None = None
    left_version: str | None = None
    right_version: str | None = None
    left_container: str | None = None
    right_container: str | None = None
    status: LinkStatus = "pending"
    correlation_id: str = ""
    # rule key -> {"left": value, "right": value}: what both sides held right after the last sync
    snapshot: dict[str, dict[str, Any]] = Field(default_factory=dict)
    last_error: str | None = None
    last_error_at: datetime | None = None
    synced_at: datetime | None = None
    # the item's journal (state.item_journal): the last runs that touched it, field names only
    events: list[dict[str, Any]] = Field(default_factory=list)
    etag: str | None = Field(default=None, exclude=True)

    def record(self, event: ItemEvent) -> None:
        self.events = appended(self.events, event)

    @property
    def link_id(self) -> str:
        return f"{self.origin}|{self.origin_id}"

    def id_of(self, side: Side) -> str | None:
        return self.left_id if side == "left" else self.right_id

    def version_of(self, side: Side) -> str | None:
        return self.left_version if side == "left" else self.right_version

    def set_side(self, side: Side, item_id: str, version: str | None, container: str | None) -> None:
        if side == "left":
            self.left_id, self.left_version, self.left_container = item_id, version, container
        else:
            self.right_id, self.right_version, self.right_container = item_id, version, container


def _link_rk(link_id: str) -> str:
    return escape_key(f"link|{link_id}")


def _idx_rk(side: Side | Literal["corr"], item_id: str) -> str:
    return escape_key(f"idx|{side}|{item_id}")


class LinkStore:
    def __init__(self, tables: Tables) -> None:
        self.client: TableClient = tables.table("links")

    def _to_entity(self, link: Link) -> dict[str, Any]:
        data = link.model_dump(mode="json", exclude={"snapshot", "events"})
        entity: dict[str, Any] = {
            "PartitionKey": escape_key(link.scenario),
            "RowKey": _link_rk(link.link_id),
            "kind": "link",
        }
        entity.update({k: v for k, v in data.items() if v is not None})
        clear_json("snapshot", entity)
        entity.update(pack_json("snapshot", link.snapshot))
        clear_json("journal", entity)
        if link.events:
            entity.update(pack_json("journal", link.events))
        return entity

    @staticmethod
    def _from_entity(entity: dict[str, Any], etag: str) -> Link:
        fields = {
            k: v for k, v in entity.items() if k in Link.model_fields and k not in ("snapshot", "events")
        }
        return Link(
            **fields,
            snapshot=unpack_json("snapshot", entity, {}),
            events=unpack_json("journal", entity, []),
            etag=etag,
        )

    def get(self, scenario: str, link_id: str) -> Link | None:
        found = read(self.client, escape_key(scenario), _link_rk(link_id))
        return self._from_entity(*found) if found else None

    def find(self, scenario: str, side: Side, item_id: str) -> Link | None:
        link = self.get(scenario, f"{side}|{item_id}")
        if link is not None:
            return link
        idx = read(self.client, escape_key(scenario), _idx_rk(side, item_id))
        if idx is None:
            return None
        return self.get(scenario, idx[0]["link_id"])

    def find_by_correlation(self, scenario: str, correlation_id: str) -> Link | None:
        idx = read(self.client, escape_key(scenario), _idx_rk("corr", correlation_id))  # type: ignore[arg-type]
        return self.get(scenario, idx[0]["link_id"]) if idx else None

    def _create_ops(self, link: Link) -> list[Any]:
        pk = escape_key(link.scenario)
        ops: list[Any] = [("create", self._to_entity(link))]
        for side in ("left", "right"):
            item_id = link.id_of(side)  # type: ignore[arg-type]
            if item_id and f"{side}|{item_id}" != link.link_id:
                ops.append(("upsert", self._index(pk, side, item_id, link.link_id)))  # type: ignore[arg-type]
        if link.correlation_id:
            # Lets a hook about the item being created find this link before the target id is saved.
            ops.append(("upsert", self._index(pk, "corr", link.correlation_id, link.link_id)))  # type: ignore[arg-type]
        return ops

    def create(self, link: Link) -> Link:
        """Insert a new link with its origin index; LinkConflict if it already exists."""
        try:
            results = submit(self.client, self._create_ops(link))
        except (TableTransactionError, ResourceExistsError) as exc:
            raise LinkConflict(f"link {link.link_id} already exists") from exc
        # The batch answer carries the new ETag: no need to read the link back.
        return link.model_copy(update={"etag": results[0]["etag"]}, deep=True)

    def create_many(self, links: Sequence[Link]) -> list[Link | None]:
        """`create` for many new links: one transaction per partition and up to 100 rows (a transaction
        costs about as much as 20 single-row calls to send and parse, whatever its size). A link that
        exists already makes its whole transaction fail: those links are then created one by one. Each
        result is the saved link, or None where it existed (the caller decides again, as on LinkConflict).
        """
        out: list[Link | None] = [None] * len(links)
        chunks: list[tuple[str, list[tuple[int, int]], list[Any]]] = []  # partition, (link, rows), ops
        for n, link in enumerate(links):
            ops = self._create_ops(link)
            pk = escape_key(link.scenario)
            if not chunks or chunks[-1][0] != pk or len(chunks[-1][2]) + len(ops) > _OPS_PER_TRANSACTION:
                chunks.append((pk, [], []))
            chunks[-1][1].append((n, len(ops)))
            chunks[-1][2].extend(ops)
        for _, members, ops in chunks:
            try:
                results = submit(self.client, ops)
            except (TableTransactionError, ResourceExistsError):
                for n, _ in members:  # nothing of the transaction was written: each on its own
                    try:
                        out[n] = self.create(links[n])
                    except LinkConflict:
                        out[n] = None
                continue
            at = 0
            for n, rows in members:
                out[n] = links[n].model_copy(update={"etag": results[at]["etag"]}, deep=True)
                at += rows
        return out

    def save(self, link: Link, *, new_index: tuple[Side, str] | None = None) -> Link:
        """Replace the link if its ETag still matches; optionally add an index row in the same batch."""
        if link.etag is None:
            raise ValueError("save() needs a link read from the store (with its ETag)")
        pk = escape_key(link.scenario)
        entity = self._to_entity(link)
        ops: list[Any] = [
            (
                "update",
                entity,
                {"mode": UpdateMode.REPLACE, "etag": link.etag, "match_condition": _if_not_modified()},
            )
        ]
        if new_index is not None:
            ops.append(("upsert", self._index(pk, new_index[0], new_index[1], link.link_id)))
        try:
            results = submit(self.client, ops)
        except (TableTransactionError, ResourceModifiedError, ResourceNotFoundError) as exc:
            raise LinkConflict(f"link {link.link_id} changed concurrently") from exc
        return link.model_copy(update={"etag": results[0]["etag"]}, deep=True)

    def delete(self, link: Link) -> None:
        pk = escape_key(link.scenario)
        for side in ("left", "right"):
            item_id = link.id_of(side)  # type: ignore[arg-type]
            if item_id:
                self.client.delete_entity(pk, _idx_rk(side, item_id))  # type: ignore[arg-type]
        if link.correlation_id:
            self.client.delete_entity(pk, _idx_rk("corr", link.correlation_id))  # type: ignore[arg-type]
        self.client.delete_entity(pk, _link_rk(link.link_id))

    def list(self, scenario: str) -> list[Link]:
        rows = self.client.query_entities(
            "PartitionKey eq @pk and kind eq 'link'", parameters={"pk": escape_key(scenario)}
        )
        return [self._from_entity(dict(r), r.metadata["etag"]) for r in rows]

    def count(self, scenario: str) -> int:
        """How many links the scenario (pair) has, reading only their keys."""
        rows = self.client.query_entities(
            "PartitionKey eq @pk and kind eq 'link'",
            parameters={"pk": escape_key(scenario)},
            select=["RowKey"],
        )
        return sum(1 for _ in rows)

    @staticmethod
    def _index(pk: str, side: Side, item_id: str, link_id: str) -> dict[str, Any]:
        return {"PartitionKey": pk, "RowKey": _idx_rk(side, item_id), "kind": "index", "link_id": link_id}


def _if_not_modified() -> Any:
    from azure.core import MatchConditions

    return MatchConditions.IfNotModified


def now() -> datetime:
    return datetime.now(UTC)
