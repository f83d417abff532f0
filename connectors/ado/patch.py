"""JSON Patch documents for work item create/update (`application/json-patch+json`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CONTENT_TYPE = "application/json-patch+json"
PARENT = "System.LinkTypes.Hierarchy-Reverse"
TAGS = "System.Tags"

PatchOp = dict[str, Any]


def _pointer(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def field_path(name: str) -> str:
    return f"/fields/{_pointer(name)}"


def test_rev(rev: int) -> PatchOp:
    """First op of a conditional update: ADO rejects the whole patch (412) if the item moved on."""
    return {"op": "test", "path": "/rev", "value": rev}


def set_field(name: str, value: Any) -> PatchOp:
    # `add` on a field sets it whether or not it has a value yet (`replace` needs an existing value).
    return {"op": "add", "path": field_path(name), "value": value}


def remove_field(name: str) -> PatchOp:
    return {"op": "remove", "path": field_path(name)}


def add_parent(parent_url: str) -> PatchOp:
    return {"op": "add", "path": "/relations/-", "value": {"rel": PARENT, "url": parent_url}}


def remove_relation(index: int) -> PatchOp:
    """Relations are removed by their position in a fresh `$expand=relations` read."""
    return {"op": "remove", "path": f"/relations/{index}"}


def split_tags(value: Any) -> list[str]:
    """`System.Tags` is one `; `-separated string."""
    if not value:
        return []
    if isinstance(value, list | tuple):
        return [str(t).strip() for t in value if str(t).strip()]
    return [t.strip() for t in str(value).split(";") if t.strip()]


def join_tags(tags: Iterable[str]) -> str:
    seen: dict[str, None] = {}
    for tag in tags:
        # ADO tags are case-insensitive; keep the first spelling.
        if tag.lower() not in {t.lower() for t in seen}:
            seen[tag] = None
    return "; ".join(seen)
