"""The difference between two configuration documents, path by path (`scenarios.demo.field_map.2.left`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Change(BaseModel):
    path: str
    op: str  # added | removed | changed
    old: Any = None
    new: Any = None


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaves by path; scenarios are keyed by name (their order means nothing), other lists by index."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        if not value and path:
            out[path] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list):
        if path == "scenarios":
            named = {str(s.get("name")): s for s in value if isinstance(s, dict)}
            return flatten(named, path) if named else {path: []}
        if not value and path:
            out[path] = []
        for i, item in enumerate(value):
            out.update(flatten(item, f"{path}.{i}"))
    else:
        out[path] = value
    return out


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    before, after = flatten(old), flatten(new)
    changes = []
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            changes.append(Change(path=path, op="added", new=after[path]))
        elif path not in after:
            changes.append(Change(path=path, op="removed", old=before[path]))
        elif before[path] != after[path]:
            changes.append(Change(path=path, op="changed", old=before[path], new=after[path]))
    return changes
