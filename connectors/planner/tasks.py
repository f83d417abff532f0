"""Planner task values as the hub sees them (Planner's own names), and the Graph bodies that write them.

Item fields: `title`, `bucketId`, `startDateTime`, `dueDateTime` (UTC, `…Z`), `percentComplete`, `priority`,
`appliedCategories` (sorted list of applied `categoryN`), `assignments` (sorted list of e-mails),
`details.description`, `details.checklist` (list of `{title, isChecked}`), `bucket` (the bucket's name:
written by name, resolved in the task's plan), and read-only `completedDateTime`, `createdDateTime`,
`planTitle` (the plan's title: routes creates from Planner to the project of that name).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from connectors.contract import FieldSpec

ENTITY = "task"
ASSIGNMENT_TYPE = "#microsoft.graph.plannerAssignment"
CHECKLIST_TYPE = "#microsoft.graph.plannerChecklistItem"
REFERENCE_TYPE = "#microsoft.graph.plannerExternalReference"
CATEGORIES = tuple(f"category{i}" for i in range(1, 26))
TASK_FIELDS = ("title", "bucketId", "startDateTime", "dueDateTime", "percentComplete", "priority")
DETAILS_PREFIX = "details."
DESCRIPTION = "details.description"
CHECKLIST = "details.checklist"
BUCKET = "bucket"
PLAN_TITLE = "planTitle"
READ_ONLY = ("completedDateTime", "createdDateTime", PLAN_TITLE)

STANDARD_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(name="title", label="Title"),
    FieldSpec(name="bucketId", label="Bucket id"),
    FieldSpec(name=BUCKET, label="Bucket"),
    FieldSpec(name="startDateTime", type="datetime", label="Start date"),
    FieldSpec(name="dueDateTime", type="datetime", label="Due date"),
    FieldSpec(name="percentComplete", type="integer", label="Progress"),
    FieldSpec(name="priority", type="integer", label="Priority"),
    FieldSpec(name="appliedCategories", type="string_list", label="Labels"),
    FieldSpec(name="assignments", type="identity_list", label="Assigned to"),
    FieldSpec(name=DESCRIPTION, type="string", label="Notes"),
    FieldSpec(name=CHECKLIST, type="checklist", label="Checklist"),
    FieldSpec(name="completedDateTime", type="datetime", read_only=True, label="Completed"),
    FieldSpec(name="createdDateTime", type="datetime", read_only=True, label="Created"),
    FieldSpec(name=PLAN_TITLE, read_only=True, label="Plan"),
)
KNOWN = {f.name for f in STANDARD_FIELDS}


def utc(value: Any, name: str) -> str | None:
    """A date-time for Graph: UTC with `Z`. Naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: expected a date-time, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def applied(categories: Any) -> list[str]:
    if not isinstance(categories, dict):
        return []
    return sorted((k for k, v in categories.items() if v), key=lambda c: int(c[8:]) if c[8:].isdigit() else 0)


def wanted_categories(value: Any) -> set[str]:
    """`["category4"]`, `{"category4": true}` or None (no labels)."""
    if value is None:
        return set()
    names = [k for k, v in value.items() if v] if isinstance(value, dict) else list(value)
    unknown = [n for n in names if n not in CATEGORIES]
    if unknown:
        raise ValueError(f"appliedCategories: {unknown} are not Planner labels (category1 to category25)")
    return set(names)


def categories_patch(current: Any, value: Any) -> dict[str, bool]:
    """Only the labels that change. A list is the whole set (others are removed); a dict is a patch
    (`{"category4": true, "category1": false}` leaves labels it does not name alone)."""
    have = set(applied(current))
    if isinstance(value, dict):
        wanted_categories({k: True for k in value})  # validates the names
        return {k: bool(v) for k, v in value.items() if bool(v) != (k in have)}
    want = wanted_categories(value)
    return {**{c: True for c in sorted(want - have)}, **{c: False for c in sorted(have - want)}}


def checklist_items(checklist: Any) -> list[dict[str, Any]]:
    if not isinstance(checklist, dict):
        return []
    items = sorted(checklist.values(), key=lambda i: str(i.get("orderHint") or ""))
    return [{"title": i.get("title"), "isChecked": bool(i.get("isChecked"))} for i in items]


def checklist_patch(current: Any, value: Any) -> dict[str, Any]:
    """Items matched by title: new titles added, missing ones removed (null), `isChecked` updated."""
    have = {str(i.get("title")): k for k, i in (current or {}).items()} if isinstance(current, dict) else {}
    want: dict[str, bool] = {}
    for entry in value or []:
        if isinstance(entry, str):
            want[entry] = False
        elif isinstance(entry, dict) and entry.get("title"):
            want[str(entry["title"])] = bool(entry.get("isChecked"))
        else:
            raise ValueError("details.checklist: each item is a title or {title, isChecked}")
    patch: dict[str, Any] = {}
    for title, checked in want.items():
        key = have.get(title)
        if key is None:
            patch[str(uuid.uuid4())] = {"@odata.type": CHECKLIST_TYPE, "title": title, "isChecked": checked}
        elif bool(current[key].get("isChecked")) != checked:
            patch[key] = {"@odata.type": CHECKLIST_TYPE, "isChecked": checked}
    for title, key in have.items():
        if title not in want:
            patch[key] = None
    return patch


def reference_key(url: str) -> str:
    """Planner keys references by the URL with `% . : @ #` percent-encoded."""
    return quote(url, safe="").replace(".", "%2E")


def correlation_from(references: Any, prefix: str) -> str | None:
    if not isinstance(references, dict):
        return None
    for key in references:
        url = unquote(key)
        if url.startswith(prefix):
            return url[len(prefix) :] or None
    return None


def fields_of(task: dict[str, Any], details: dict[str, Any] | None, emails: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {name: task.get(name) for name in TASK_FIELDS}
    fields["appliedCategories"] = applied(task.get("appliedCategories"))
    fields["assignments"] = sorted(emails)
    fields["completedDateTime"] = task.get("completedDateTime")
    fields["createdDateTime"] = task.get("createdDateTime")
    if details is not None:
        fields[DESCRIPTION] = details.get("description") or ""
        fields[CHECKLIST] = checklist_items(details.get("checklist"))
    return fields
