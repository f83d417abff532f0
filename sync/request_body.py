"""Request bodies from outside: size-capped and depth-capped JSON, with answers a caller can act on.

Every HTTP handler that parses JSON goes through `parse_json`: a body over the app's limit is a 413 and
JSON nested deeper than `MAX_DEPTH` (or too deep for the parser) a 400, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # an ADO hook payload nests about 6 levels; a configuration document about 8


class BadBody(ValueError):
    """The body cannot be taken: `status` (400 or 413) and a reason naming the limit."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_size(body: bytes, limit: int) -> None:
    if len(body) > limit:
        raise BadBody(413, f"the body is larger than {limit} bytes")


def depth(value: Any) -> int:
    """How deep containers nest in a parsed JSON value (iterative: no recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_json(body: bytes | str, *, limit: int | None = None) -> Any:
    """The parsed body; BadBody(413) over `limit` bytes, BadBody(400) when not JSON or nested too deeply."""
    if limit is not None:
        check_size(body.encode() if isinstance(body, str) else body, limit)
    try:
        data = json.loads(body)
    except RecursionError:
        raise BadBody(400, f"the JSON nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise BadBody(400, "the body is not valid JSON") from None
    if depth(data) > MAX_DEPTH:
        raise BadBody(400, f"the JSON nests deeper than {MAX_DEPTH} levels")
    return data
