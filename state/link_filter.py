"""Which item ids of one side of a scenario may have a link: a fixed-size bit set (a Bloom filter) per
scenario and side, so that a batch of fresh items skips the two link point reads each would otherwise cost.

The filter never says "no link" for an id that has one: every id is marked *before* the link row (or index
row) that makes it findable is written, and a stale or spurious mark only costs the reads it would have
saved. One row per scenario and side (row key `filter|{side}`) in the scenario's partition of the links
table, so deleting the links deletes the filter with them: 2**19 bits, two bits per id (false positives
about 0.04 % at 5,000 ids, 3 % at 50,000: those ids are read as before), stored zlib-compressed in binary
properties of at most 60,000 bytes. Every write is ETag-conditional and ORs the bits into the row as it is
now, so concurrent markers never lose each other's bits.

A row is `complete` once it covers every link of the scenario: links saved before the filter existed
(rows of earlier releases) are added by `LinkStore` listing the scenario's links once, the first time a
reader finds the row missing or incomplete. Until then readers do not trust it and read every link.
"""

from __future__ import annotations

import hashlib
import random
import time
import zlib
from collections.abc import Iterable
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables import TableClient

from state.tables import ConcurrencyError, escape_key, read, write

BITS = 1 << 19
_BYTES = BITS // 8
_PART = 60_000  # bytes per binary property (the service allows 64 KiB)
_ATTEMPTS = 30


def positions(item_id: str) -> tuple[int, int]:
    """The two bits that mark `item_id`."""
    digest = hashlib.blake2b(item_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest[:4], "big") % BITS, int.from_bytes(digest[4:], "big") % BITS


class Bits:
    """The bit set of one row."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | bytearray | None = None) -> None:
        self.data = bytearray(data) if data else bytearray(_BYTES)
        if len(self.data) != _BYTES:
            raise ValueError(f"a link filter holds {_BYTES} bytes, not {len(self.data)}")

    def add(self, item_id: str) -> bool:
        """Mark `item_id`; True if a bit changed."""
        changed = False
        for p in positions(item_id):
            byte, mask = p >> 3, 1 << (p & 7)
            if not self.data[byte] & mask:
                self.data[byte] |= mask
                changed = True
        return changed

    def may_hold(self, item_id: str) -> bool:
        return all(self.data[p >> 3] & (1 << (p & 7)) for p in positions(item_id))


def _rk(side: str) -> str:
    return escape_key(f"filter|{side}")


def _pack(bits: Bits) -> dict[str, Any]:
    packed = zlib.compress(bytes(bits.data), 1)
    parts = [packed[i : i + _PART] for i in range(0, len(packed), _PART)]
    props: dict[str, Any] = {"bits_n": len(parts)}
    for i, part in enumerate(parts):
        props["bits" if i == 0 else f"bits_{i}"] = part
    return props


def _unpack(entity: dict[str, Any]) -> Bits:
    n = int(entity.get("bits_n", 0))
    packed = b"".join(bytes(entity["bits" if i == 0 else f"bits_{i}"]) for i in range(n))
    return Bits(zlib.decompress(packed) if packed else None)


class LinkFilter:
    """The filter rows of the links table (read and written by `LinkStore`)."""

    def __init__(self, client: TableClient) -> None:
        self.client = client

    def load(self, pk: str, side: str) -> Bits | None:
        """The side's bits, or None when there is no complete filter to trust (one point read)."""
        found = read(self.client, pk, _rk(side))
        if found is None or not found[0].get("complete"):
            return None
        return _unpack(found[0])

    def mark(self, pk: str, side: str, item_ids: Iterable[str], *, complete: bool = False) -> Bits:
        """Add `item_ids` to the side's row (created, incomplete, if missing); with `complete`, also declare
        the row complete (the caller has added every link of the scenario). Skips the write when nothing
        would change. Returns the bits as saved."""
        ids = list(item_ids)
        for attempt in range(_ATTEMPTS):
            found = read(self.client, pk, _rk(side))
            entity, etag = found if found is not None else ({}, None)
            bits = _unpack(entity) if entity else Bits()
            changed = False
            for item_id in ids:
                changed = bits.add(item_id) or changed
            now_complete = bool(entity.get("complete")) or complete
            if etag is not None and not changed and now_complete == bool(entity.get("complete")):
                return bits
            row = {"PartitionKey": pk, "RowKey": _rk(side), "kind": "filter", "complete": now_complete}
            row.update(_pack(bits))
            try:
                write(self.client, row, etag)
                return bits
            except (ResourceExistsError, ResourceModifiedError):
                # Another marker got there first: merge into its row. Jitter breaks lockstep.
                time.sleep(random.uniform(0, 0.003 * (attempt + 1)))
        raise ConcurrencyError(f"Could not mark the link filter {pk}/{side}: too many concurrent writers.")
