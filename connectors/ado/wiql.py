"""WIQL text for change polls and correlation lookups, and date-window bisection past the 20,000-row cap."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from connectors.errors import PermanentError

TOO_MANY_RESULTS = "VS402337"  # "The number of work items returned exceeds the size limit of 20000"
# Lower bound for splitting an open-started window; nothing in ADO is older (TFS shipped in 2005).
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

T = TypeVar("T")


def literal(value: str) -> str:
    """A WIQL string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def date_literal(value: datetime) -> str:
    """UTC ISO-8601 with milliseconds and `Z`; needs `timePrecision=true` on the query string."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return literal(value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z")


@dataclass(frozen=True)
class Window:
    """ChangedDate range [start, end); None is unbounded on that side."""

    start: datetime | None = None
    end: datetime | None = None


def changes_query(
    *, window: Window, in_project: bool, types: Sequence[str] = (), extra: str | None = None
) -> str:
    """Ids of items changed in `window`, oldest change first (so a page boundary is a safe watermark)."""
    where: list[str] = []
    if in_project:
        where.append("[System.TeamProject] = @project")
    if window.start is not None:
        where.append(f"[System.ChangedDate] >= {date_literal(window.start)}")
    if window.end is not None:
        where.append(f"[System.ChangedDate] < {date_literal(window.end)}")
    if types:
        where.append(f"[System.WorkItemType] IN ({', '.join(literal(t) for t in types)})")
    if extra and extra.strip():
        where.append(f"({extra.strip()})")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    # Every value above is a quoted literal; `extra` is operator-configured WIQL, not user input.
    return f"SELECT [System.Id] FROM WorkItems{clause} ORDER BY [System.ChangedDate] ASC, [System.Id] ASC"  # noqa: S608


def correlation_query(
    *,
    tag: str | None = None,
    field: str | None = None,
    value: str = "",
    tags: Sequence[str] = (),
    values: Sequence[str] = (),
) -> str:
    """Ids of items carrying a correlation tag (any of `tags`), or a correlation field equal to `value`
    (any of `values`)."""
    tags = [tag] if tag else list(tags)
    if tags:
        condition = " OR ".join(f"[System.Tags] CONTAINS {literal(t)}" for t in tags)
    else:
        wanted = [value] if not values else list(values)
        condition = " OR ".join(f"[{field}] = {literal(v)}" for v in wanted)
    return f"SELECT [System.Id] FROM WorkItems WHERE {condition} ORDER BY [System.Id] ASC"  # noqa: S608


def field_query(field: str, values: Sequence[str], project: str | None = None) -> str:
    """Ids of items whose `field` equals any of `values` (WIQL compares strings without regard to case),
    within `project` when given."""
    if not field or any(c in field for c in "[]"):
        raise ValueError(f"'{field}' is not a field reference name")
    where = [f"[{field}] IN ({', '.join(literal(v) for v in values)})"]
    if project:
        where.insert(0, f"[System.TeamProject] = {literal(project)}")
    # Every value is a quoted literal and the field name was checked above.
    return f"SELECT [System.Id] FROM WorkItems WHERE {' AND '.join(where)} ORDER BY [System.Id] ASC"  # noqa: S608


def split(window: Window, now: datetime, min_seconds: float) -> tuple[Window, Window] | None:
    """Two halves of `window` at a millisecond boundary, or None when it is already too narrow to split."""
    start = window.start or EPOCH
    end = window.end or now
    if (end - start).total_seconds() < 2 * min_seconds:
        return None
    mid = start + (end - start) / 2
    mid = mid.replace(microsecond=mid.microsecond // 1000 * 1000)
    return Window(window.start, mid), Window(mid, window.end)


def bisect(
    run: Callable[[Window], T],
    window: Window,
    *,
    now: Callable[[], datetime],
    min_seconds: float = 1.0,
) -> Iterator[tuple[Window, T]]:
    """Run `run` on `window`; where it fails with VS402337, on each half instead, oldest half first."""
    try:
        result = run(window)
    except PermanentError as exc:
        if exc.code != TOO_MANY_RESULTS:
            raise
        halves = split(window, now(), min_seconds)
        if halves is None:
            width = timedelta(seconds=min_seconds)
            raise PermanentError(
                f"more than 20,000 work items changed within {width} of {window.start}; "
                "narrow the scope (work item types or the extra WIQL filter)",
                system=exc.system,
                status=exc.status,
                code=exc.code,
            ) from exc
        for half in halves:
            yield from bisect(run, half, now=now, min_seconds=min_seconds)
        return
    yield window, result
