"""The PWA data model: users, enterprise resources, custom fields, lookup tables, and projects with their
published, saved-draft and checked-out session copies of tasks, assignments and team."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulators.pwa.values import working_minutes

ZERO_GUID = "00000000-0000-0000-0000-000000000000"

FIELD_TYPES: dict[str, int] = {
    "date": 4,
    "duration": 6,
    "cost": 9,
    "number": 15,
    "flag": 17,
    "text": 21,
    "finishdate": 27,
}
ENTITY_NAMES = ("project", "task", "resource", "assignment")


def new_guid() -> str:
    return str(uuid.uuid4())


def hex32(guid: str) -> str:
    return guid.replace("-", "").lower()


def norm_guid(value: str) -> str:
    """A GUID in its canonical lower-case dashed form (raises ValueError when it is not one)."""
    return str(uuid.UUID(str(value).strip().strip("{}")))


@dataclass
class User:
    """A SharePoint user: the service account, or a person who edits in PWA or holds a check-out."""

    id: int
    email: str
    display_name: str
    login_name: str
    account: str  # what the user types to sign in: e-mail (online) or DOMAIN\\name (server)
    password: str | None = None
    admin: bool = False
    can_write: bool = True
    can_report: bool = True


@dataclass
class LookupEntry:
    id: str
    value: str
    sort_index: float
    description: str = ""
    parent_id: str | None = None

    @property
    def internal_name(self) -> str:
        return f"Entry_{hex32(self.id)}"


@dataclass
class LookupTable:
    id: str
    name: str
    entries: list[LookupEntry] = field(default_factory=list)
    sort_order: int = 0

    def entry_by_internal_name(self, name: str) -> LookupEntry | None:
        lowered = name.strip().lower()
        return next((e for e in self.entries if e.internal_name.lower() == lowered), None)

    def entry_by_value(self, value: str) -> LookupEntry | None:
        return next((e for e in self.entries if e.value == value), None)


@dataclass
class CustomField:
    id: str
    name: str
    field_type: int
    entity: str  # project | task | resource | assignment
    lookup_table_id: str | None = None
    description: str = ""
    is_required: bool = False
    is_multiline: bool = False
    formula: str | None = None

    @property
    def internal_name(self) -> str:
        return f"Custom_{hex32(self.id)}"

    @property
    def property_name(self) -> str:
        """The JSON property name of the field's value on a task or project (underscore XML-escaped)."""
        return f"Custom_x005f_{hex32(self.id)}"


@dataclass
class Resource:
    id: str
    name: str
    email: str
    identifier: int
    created: datetime
    modified: datetime
    is_generic: bool = False
    is_active: bool = True
    resource_type: int = 2  # Work
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskData:
    id: str
    name: str
    parent_id: str | None
    start: datetime
    finish: datetime
    duration: int  # working minutes
    created: datetime
    modified: datetime
    work: int = 0
    actual_work: int = 0
    percent_complete: int = 0
    percent_physical: int = 0
    is_manual: bool = False
    is_milestone: bool = False
    is_active: bool = True
    notes: str = ""
    priority: int = 500
    constraint_type: int = 0
    constraint_date: datetime | None = None
    deadline: datetime | None = None
    task_type: int = 0
    is_summary: bool = False
    is_subproject: bool = False
    subproject_id: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)  # CustomField.id -> normalized value

    @property
    def remaining_work(self) -> int:
        return max(self.work - self.actual_work, 0)

    @property
    def percent_work_complete(self) -> int:
        return round(100 * self.actual_work / self.work) if self.work else 0


@dataclass
class AssignmentData:
    id: str
    task_id: str
    resource_id: str
    created: datetime
    modified: datetime
    notes: str = ""


@dataclass
class ProjectState:
    """One copy of a project's schedule (published, saved draft, or the check-out session)."""

    name: str
    description: str
    start: datetime
    modified: datetime
    tasks: list[TaskData] = field(default_factory=list)
    assignments: list[AssignmentData] = field(default_factory=list)
    team: list[str] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)

    def clone(self) -> ProjectState:
        return copy.deepcopy(self)

    def task(self, task_id: str) -> TaskData | None:
        lowered = task_id.lower()
        return next((t for t in self.tasks if t.id == lowered), None)

    def children(self, task_id: str | None) -> list[TaskData]:
        return [t for t in self.tasks if t.parent_id == task_id]

    def descendants(self, task_id: str) -> list[TaskData]:
        out: list[TaskData] = []
        frontier = [task_id]
        while frontier:
            current = frontier.pop()
            for child in self.children(current):
                out.append(child)
                frontier.append(child.id)
        return out

    def assignments_of(self, task_id: str) -> list[AssignmentData]:
        return [a for a in self.assignments if a.task_id == task_id]

    def insert_task(self, task: TaskData, after_id: str | None) -> None:
        """Place a task in outline order: after `after_id` (and its subtree) when given, else as the last
        child of its parent (or last in the project)."""
        if after_id:
            anchor = self.task(after_id)
            if anchor is not None:
                block = [anchor.id, *[d.id for d in self.descendants(anchor.id)]]
                index = max(i for i, t in enumerate(self.tasks) if t.id in block)
                self.tasks.insert(index + 1, task)
                return
        if task.parent_id is None:
            self.tasks.append(task)
            return
        block = [task.parent_id, *[d.id for d in self.descendants(task.parent_id)]]
        index = max(i for i, t in enumerate(self.tasks) if t.id in block)
        self.tasks.insert(index + 1, task)

    def remove_task(self, task_id: str) -> None:
        doomed = {task_id, *[d.id for d in self.descendants(task_id)]}
        self.tasks = [t for t in self.tasks if t.id not in doomed]
        self.assignments = [a for a in self.assignments if a.task_id not in doomed]

    def rollup(self) -> None:
        """Summary tasks take their values from their children, bottom-up."""
        by_parent: dict[str | None, list[TaskData]] = {}
        for task in self.tasks:
            by_parent.setdefault(task.parent_id, []).append(task)
        for task in reversed(self.tasks):  # children come after their parents in outline order
            kids = by_parent.get(task.id, [])
            task.is_summary = bool(kids)
            if not kids:
                continue
            summarize(task, kids)

    def outline(self) -> dict[str, tuple[int, str, int]]:
        """Task id → (outline level, outline position "1.2", task index from 1)."""
        result: dict[str, tuple[int, str, int]] = {}
        counters: dict[str | None, int] = {}
        for index, task in enumerate(self.tasks, start=1):
            counters[task.parent_id] = counters.get(task.parent_id, 0) + 1
            if task.parent_id is None or task.parent_id not in result:
                result[task.id] = (1, str(counters[task.parent_id]), index)
            else:
                level, position, _ = result[task.parent_id]
                result[task.id] = (level + 1, f"{position}.{counters[task.parent_id]}", index)
        return result


def summarize(target: TaskData, kids: list[TaskData]) -> None:
    target.start = min(k.start for k in kids)
    target.finish = max(k.finish for k in kids)
    target.duration = working_minutes(target.start, target.finish)
    target.work = sum(k.work for k in kids)
    target.actual_work = sum(k.actual_work for k in kids)
    total = sum(k.duration for k in kids)
    if total:
        target.percent_complete = round(sum(k.percent_complete * k.duration for k in kids) / total)
    else:
        target.percent_complete = round(sum(k.percent_complete for k in kids) / len(kids))
    target.is_manual = False


@dataclass
class Checkout:
    user: User
    id: str
    date: datetime
    description: str = ""


@dataclass
class Project:
    id: str
    name: str
    created: datetime
    summary_task_id: str
    owner: User
    published: ProjectState
    saved: ProjectState
    project_type: int = 0  # 0 project, 5 inserted project, 6 master project
    session: ProjectState | None = None
    checkout: Checkout | None = None
    last_published: datetime | None = None
    last_saved: datetime | None = None
    dirty: set[str] = field(default_factory=set)  # task ids changed in the session since the last save
    project_dirty: bool = False

    def draft(self) -> ProjectState:
        """What ``Projects('id')/Draft`` shows: the session while checked out, else the saved draft."""
        return self.session if self.session is not None else self.saved

    def summary_task(self, state: ProjectState) -> TaskData:
        top = state.children(None)
        summary = TaskData(
            id=self.summary_task_id,
            name=state.name,
            parent_id=None,
            start=state.start,
            finish=state.start,
            duration=0,
            created=self.created,
            modified=state.modified,
        )
        if top:
            summarize(summary, top)
            summary.is_summary = True
        return summary
