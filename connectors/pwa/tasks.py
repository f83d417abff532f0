"""Task items: the hub's view of a published PWA task (standard fields, custom fields, project fields) and
the conversion of the hub's values back into DraftTask properties.

Item ids are `<project guid>:<task guid>`, so a task can be read without a lookup (tasks live under their
project in the REST API). Bare task GUIDs are accepted on input and resolved through ProjectData.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from connectors.contract import FieldSpec
from connectors.pwa.client import guid
from connectors.pwa.fields import FieldCatalog
from connectors.pwa.values import (
    Calendar,
    parse_pwa_date,
    task_hours,
    to_pwa_date,
    to_pwa_hours,
    utc_iso,
    version_of,
)

ENTITY = "task"
_EMPTY = "00000000-0000-0000-0000-000000000000"
# Task ids of creates derive from the correlation id, so a retried create finds the task it made.
_CREATE_NAMESPACE = uuid.UUID("6f1c8e43-5b8e-4a8e-9d2b-7a0c3f0e9b15")

DATE_FIELDS = ("Start", "Finish", "Deadline")
HOUR_FIELDS = ("Duration", "Work", "ActualWork", "RemainingWork")
SCHEDULE_FIELDS = ("Start", "Finish", "Duration")
ROLLUP_FIELDS = ("Start", "Finish", "Duration", "Work", "ActualWork", "RemainingWork", "PercentComplete")
ASSIGNED_TO = "AssignedTo"

STANDARD_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(name="Name", type="string", label="Task name"),
    FieldSpec(name="Start", type="datetime", label="Start (UTC)"),
    FieldSpec(name="Finish", type="datetime", label="Finish (UTC)"),
    FieldSpec(name="Deadline", type="datetime", label="Deadline (UTC)"),
    FieldSpec(name="Duration", type="double", label="Duration (working hours)"),
    FieldSpec(name="PercentComplete", type="integer", label="% Complete"),
    FieldSpec(name="PercentWorkComplete", type="integer", read_only=True, label="% Work Complete"),
    FieldSpec(name="Work", type="double", label="Work (hours)"),
    FieldSpec(name="ActualWork", type="double", label="Actual Work (hours)"),
    FieldSpec(name="RemainingWork", type="double", label="Remaining Work (hours)"),
    FieldSpec(name="Notes", type="text", label="Notes"),
    FieldSpec(name="IsManual", type="boolean", label="Manually scheduled"),
    FieldSpec(name="IsMilestone", type="boolean", label="Milestone"),
    FieldSpec(name="Priority", type="integer", label="Priority (0-1000)"),
    FieldSpec(name="IsSummary", type="boolean", read_only=True, label="Summary task"),
    FieldSpec(name="OutlineLevel", type="integer", read_only=True, label="Outline level"),
    FieldSpec(name="OutlinePosition", type="string", read_only=True, label="Outline position (WBS)"),
    FieldSpec(name=ASSIGNED_TO, type="identity", label="Assigned resource (e-mail)"),
    FieldSpec(name="Assignees", type="string", read_only=True, label="All assigned resources (e-mails)"),
    FieldSpec(name="ProjectName", type="string", read_only=True, label="Project name"),
)
WRITABLE = {f.name for f in STANDARD_FIELDS if not f.read_only}
READ_ONLY = {f.name for f in STANDARD_FIELDS if f.read_only}


@dataclass(frozen=True)
class TaskRef:
    project_id: str | None
    task_id: str

    @property
    def id(self) -> str:
        return make_id(self.project_id or "", self.task_id)

    @classmethod
    def parse(cls, value: str) -> TaskRef:
        """`<project>:<task>` or a bare task GUID; ValueError for anything else."""
        text = str(value).strip()
        if ":" in text:
            project, task = text.split(":", 1)
            return cls(guid(project), guid(task))
        return cls(None, guid(text))


def make_id(project_id: str, task_id: str) -> str:
    return f"{project_id}:{task_id}" if project_id else task_id


def task_id_for(correlation_id: str) -> str:
    return str(uuid.uuid5(_CREATE_NAMESPACE, correlation_id))


@dataclass
class ProjectInfo:
    """The parts of a published project a task item and a write cycle need."""

    id: str
    name: str
    project_type: int = 0
    summary_task_id: str | None = None
    new_tasks_manual: bool = False
    calendar: Calendar = field(default_factory=Calendar)
    custom: dict[str, Any] = field(default_factory=dict)  # raw Custom_x005f_… values

    @property
    def is_master(self) -> bool:
        return self.project_type == 6  # ProjectType.MasterProject

    @classmethod
    def parse(cls, raw: dict[str, Any], defaults: Calendar) -> ProjectInfo:
        minutes_day = raw.get("MinutesPerDay")
        minutes_week = raw.get("MinutesPerWeek")
        days_month = raw.get("DaysPerMonth")
        calendar = Calendar(
            hours_per_day=float(minutes_day) / 60 if minutes_day else defaults.hours_per_day,
            hours_per_week=float(minutes_week) / 60 if minutes_week else defaults.hours_per_week,
            days_per_month=float(days_month) if days_month else defaults.days_per_month,
        )
        summary = raw.get("SummaryTaskId")
        return cls(
            id=guid(str(raw["Id"])),
            name=str(raw.get("Name") or ""),
            project_type=int(raw.get("ProjectType") or 0),
            summary_task_id=guid(summary)
            if summary and summary != "00000000-0000-0000-0000-000000000000"
            else None,
            new_tasks_manual=bool(raw.get("NewTasksAreManual", False)),
            calendar=calendar,
            custom={k: v for k, v in raw.items() if k.startswith("Custom_")},
        )


@dataclass
class Assignment:
    id: str
    resource_id: str | None
    email: str | None
    created: str = ""
    actual_hours: float = 0.0


def primary_email(assignments: list[Assignment]) -> str | None:
    """The one resource the hub syncs (ADO has one assignee): the most recently added assignment's."""
    with_email = [a for a in assignments if a.email]
    if not with_email:
        return None
    latest = max(with_email, key=lambda a: (a.created, a.email or ""))
    return (latest.email or "").lower() or None


def parent_of(raw: dict[str, Any], project: ProjectInfo) -> str | None:
    """The summary task above this one (None at the top level: the project summary task is no parent)."""
    parent = raw.get("ParentId")
    if not parent and isinstance(raw.get("Parent"), dict):
        parent = raw["Parent"].get("Id")
    if not parent:
        return None
    parent_id = guid(str(parent))
    if parent_id in (project.summary_task_id, _EMPTY):
        return None
    return parent_id


def hub_fields(
    raw: dict[str, Any],
    project: ProjectInfo,
    catalog: FieldCatalog,
    assignments: list[Assignment],
    zone: ZoneInfo,
    project_prefix: str,
) -> dict[str, Any]:
    """Field values of one published task, named as the hub sees them."""
    calendar = project.calendar
    fields: dict[str, Any] = {
        "Name": raw.get("Name"),
        "Notes": raw.get("Notes") or None,
        "PercentComplete": _int(raw.get("PercentComplete")),
        "PercentWorkComplete": _int(raw.get("PercentWorkComplete")),
        "IsManual": bool(raw.get("IsManual", False)),
        "IsMilestone": bool(raw.get("IsMilestone", False)),
        "IsSummary": bool(raw.get("IsSummary", False)),
        "Priority": _int(raw.get("Priority")),
        "OutlineLevel": _int(raw.get("OutlineLevel")),
        "OutlinePosition": raw.get("OutlinePosition"),
        "ProjectName": project.name,
    }
    for name in DATE_FIELDS:
        fields[name] = utc_iso(parse_pwa_date(raw.get(name), zone))
    for name in HOUR_FIELDS:
        fields[name] = task_hours(raw, name, calendar)
    emails = sorted({(a.email or "").lower() for a in assignments if a.email})
    fields[ASSIGNED_TO] = primary_email(assignments)
    fields["Assignees"] = "; ".join(emails) if emails else None
    for cf in catalog.of("task"):
        fields[cf.name] = cf.to_hub(raw.get(cf.json_name), zone, calendar)
    for cf in catalog.of("project"):
        fields[project_prefix + cf.name] = cf.to_hub(project.custom.get(cf.json_name), zone, calendar)
    return fields


def draft_value(name: str, value: Any, zone: ZoneInfo) -> Any:
    """A standard field's hub value as the DraftTask property wants it; ValueError with the reason."""
    if name in DATE_FIELDS:
        return to_pwa_date(value, zone)
    if name in HOUR_FIELDS:
        return to_pwa_hours(value)
    if name == "PercentComplete":
        number = round(float(value or 0))
        if not 0 <= number <= 100:
            raise ValueError(f"PercentComplete must be 0-100, got {value!r}")
        return number
    if name == "Priority":
        number = round(float(value))
        if not 0 <= number <= 1000:
            raise ValueError(f"Priority must be 0-1000, got {value!r}")
        return number
    if name in ("IsManual", "IsMilestone"):
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)
    if name == "Name":
        text = str(value or "").strip()
        if not text:
            raise ValueError("a task name cannot be empty")
        return text[:255]
    if name == "Notes":
        return "" if value is None else str(value)
    return value


def version(raw: dict[str, Any]) -> str:
    return version_of(raw.get("Modified"))


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return round(float(value))
    except (TypeError, ValueError):
        return None
