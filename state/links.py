"""Links between a left and a right item, with the snapshot of mapped values written at the last sync.

One partition per scenario. A link row is keyed by its origin (`link|{origin}|{id}`); index rows
(`idx|{side}|{id}`) find it from either side. Every change is an ETag-conditional write. A link filter per
side (`state.link_filter`) tells a batch which of its ids have no link at all, so that they cost no reads;
every id is marked there before a row that finds it is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode
from pydantic import BaseModel, Field

from state.item_journal import ItemEvent, appended
from state.link_filter import Bits, LinkFilter
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


def _indexes_correlation(link: Link) -> bool:
    """Whether the link's stamp needs a correlation index row. The engine's stamps name the link's origin
    (`{scenario hash}.{l|r}.{origin id}`), so an item carrying one finds its link through the origin's link
    row; only the stamps of earlier releases (hashes) are found through `idx|corr|{stamp}` rows."""
    stamp = link.correlation_id
    return bool(stamp) and not stamp.endswith(f".{link.origin[0]}.{link.origin_id}")


class LinkStore:
    def __init__(self, tables: Tables) -> None:
        self.client: TableClient = tables.table("links")
        self.filter = LinkFilter(self.client)

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

    def find_many(self, scenario: str, side: Side, item_ids: Sequence[str]) -> dict[str, Link | None]:
        """`find` for a batch of ids: one read of the side's link filter, then point reads only for the ids
        it may hold (an id never linked costs nothing more)."""
        bits = self._filter_bits(scenario, side)
        out: dict[str, Link | None] = {}
        for item_id in item_ids:
            if item_id not in out:
                maybe = bits is None or bits.may_hold(item_id)
                out[item_id] = self.find(scenario, side, item_id) if maybe else None
        return out

    def _filter_bits(self, scenario: str, side: Side) -> Bits | None:
        """The side's complete filter; built once from the scenario's link rows where it is missing or
        incomplete (links saved by earlier releases, or a filter lost with its table)."""
        pk = escape_key(scenario)
        bits = self.filter.load(pk, side)
        if bits is not None:
            return bits
        # Every id `find` could answer for: the side's ids of the link rows and of the index rows.
        rows = self.client.query_entities(
            "PartitionKey eq @pk", parameters={"pk": pk}, select=["RowKey", "kind", f"{side}_id"]
        )
        index_prefix = f"idx|{side}|"
        ids = []
        for row in rows:
            if row.get("kind") == "link" and row.get(f"{side}_id"):
                ids.append(row[f"{side}_id"])
            elif row.get("kind") == "index" and unquote(row["RowKey"]).startswith(index_prefix):
                ids.append(unquote(row["RowKey"])[len(index_prefix) :])
        return self.filter.mark(pk, side, ids, complete=True)

    def _mark(self, links: Sequence[Link], *, only: tuple[Side, str] | None = None) -> None:
        """Mark the ids that will find these links in the filters, before any row that finds them exists."""
        by_side: dict[tuple[str, Side], list[str]] = {}
        for link in links:
            pairs = [only] if only is not None else [(s, link.id_of(s)) for s in ("left", "right")]
            for side, item_id in pairs:  # type: ignore[assignment]
                if item_id:
                    by_side.setdefault((escape_key(link.scenario), side), []).append(item_id)  # type: ignore[arg-type]
        for (pk, side), ids in by_side.items():
            self.filter.mark(pk, side, ids)

    def find_by_correlation(self, scenario: str, correlation_id: str) -> Link | None:
        idx = read(self.client, escape_key(scenario), _idx_rk("corr", correlation_id))  # type: ignore[arg-type]
        return self.get(scenario, idx[0]["link_id"]) if idx else None

    def _create_ops(self, link: Link, index_op: str = "upsert") -> list[Any]:
        pk = escape_key(link.scenario)
        ops: list[Any] = [("create", self._to_entity(link))]
        for side in ("left", "right"):
            item_id = link.id_of(side)  # type: ignore[arg-type]
            if item_id and f"{side}|{item_id}" != link.link_id:
                ops.append((index_op, self._index(pk, side, item_id, link.link_id)))  # type: ignore[arg-type]
        if _indexes_correlation(link):
            # Lets a hook about the item being created find this link before the target id is saved.
            ops.append(("upsert", self._index(pk, "corr", link.correlation_id, link.link_id)))  # type: ignore[arg-type]
        return ops

    def create(self, link: Link) -> Link:
        """Insert a new link with its origin index; LinkConflict if it already exists."""
        self._mark([link])
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
        self._mark(links)
        chunks: list[tuple[str, list[tuple[int, int]], list[Any]]] = []  # partition, (link, rows), ops
        for n, link in enumerate(links):
            # The new target's index row as an insert (an upsert costs Azurite a second lookup): one that
            # exists already fails the transaction, and `create` then upserts it, link by link.
            ops = self._create_ops(link, index_op="create")
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
            self._mark([link], only=new_index)
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
