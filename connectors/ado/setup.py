"""ADO setup helpers for a scenario's custom work item fields ("Sync with Project Online", "Project Online
Project"): create them in the projects' inherited processes (`_apis/work/processes`, reference §5) and
verify each is on every listed work item type with its type.

Creating: the organization field (`POST _apis/wit/fields`) when missing, then per process an inherited work
item type derived from each listed system type not yet customized, then the field on that type. A project
on a system process (Agile, Scrum, CMMI, Basic) is never changed: system processes are read-only, and
moving a project to another process is the admin's decision, so it is reported with the steps. Types the
process does not have (Issue is Agile/CMMI/Basic, Test Case lives in the test types) are skipped with a note.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.contract import CheckReport, FieldsSetupReport
from connectors.errors import ConnectorError, NotFoundError

if TYPE_CHECKING:
    from connectors.ado.connector import AdoConnector

DEFAULT_TYPES = ("Bug", "Task", "Epic", "Feature", "Issue", "Test Case", "User Story")
_TYPE_NAMES = {"boolean": "Boolean", "string": "Text (single line)", "text": "Text (multiple lines)"}
# The hub's field types as ADO's WorkItemField2.type names them.
_ADO_TYPES = {
    "string": "string",
    "text": "plainText",
    "html": "html",
    "integer": "integer",
    "double": "double",
    "boolean": "boolean",
    "datetime": "dateTime",
}


class AdoFieldSpec(BaseModel):
    """One custom work item field a scenario needs on the listed work item types."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: str = "string"  # the hub's field types: string, text, html, integer, double, boolean, datetime
    reference_name: str | None = None  # default: Custom.<name without spaces>, as ADO derives it
    types: list[str] = Field(default_factory=lambda: list(DEFAULT_TYPES))
    # The projects whose processes get the field; none: every project the identity can see.
    projects: list[str] | None = None

    @property
    def ref(self) -> str:
        return self.reference_name or "Custom." + re.sub(r"[^A-Za-z0-9_]", "", self.name)

    def describe(self) -> str:
        return f"'{self.name}' ({self.ref}, {_TYPE_NAMES.get(self.type, self.type)})"


def _how_to_add(spec: AdoFieldSpec) -> str:
    return (
        f"add it to {', '.join(spec.types)} of the projects' inherited process (Organization settings → "
        f"Boards → Process → the inherited process → each type → New field: name '{spec.name}', type "
        f"{_TYPE_NAMES.get(spec.type, spec.type)}); on Azure DevOps Server with an XML process, add it with "
        "witadmin importwitd"
    )


def _check_fields(conn: AdoConnector, specs: list[AdoFieldSpec]) -> tuple[list[str], list[str], list[str]]:
    """(present, missing descriptions, problems) of `specs` against the organization's fields."""
    conn._field_specs = None  # re-read: a person may just have added them
    fields = conn.list_fields()
    by_key = {f.name.lower(): f for f in fields} | {f.label.lower(): f for f in fields if f.label}
    present: list[str] = []
    missing: list[str] = []
    problems: list[str] = []
    for spec in specs:
        found = by_key.get(spec.ref.lower()) or by_key.get(spec.name.lower())
        if found is None:
            missing.append(spec.name)
            problems.append(f"field {spec.describe()} is missing: {_how_to_add(spec)}")
        elif found.type != spec.type:
            problems.append(
                f"field '{spec.name}' ({found.name}) is of type {found.type}, the scenario needs "
                f"{spec.type}: create a field of the right type and name it in the scenario's field map"
            )
        else:
            present.append(spec.name)
    return present, missing, problems


def parse_specs(specs: Sequence[dict[str, Any]]) -> list[AdoFieldSpec]:
    return [AdoFieldSpec.model_validate(dict(s)) for s in specs]


class ProcessFieldsReport(BaseModel):
    """What `ensure_process_fields` did for one project's process."""

    project: str
    process: str | None = None
    created: list[str] = Field(default_factory=list)
    existing: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _system_process_problem(project: str, process: str, specs: Sequence[AdoFieldSpec]) -> str:
    names = ", ".join(f"'{s.name}'" for s in specs)
    return (
        f"project '{project}' uses the system process '{process}', which cannot be customized: create an "
        f"inherited process from it (Organization settings → Boards → Process → {process} → ⋯ → Create "
        f"inherited process), change the project to it (⋯ → Change team projects to use …), then run "
        f"`tandem setup fields` again to add {names}"
    )


def _process_of(
    conn: AdoConnector, project: str, processes: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """(the project's process, a problem) — from `capabilities.processTemplate.templateTypeId`."""
    try:
        body = conn.client.get_project(project, include_capabilities=True)
    except NotFoundError:
        return None, f"project '{project}' does not exist or is not visible to this identity"
    template = (body.get("capabilities") or {}).get("processTemplate") or {}
    type_id = str(template.get("templateTypeId") or "").lower()
    for process in conn.client.list_processes() if processes is None else processes:
        if str(process.get("typeId", "")).lower() == type_id:
            return process, None
    name = template.get("templateName") or type_id or "?"
    return None, f"the process '{name}' of project '{project}' is not in the organization's process list"


def _ensure_org_fields(
    conn: AdoConnector, specs: Sequence[AdoFieldSpec], report: ProcessFieldsReport
) -> list[AdoFieldSpec]:
    """Creates the missing organization fields; returns the specs whose field is usable (right type)."""
    present, missing, problems = _check_fields(conn, list(specs))
    usable = [s for s in specs if s.name in present]
    report.problems += [p for p in problems if "is missing" not in p]
    for spec in (s for s in specs if s.name in missing):
        body = {
            "name": spec.name,
            "referenceName": spec.ref,
            "type": _ADO_TYPES.get(spec.type, spec.type),
            "usage": "workItem",
            "description": "Added by Tandem for its sync scenarios.",
        }
        conn.client.create_field(body)
        report.created.append(f"field {spec.describe()}")
        usable.append(spec)
    if missing:
        conn._field_specs = None
    return usable


def ensure_process_fields(
    conn: AdoConnector, project: str, specs: Sequence[AdoFieldSpec], *, process: dict[str, Any] | None = None
) -> ProcessFieldsReport:
    """Adds each of `specs` to its types in `project`'s inherited process (see the module docstring)."""
    report = ProcessFieldsReport(project=project)
    if process is None:
        process, problem = _process_of(conn, project)
        if process is None:
            report.problems.append(problem or f"the process of project '{project}' cannot be found")
            return report
    name = str(process.get("name"))
    report.process = name
    kind = str(process.get("customizationType", "")).lower()
    if kind == "system":
        report.problems.append(_system_process_problem(project, name, specs))
        return report
    if kind != "inherited":  # "custom": a hosted-XML / on-premises XML process
        for spec in specs:
            report.problems.append(
                f"process '{name}' of project '{project}' is an XML process: {_how_to_add(spec)}"
            )
        return report
    usable = _ensure_org_fields(conn, specs, report)
    process_id = str(process["typeId"])
    wits = {str(t.get("name", "")).lower(): t for t in conn.client.list_process_work_item_types(process_id)}
    refs_on: dict[str, set[str]] = {}
    for spec in usable:
        for type_name in spec.types:
            wit = wits.get(type_name.lower())
            if wit is None:
                note = f"process '{name}' has no work item type '{type_name}'; skipped"
                if note not in report.notes:
                    report.notes.append(note)
                continue
            if str(wit.get("customization", "")).lower() == "system":
                body = {
                    "name": wit.get("name"),
                    "inheritsFrom": wit.get("referenceName"),
                    "description": wit.get("description"),
                    "color": wit.get("color"),
                    "icon": wit.get("icon"),
                    "isDisabled": False,
                }
                wit = conn.client.create_process_work_item_type(process_id, body)
                wits[type_name.lower()] = wit
                report.created.append(f"inherited type '{wit.get('name', type_name)}' in process '{name}'")
            wit_ref = str(wit["referenceName"])
            if wit_ref not in refs_on:
                fields = conn.client.list_process_type_fields(process_id, wit_ref)
                refs_on[wit_ref] = {str(f.get("referenceName", "")).lower() for f in fields}
            label = f"'{spec.name}' on {wit.get('name', type_name)}"
            if spec.ref.lower() in refs_on[wit_ref]:
                report.existing.append(label)
                continue
            conn.client.add_process_type_field(
                process_id,
                wit_ref,
                {"referenceName": spec.ref, "required": False, "readOnly": False, "allowGroups": False},
            )
            refs_on[wit_ref].add(spec.ref.lower())
            report.created.append(label)
    return report


def _projects(conn: AdoConnector, specs: Sequence[AdoFieldSpec]) -> list[str]:
    named = sorted({p for s in specs for p in (s.projects or [])})
    if named or any(s.projects is not None for s in specs):
        return named
    return sorted(str(p["name"]) for p in conn.list_projects() if p.get("name"))


def _by_process(
    conn: AdoConnector, specs: Sequence[AdoFieldSpec]
) -> tuple[list[tuple[dict[str, Any], list[str]]], list[str]]:
    """The processes of the specs' projects, each with its projects, and problems finding them."""
    groups: dict[str, tuple[dict[str, Any], list[str]]] = {}
    problems: list[str] = []
    projects = _projects(conn, specs)
    processes = conn.client.list_processes() if projects else []
    for project in projects:
        process, problem = _process_of(conn, project, processes)
        if process is None:
            problems.append(problem or f"the process of project '{project}' cannot be found")
            continue
        groups.setdefault(str(process.get("typeId")), (process, []))[1].append(project)
    return list(groups.values()), problems


def ensure_fields(conn: AdoConnector, specs: Sequence[dict[str, Any]]) -> FieldsSetupReport:
    """Creates the scenario's fields in the inherited process of each of its projects (once per process);
    projects on a system process are reported, never changed."""
    parsed = parse_specs(specs)
    if not parsed:
        return FieldsSetupReport()
    groups, problems = _by_process(conn, parsed)
    out = FieldsSetupReport(problems=problems)
    if not groups and not problems:
        out.problems.append("no projects are visible to this identity; the fields were not created")
    for process, projects in groups:
        if str(process.get("customizationType", "")).lower() == "system":
            out.problems.append(
                _system_process_problem(", ".join(projects), str(process.get("name")), parsed)
            )
            continue
        done = ensure_process_fields(conn, projects[0], parsed, process=process)
        out.created += [c for c in done.created if c not in out.created]
        out.existing += [e for e in done.existing if e not in out.existing]
        out.problems += done.problems
        out.notes += done.notes
    return out


def _verify_processes(conn: AdoConnector, specs: list[AdoFieldSpec]) -> tuple[list[str], list[str]]:
    """(problems, notes): each listed type of each project's process must carry each field."""
    groups, problems = _by_process(conn, specs)
    notes: list[str] = []
    for process, projects in groups:
        name, where = str(process.get("name")), ", ".join(projects)
        if str(process.get("customizationType", "")).lower() == "system":
            problems.append(_system_process_problem(where, name, specs))
            continue
        process_id = str(process["typeId"])
        wits = {
            str(t.get("name", "")).lower(): t for t in conn.client.list_process_work_item_types(process_id)
        }
        for type_name in sorted({t for s in specs for t in s.types}, key=str.lower):
            wit = wits.get(type_name.lower())
            if wit is None:
                notes.append(f"process '{name}' has no work item type '{type_name}'; not checked")
                continue
            refs = {
                str(f.get("referenceName", "")).lower()
                for f in conn.client.list_process_type_fields(process_id, str(wit["referenceName"]))
            }
            lacking = [s.name for s in specs if type_name in s.types and s.ref.lower() not in refs]
            if lacking:
                problems.append(
                    f"work item type '{type_name}' of process '{name}' (projects {where}) lacks "
                    f"{', '.join(repr(n) for n in lacking)}: run `tandem setup fields` to add them"
                )
    return problems, notes


def verify_fields(conn: AdoConnector, specs: Sequence[dict[str, Any]]) -> CheckReport:
    report = conn.check()
    if not report.ok:
        return report
    details = dict(report.details)
    parsed = parse_specs(specs)
    try:
        present, _, problems = _check_fields(conn, parsed)
        usable = [s for s in parsed if s.name in present]
        if usable:
            type_problems, notes = _verify_processes(conn, usable)
            problems += type_problems
            if notes:
                details["notes"] = notes
    except ConnectorError as exc:
        problem = f"the work item fields or the projects' processes cannot be read: {exc}"
        return CheckReport(ok=False, problems=[problem], details=details)
    details["fields"] = present
    return CheckReport(ok=not problems, problems=problems, details=details)
