"""Entity JSON as PWA writes it: verbose (``d``/``results``/``__metadata``/``__deferred``), JSON light
minimal and nometadata; ``$select``/``$expand`` shaping; and the builders that turn the model into
ProjectServer entities (projects, tasks, assignments, resources, custom fields, lookups, queue jobs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from emulators.pwa import errors
from emulators.pwa.model import (
    ZERO_GUID,
    AssignmentData,
    CustomField,
    LookupEntry,
    LookupTable,
    Project,
    ProjectState,
    Resource,
    TaskData,
    User,
)
from emulators.pwa.odata import Tree
from emulators.pwa.queue import Job
from emulators.pwa.schema import NAVIGATION, ONLINE_ONLY, PROPERTIES
from emulators.pwa.values import (
    NO_DATE_TEXT,
    decimal_text,
    format_date,
    format_days,
    format_hours,
    json_date,
    milliseconds,
    timespan,
)

Kind = Literal["verbose", "nometadata", "minimal"]


@dataclass(frozen=True)
class Fmt:
    kind: Kind
    api_root: str  # ".../sites/pwa/_api/"

    @property
    def verbose(self) -> bool:
        return self.kind == "verbose"


@dataclass
class CollectionValue:
    type_name: str
    items: list[Any]


@dataclass
class ComplexValue:
    type_name: str
    value: dict[str, Any]


Nav = Callable[[], "Entity | list[Entity] | None"]


@dataclass
class Entity:
    type_name: str
    path: str  # relative to the _api root
    props: dict[str, Any]
    navs: dict[str, Nav] = field(default_factory=dict)
    nav_names: tuple[str, ...] = ()
    open_type: bool = False


# --- shaping -----------------------------------------------------------------------------------------


def _value(value: Any, fmt: Fmt) -> Any:
    if isinstance(value, CollectionValue):
        items = [_value(v, fmt) for v in value.items]
        if fmt.verbose:
            return {"__metadata": {"type": value.type_name}, "results": items}
        return items
    if isinstance(value, ComplexValue):
        body = {k: _value(v, fmt) for k, v in value.value.items()}
        return {"__metadata": {"type": value.type_name}, **body} if fmt.verbose else body
    if isinstance(value, datetime):
        return json_date(value) if fmt.verbose else format_date(value)
    if isinstance(value, Decimal):
        return decimal_text(float(value))
    return value


def to_json(entity: Entity, fmt: Fmt, select: Tree | None, expand: Tree | None) -> dict[str, Any]:
    expand = expand or {}
    uri = f"{fmt.api_root}{entity.path}"
    out: dict[str, Any] = {}
    if fmt.verbose:
        out["__metadata"] = {"id": uri, "uri": uri, "type": entity.type_name}
    elif fmt.kind == "minimal":
        out["odata.type"] = entity.type_name
        out["odata.id"] = uri
        out["odata.editLink"] = entity.path
    nav_names = set(entity.nav_names) | set(entity.navs)
    wanted: set[str] | None = None
    if select is not None and "*" not in select:
        wanted = set(select)
        for name in wanted:
            if name in entity.props or name in nav_names or _known_property(entity.type_name, name):
                continue
            if entity.open_type and name.lower().startswith("custom_x005f_"):
                continue
            raise errors.bad_request(
                f"The property '{name}' does not exist on type '{entity.type_name}'. "
                "Make sure to only use property names that are defined by the type."
            )
    for name in expand:
        if name not in nav_names:
            raise errors.bad_request(
                f"The navigation property '{name}' does not exist on type '{entity.type_name}'."
            )
    for name, value in entity.props.items():
        if wanted is None or name in wanted:
            out[name] = _value(value, fmt)
    for name in sorted(nav_names):
        if name in expand:
            if wanted is not None and name not in wanted:
                continue
            resolver = entity.navs.get(name)
            target = resolver() if resolver is not None else None
            sub_select = select.get(name) if select is not None and select.get(name) else None
            if isinstance(target, list):
                items = [to_json(t, fmt, sub_select, expand[name]) for t in target]
                out[name] = {"results": items} if fmt.verbose else items
            elif target is None:
                out[name] = None
            else:
                out[name] = to_json(target, fmt, sub_select, expand[name])
        elif fmt.verbose and (wanted is None or name in wanted):
            out[name] = {"__deferred": {"uri": f"{uri}/{name}"}}
    return out


@cache
def _property_names(type_name: str) -> frozenset[str]:
    return frozenset(name for name, _ in PROPERTIES.get(type_name, ()))


def _known_property(type_name: str, name: str) -> bool:
    return name in _property_names(type_name)


def entity_body(
    entity: Entity, fmt: Fmt, select: Tree | None, expand: Tree | None, set_name: str
) -> dict[str, Any]:
    obj = to_json(entity, fmt, select, expand)
    if fmt.verbose:
        return {"d": obj}
    if fmt.kind == "minimal":
        return {"odata.metadata": f"{fmt.api_root}$metadata#{set_name}/@Element", **obj}
    return obj


def collection_body(
    entities: list[Entity],
    fmt: Fmt,
    select: Tree | None,
    expand: Tree | None,
    set_name: str,
    next_url: str | None = None,
) -> dict[str, Any]:
    items = [to_json(e, fmt, select, expand) for e in entities]
    if fmt.verbose:
        body: dict[str, Any] = {"results": items}
        if next_url:
            body["__next"] = next_url
        return {"d": body}
    out: dict[str, Any] = {}
    if fmt.kind == "minimal":
        out["odata.metadata"] = f"{fmt.api_root}$metadata#{set_name}"
    out["value"] = items
    if next_url:
        out["odata.nextLink"] = next_url
    return out


def row_json(row: dict[str, Any], fmt: Fmt, type_name: str, path: str, select: Tree | None) -> dict[str, Any]:
    """A ProjectData row (typed values) in the requested shape."""
    if select is not None and "*" not in select:
        for name in select:
            if name not in row:
                raise errors.bad_request(f"Could not find a property named '{name}' on type '{type_name}'.")
    out: dict[str, Any] = {}
    uri = f"{fmt.api_root}{path}"
    if fmt.verbose:
        out["__metadata"] = {"id": uri, "uri": uri, "type": type_name}
    for name, value in row.items():
        if select is None or "*" in select or name in select:
            out[name] = _value(value, fmt)
    return out


# --- defaults from the metadata ---------------------------------------------------------------------


def _default(edm: str) -> Any:
    if edm == "Boolean":
        return False
    if edm in ("Int16", "Int32", "Int64", "Byte"):
        return 0
    if edm == "Double":
        return 0.0
    if edm == "Decimal":
        return 0
    if edm == "DateTime":
        return NO_DATE_TEXT
    if edm == "Guid":
        return ZERO_GUID
    if edm == "Time":
        return "PT0S"
    if edm.startswith("Collection("):
        return CollectionValue(edm.replace("Edm.", "Edm."), [])
    return None


@cache
def _defaults(type_name: str) -> tuple[tuple[str, Any], ...]:
    return tuple((name, _default(edm)) for name, edm in PROPERTIES[type_name])


def base_props(type_name: str, flavor: str = "online") -> dict[str, Any]:
    """Every property of the type with its default; the server flavor leaves out what SP2019 lacks."""
    out: dict[str, Any] = {}
    skip = ONLINE_ONLY.get(type_name, frozenset()) if flavor == "server" else frozenset()
    for name, value in _defaults(type_name):
        if name in skip:
            continue
        out[name] = CollectionValue(value.type_name, []) if isinstance(value, CollectionValue) else value
    return out


def _span(props: dict[str, Any], name: str, minutes: int, as_days: bool = False) -> None:
    props[name] = format_days(minutes) if as_days else format_hours(minutes)
    if f"{name}Milliseconds" in props:
        props[f"{name}Milliseconds"] = milliseconds(minutes)
    if f"{name}TimeSpan" in props:
        props[f"{name}TimeSpan"] = timespan(minutes)


# --- ProjectServer entity builders ------------------------------------------------------------------


class PsBuilder:
    """Builds ProjectServer entities from the model; needs the state for custom fields and resources."""

    def __init__(self, state: Any) -> None:
        from emulators.pwa.store import PwaState

        self.state: PwaState = state

    def _base(self, type_name: str) -> dict[str, Any]:
        return base_props(type_name, self.state.config.flavor)

    # custom field values

    def cf_json(self, cf: CustomField, stored: Any) -> Any:
        if cf.lookup_table_id:
            table = self.state.lookup_tables.get(cf.lookup_table_id)
            names = [e.internal_name for e in (table.entries if table else []) if e.id in stored]
            return CollectionValue("Collection(Edm.String)", names)
        if cf.field_type == 17:
            return bool(stored)
        if cf.field_type in (9, 15):
            return float(stored)
        if cf.field_type in (4, 27):
            return format_date(stored)
        if cf.field_type == 6:
            return format_days(stored)
        return stored

    def add_custom_values(self, props: dict[str, Any], values: dict[str, Any]) -> None:
        for cf_id, stored in values.items():
            cf = self.state.custom_fields.get(cf_id)
            if cf is not None and stored is not None:
                props[cf.property_name] = self.cf_json(cf, stored)

    # users and resources

    def user(self, user: User) -> Entity:
        props = {
            "Id": user.id,
            "IsHiddenInUI": False,
            "LoginName": user.login_name,
            "Title": user.display_name,
            "PrincipalType": 1,
            "Email": user.email,
            "IsEmailAuthenticationGuestUser": False,
            "IsShareByEmailGuestUser": False,
            "IsSiteAdmin": user.admin,
            "UserPrincipalName": user.email,
        }
        return Entity("SP.User", f"Web/GetUserById({user.id})", props)

    def resource(self, resource: Resource) -> Entity:
        props = self._base("PS.EnterpriseResource")
        props.update(
            {
                "Id": resource.id,
                "Name": resource.name,
                "Email": resource.email,
                "IsActive": resource.is_active,
                "IsGeneric": resource.is_generic,
                "ResourceType": resource.resource_type,
                "ResourceIdentifier": resource.identifier,
                "Created": format_date(resource.created),
                "Modified": format_date(resource.modified),
                "CanLevel": True,
                "Initials": "".join(part[0] for part in resource.name.split() if part)[:3],
                "DefaultBookingType": 1,
                "CostAccrual": 3,
            }
        )
        self.add_custom_values(props, resource.custom)
        return Entity(
            "PS.EnterpriseResource",
            f"ProjectServer/EnterpriseResources('{resource.id}')",
            props,
            nav_names=NAVIGATION["PS.EnterpriseResource"],
            open_type=True,
        )

    def team_member(self, project: Project, resource: Resource, draft: bool) -> Entity:
        type_name = "PS.DraftProjectResource" if draft else "PS.PublishedProjectResource"
        props = self._base(type_name)
        props.update({"Id": resource.id, "Name": resource.name, "Email": resource.email})
        if "CanLevel" in props:
            props["CanLevel"] = True
        segment = "Draft/ProjectResources" if draft else "ProjectResources"
        return Entity(
            type_name,
            f"ProjectServer/Projects('{project.id}')/{segment}('{resource.id}')",
            props,
            navs={"EnterpriseResource": lambda: self.resource(resource)},
            nav_names=NAVIGATION[type_name],
            open_type=True,
        )

    # projects

    def project(self, project: Project, *, draft: bool = False, with_custom: bool = False) -> Entity:
        state = project.draft() if draft else project.published
        type_name = "PS.DraftProject" if draft else "PS.PublishedProject"
        summary = project.summary_task(state)
        props = self._base(type_name)
        checkout = project.checkout
        props.update(
            {
                "Id": project.id,
                "Name": state.name,
                "Description": state.description,
                "CreatedDate": format_date(project.created),
                "LastPublishedDate": format_date(project.last_published),
                "LastSavedDate": format_date(project.last_saved),
                "IsCheckedOut": checkout is not None,
                "CheckedOutDate": format_date(checkout.date) if checkout else NO_DATE_TEXT,
                "CheckOutDescription": checkout.description if checkout else "",
                "CheckOutId": checkout.id if checkout else ZERO_GUID,
                "StartDate": format_date(summary.start),
                "FinishDate": format_date(summary.finish),
                "PercentComplete": summary.percent_complete,
                "ProjectType": project.project_type,
                "SummaryTaskId": project.summary_task_id,
                "OwnerId": str(project.owner.id),
                "MinutesPerDay": 480,
                "MinutesPerWeek": 2400,
                "DaysPerMonth": 20,
                "CurrencyCode": "USD",
                "CurrencySymbol": "$",
                "CurrencyDigits": 2,
                "DefaultStartTime": "1984-01-01T08:00:00",
                "DefaultFinishTime": "1984-01-01T17:00:00",
                "DefaultEffortDriven": True,
                "DefaultWorkFormat": 2,
                "ScheduledFromStart": True,
                "HonorConstraints": True,
                "CalculateActualCosts": True,
                "WinprojVersion": 16,
                "ProjectSiteUrl": None,
            }
        )
        if "IsEnterpriseProject" in props:
            props["IsEnterpriseProject"] = True
        if with_custom:
            self.add_custom_values(props, state.custom)
        path = f"ProjectServer/Projects('{project.id}')" + ("/Draft" if draft else "")
        navs: dict[str, Nav] = {
            "CheckedOutBy": lambda: self.user(checkout.user) if checkout else None,
            "Owner": lambda: self.user(project.owner),
            "IncludeCustomFields": lambda: self.project(project, draft=draft, with_custom=True),
            "Tasks": lambda: self.tasks(project, state, draft=draft),
            "Assignments": lambda: self.assignments(project, state, draft=draft),
            "ProjectResources": lambda: [
                self.team_member(project, self.state.resources[r], draft)
                for r in state.team
                if r in self.state.resources
            ],
            "ProjectSummaryTask": lambda: self.summary_task(project, state),
            "QueueJobs": lambda: [
                self.queue_job(project, j) for j in self.state.queue.of_project(project.id)
            ],
        }
        if not draft:
            navs["Draft"] = lambda: self.project(project, draft=True)
        return Entity(type_name, path, props, navs, NAVIGATION[type_name], open_type=True)

    # tasks

    def tasks(self, project: Project, state: ProjectState, *, draft: bool) -> list[Entity]:
        outline = state.outline()
        return [self.task(project, state, t, outline[t.id], draft=draft) for t in state.tasks]

    def summary_task(self, project: Project, state: ProjectState) -> Entity:
        summary = project.summary_task(state)
        props = self._base("PS.ProjectSummaryTask")
        self._task_props(props, summary, (0, "0", 0))
        props["IsSummary"] = True
        return Entity(
            "PS.ProjectSummaryTask",
            f"ProjectServer/Projects('{project.id}')/ProjectSummaryTask",
            props,
            nav_names=NAVIGATION["PS.ProjectSummaryTask"],
            open_type=True,
        )

    def _task_props(self, props: dict[str, Any], task: TaskData, outline: tuple[int, str, int]) -> None:
        level, position, _ = outline
        props.update(
            {
                "Id": task.id,
                "Name": task.name,
                "Start": format_date(task.start),
                "Finish": format_date(task.finish),
                "PercentComplete": task.percent_complete,
                "Priority": task.priority,
                "Created": format_date(task.created),
                "Modified": format_date(task.modified),
                "IsSummary": task.is_summary,
                "OutlinePosition": position,
                "WorkBreakdownStructure": position,
                "Notes": task.notes,
                "PercentWorkComplete": task.percent_work_complete,
                "ScheduledStart": format_date(task.start),
                "ScheduledFinish": format_date(task.finish),
                "IsSubProject": task.is_subproject,
                "IsSubProjectReadOnly": task.is_subproject,
            }
        )
        _span(props, "Duration", task.duration, as_days=True)
        _span(props, "ScheduledDuration", task.duration, as_days=True)
        _span(props, "Work", task.work)
        _span(props, "RegularWork", task.work)
        _span(props, "RemainingWork", task.remaining_work)
        if "ActualWork" in props:
            _span(props, "ActualWork", task.actual_work)
        done = round(task.duration * task.percent_complete / 100)
        _span(props, "ActualDuration", done, as_days=True)
        if "RemainingDuration" in props:
            _span(props, "RemainingDuration", task.duration - done, as_days=True)
        if "OutlineLevel" in props:
            props["OutlineLevel"] = level
        for key, value in (
            ("IsManual", task.is_manual),
            ("IsMilestone", task.is_milestone),
            ("IsActive", task.is_active),
            ("PercentPhysicalWorkComplete", task.percent_physical),
            ("ConstraintType", task.constraint_type),
            ("ConstraintStartEnd", format_date(task.constraint_date)),
            ("Deadline", format_date(task.deadline)),
            ("TaskType", task.task_type),
            ("StartText", format_date(task.start)),
            ("FinishText", format_date(task.finish)),
            ("IsEffortDriven", False),
            ("ExternalProjectUid", task.subproject_id or ZERO_GUID),
            ("ActualStart", format_date(task.start) if task.percent_complete else NO_DATE_TEXT),
            ("ActualFinish", format_date(task.finish) if task.percent_complete == 100 else NO_DATE_TEXT),
        ):
            if key in props:
                props[key] = value

    def task(
        self,
        project: Project,
        state: ProjectState,
        task: TaskData,
        outline: tuple[int, str, int],
        *,
        draft: bool,
    ) -> Entity:
        type_name = "PS.DraftTask" if draft else "PS.PublishedTask"
        props = self._base(type_name)
        self._task_props(props, task, outline)
        if draft:
            props["ParentId"] = task.parent_id or project.summary_task_id
        self.add_custom_values(props, task.custom)
        segment = "Draft/Tasks" if draft else "Tasks"
        parent_task = state.task(task.parent_id) if task.parent_id else None

        def parent() -> Entity:
            if parent_task is None:
                return self.summary_task(project, state)
            return self.task(project, state, parent_task, state.outline()[parent_task.id], draft=draft)

        return Entity(
            type_name,
            f"ProjectServer/Projects('{project.id}')/{segment}('{task.id}')",
            props,
            navs={
                "Parent": parent,
                "Assignments": lambda: [
                    self.assignment(project, state, a, draft=draft) for a in state.assignments_of(task.id)
                ],
            },
            nav_names=NAVIGATION[type_name],
            open_type=True,
        )

    # assignments

    def assignments(self, project: Project, state: ProjectState, *, draft: bool) -> list[Entity]:
        return [self.assignment(project, state, a, draft=draft) for a in state.assignments]

    def assignment(self, project: Project, state: ProjectState, a: AssignmentData, *, draft: bool) -> Entity:
        type_name = "PS.DraftAssignment" if draft else "PS.PublishedAssignment"
        task = state.task(a.task_id)
        share = max(len(state.assignments_of(a.task_id)), 1)
        work = (task.work if task else 0) // share
        actual = (task.actual_work if task else 0) // share
        props = self._base(type_name)
        props.update(
            {
                "Id": a.id,
                "Start": format_date(task.start if task else None),
                "Finish": format_date(task.finish if task else None),
                "Notes": a.notes,
                "Created": format_date(a.created),
                "Modified": format_date(a.modified),
                "PercentWorkComplete": round(100 * actual / work) if work else 0,
                "IsPublished": not draft,
                "IsWorkResource": True,
            }
        )
        _span(props, "Work", work)
        _span(props, "RegularWork", work)
        _span(props, "ActualWork", actual)
        _span(props, "RemainingWork", max(work - actual, 0))
        if draft:
            props["ResourceId"] = a.resource_id
            props["TaskId"] = a.task_id
        resource = self.state.resources.get(a.resource_id)
        segment = "Draft/Assignments" if draft else "Assignments"
        outline = state.outline()
        return Entity(
            type_name,
            f"ProjectServer/Projects('{project.id}')/{segment}('{a.id}')",
            props,
            navs={
                "Resource": lambda: self.resource(resource) if resource else None,
                "Task": lambda: (
                    self.task(project, state, task, outline[task.id], draft=draft) if task else None
                ),
            },
            nav_names=NAVIGATION[type_name],
            open_type=True,
        )

    # definitions

    def custom_field(self, cf: CustomField) -> Entity:
        from emulators.pwa.emulator import ENTITY_TYPE_IDS

        props = self._base("PS.CustomField")
        props.update(
            {
                "Id": cf.id,
                "Name": cf.name,
                "InternalName": cf.internal_name,
                "FieldType": cf.field_type,
                "EntityTypeId": ENTITY_TYPE_IDS[cf.entity],
                "LookupTableId": cf.lookup_table_id or ZERO_GUID,
                "Description": cf.description,
                "IsRequired": cf.is_required,
                "IsMultilineText": cf.is_multiline,
                "Formula": cf.formula,
                "IsEditableInVisibility": True,
                "AppAlternateId": cf.id,
            }
        )
        table = self.state.lookup_tables.get(cf.lookup_table_id or "")
        return Entity(
            "PS.CustomField",
            f"ProjectServer/CustomFields('{cf.id}')",
            props,
            navs={
                "LookupTable": lambda: self.lookup_table(table) if table else None,
                "LookupEntries": lambda: (
                    [self.lookup_entry(table, e) for e in table.entries] if table else []
                ),
                "EntityType": lambda: self.entity_type(cf.entity),
            },
            nav_names=NAVIGATION["PS.CustomField"],
        )

    def lookup_table(self, table: LookupTable) -> Entity:
        props = self._base("PS.LookupTable")
        props.update(
            {
                "Id": table.id,
                "Name": table.name,
                "FieldType": 21,
                "SortOrder": table.sort_order,
                "AppAlternateId": table.id,
                "Masks": CollectionValue(
                    "Collection(PS.LookupMask)",
                    [ComplexValue("PS.LookupMask", {"Length": 0, "MaskType": 3, "Separator": "."})],
                ),
            }
        )
        return Entity(
            "PS.LookupTable",
            f"ProjectServer/LookupTables('{table.id}')",
            props,
            navs={"Entries": lambda: [self.lookup_entry(table, e) for e in table.entries]},
            nav_names=NAVIGATION["PS.LookupTable"],
        )

    def lookup_entry(self, table: LookupTable, entry: LookupEntry) -> Entity:
        props = self._base("PS.LookupText")
        props.update(
            {
                "Id": entry.id,
                "InternalName": entry.internal_name,
                "Value": entry.value,
                "FullValue": entry.value,
                "Description": entry.description,
                "SortIndex": entry.sort_index,
                "AppAlternateId": entry.id,
                "HasChildren": any(e.parent_id == entry.id for e in table.entries),
                "Mask": ComplexValue("PS.LookupMask", {"Length": 0, "MaskType": 3, "Separator": "."}),
            }
        )
        return Entity(
            "PS.LookupText",
            f"ProjectServer/LookupTables('{table.id}')/Entries('{entry.id}')",
            props,
            nav_names=NAVIGATION["PS.LookupText"],
        )

    def entity_type(self, entity: str) -> Entity:
        from emulators.pwa.emulator import ENTITY_TYPE_IDS

        name = f"{entity.capitalize()}Entity"
        return Entity(
            "PS.EntityType",
            f"ProjectServer/EntityTypes/{name}",
            {"Name": name, "ID": ENTITY_TYPE_IDS[entity]},
        )

    def queue_job(self, project: Project, job: Job) -> Entity:
        now = self.state.clock.timestamp()
        wait = job.wait_ms(now)
        props = {
            "Id": job.id,
            "JobState": job.state,
            "MessageType": job.message_type,
            "PercentComplete": job.percent_complete(now),
            "WaitMilliseconds": wait,
            "WaitTime": timespan(wait // 60_000) if wait >= 60_000 else f"PT{wait / 1000:g}S",
        }
        submitter = job.submitter
        return Entity(
            "PS.QueueJob",
            f"ProjectServer/Projects('{project.id}')/QueueJobs('{job.id}')",
            props,
            navs={
                "Project": lambda: self.project(project),
                "Submitter": lambda: self.user(submitter),
            },
            nav_names=NAVIGATION["PS.QueueJob"],
        )
