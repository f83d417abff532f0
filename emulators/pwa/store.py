"""The PWA site's state and every change to it: check-out ownership, draft task and assignment edits,
custom field values, queued saves/publishes/check-ins, person edits, and the reporting (ProjectData)
snapshots that follow each publish after a lag. All public methods expect ``state.lock`` to be held."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from emulators.common import Clock, Counters
from emulators.pwa import errors
from emulators.pwa.model import (
    ENTITY_NAMES,
    FIELD_TYPES,
    ZERO_GUID,
    AssignmentData,
    Checkout,
    CustomField,
    LookupEntry,
    LookupTable,
    Project,
    ProjectState,
    Resource,
    TaskData,
    User,
    new_guid,
    norm_guid,
)
from emulators.pwa.queue import MSG_CHECKIN, MSG_PUBLISH, MSG_UPDATE, MSG_UPDATE_TEAM, Job, QueueSystem
from emulators.pwa.schema import PROPERTIES
from emulators.pwa.values import (
    MINUTES_PER_DAY,
    ValueFormatError,
    add_working_minutes,
    day_start,
    format_date,
    format_days,
    local_now,
    next_working_time,
    parse_date,
    parse_span,
    strip_name,
    working_minutes,
)

# DraftTask properties a client may write (REST), beyond custom field values.
TASK_WRITABLE = {
    "Name",
    "Start",
    "Finish",
    "Duration",
    "DurationMilliseconds",
    "Work",
    "WorkMilliseconds",
    "ActualWork",
    "ActualWorkMilliseconds",
    "RemainingWork",
    "RemainingDuration",
    "PercentComplete",
    "PercentPhysicalWorkComplete",
    "IsManual",
    "IsMilestone",
    "IsActive",
    "Notes",
    "Priority",
    "ConstraintType",
    "ConstraintStartEnd",
    "Deadline",
    "TaskType",
}
TASK_CREATE_FIELDS = {
    "Id",
    "Name",
    "Start",
    "Finish",
    "Duration",
    "IsManual",
    "Notes",
    "ParentId",
    "AddAfterId",
    "StatusManager",
}
_DRAFT_TASK_PROPS = {name for name, _ in PROPERTIES["PS.DraftTask"]}
_CF_PREFIX = "custom_x005f_"


@dataclass
class Config:
    """Behaviour switches tests may change while the emulator runs."""

    flavor: str = "online"
    time_zone: str = "UTC"
    queue_delay: float = 0.2
    reporting_delay: float = 1.0
    project_data_page_size: int = 100
    ps_page_size: int | None = None
    digest_required_with_bearer: bool = True
    digest_timeout: int = 1800
    rate_limit_per_minute: int | None = None
    max_request_bytes: int = 2 * 1024 * 1024
    token_lifetime: int = 3599

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass
class ReportSnapshot:
    project: dict[str, Any]
    tasks: list[dict[str, Any]]
    assignments: list[dict[str, Any]]


@dataclass
class Reporting:
    """What ProjectData shows: per project the last snapshot whose publish has "reached" reporting."""

    visible: dict[str, ReportSnapshot] = field(default_factory=dict)
    pending: list[tuple[float, str, ReportSnapshot | None]] = field(default_factory=list)

    def schedule(self, project_id: str, snapshot: ReportSnapshot | None, at: float) -> None:
        self.pending.append((at, project_id, snapshot))
        self.pending.sort(key=lambda item: item[0])

    def current(self, now: float) -> dict[str, ReportSnapshot]:
        while self.pending and self.pending[0][0] <= now:
            _, project_id, snapshot = self.pending.pop(0)
            if snapshot is None:
                self.visible.pop(project_id, None)
            else:
                self.visible[project_id] = snapshot
        return self.visible

    def reset(self) -> None:
        self.visible.clear()
        self.pending.clear()


class PwaState:
    """Users, resources, custom fields, lookup tables, projects, the queue and the reporting store."""

    def __init__(self, config: Config, clock: Clock, counters: Counters) -> None:
        self.config = config
        self.clock = clock
        self.counters = counters
        self.lock = threading.RLock()
        self.users: list[User] = []
        self.resources: dict[str, Resource] = {}
        self.custom_fields: dict[str, CustomField] = {}
        self.lookup_tables: dict[str, LookupTable] = {}
        self.projects: dict[str, Project] = {}
        self.queue = QueueSystem(delay=config.queue_delay, on_failure=self._job_failed)
        self.reporting = Reporting()
        self._last_stamp = datetime(1, 1, 1)
        self._resource_counter = 0

    # --- time -----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """Site-local time, strictly increasing across calls so every save has its own timestamp."""
        stamp = local_now(self.clock.now(), self.config.zone)
        if stamp <= self._last_stamp:
            stamp = self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = stamp
        return stamp

    def local_at(self, ts: float) -> datetime:
        return local_now(datetime.fromtimestamp(ts, tz=self.clock.now().tzinfo), self.config.zone)

    def tick(self) -> None:
        """Advance queue jobs to the current emulator time (called on every request)."""
        self.queue.delay = self.config.queue_delay
        self.queue.process(self.clock.timestamp())

    # --- users ----------------------------------------------------------------------------------

    def add_user(self, user: User) -> User:
        if self.user_by_name(user.email) is not None:
            raise ValueError(f"user {user.email!r} already exists")
        self.users.append(user)
        return user

    def user_by_name(self, name: str) -> User | None:
        lowered = name.strip().lower()
        for user in self.users:
            names = {user.email.lower(), user.account.lower(), user.login_name.lower()}
            if "\\" in user.account:
                names.add(user.account.split("\\", 1)[1].lower())
            if lowered in names:
                return user
        return None

    def require_user(self, name: str | User | None) -> User:
        if isinstance(name, User):
            return name
        if name is None:
            return self.users[0]
        user = self.user_by_name(name)
        if user is None:
            raise ValueError(f"unknown user {name!r}; add it with add_user first")
        return user

    # --- lookups --------------------------------------------------------------------------------

    def project(self, key: str) -> Project:
        """A project by GUID (for REST) — raises the 404 PWA gives."""
        try:
            project = self.projects.get(norm_guid(key))
        except ValueError:
            project = None
        if project is None:
            raise errors.not_found(f"Projects('{key}')")
        return project

    def find_project(self, ref: str | Project) -> Project:
        """A project by object, GUID or name (for the Python and control APIs)."""
        if isinstance(ref, Project):
            return ref
        try:
            found = self.projects.get(norm_guid(ref))
            if found is not None:
                return found
        except ValueError:
            pass
        for project in self.projects.values():
            if project.name == ref:
                return project
        raise ValueError(f"unknown project {ref!r}")

    def custom_field(self, key: str) -> CustomField:
        try:
            cf = self.custom_fields.get(norm_guid(key))
        except ValueError:
            cf = None
        if cf is None:
            raise errors.not_found(f"CustomFields('{key}')")
        return cf

    def custom_field_by_name(self, name: str, entity: str | None = None) -> CustomField:
        for cf in self.custom_fields.values():
            if cf.name == name and (entity is None or cf.entity == entity):
                return cf
        raise ValueError(f"unknown custom field {name!r}" + (f" for {entity}s" if entity else ""))

    def custom_field_by_key(self, key: str) -> CustomField | None:
        """By ``Custom_<hex>``, ``Custom_x005f_<hex>`` or GUID."""
        lowered = key.strip().lower()
        for prefix in ("custom_x005f_", "custom_"):
            if lowered.startswith(prefix):
                lowered = lowered[len(prefix) :]
                break
        for cf in self.custom_fields.values():
            if cf.id.replace("-", "") == lowered.replace("-", ""):
                return cf
        return None

    def lookup_table(self, key: str) -> LookupTable:
        try:
            table = self.lookup_tables.get(norm_guid(key))
        except ValueError:
            table = None
        if table is None:
            raise errors.not_found(f"LookupTables('{key}')")
        return table

    def resource(self, key: str) -> Resource:
        try:
            resource = self.resources.get(norm_guid(key))
        except ValueError:
            resource = None
        if resource is None:
            raise errors.not_found(f"EnterpriseResources('{key}')")
        return resource

    def resource_by_email(self, email: str) -> Resource:
        lowered = email.strip().lower()
        for resource in self.resources.values():
            if resource.email.lower() == lowered:
                return resource
        raise ValueError(f"no enterprise resource with e-mail {email!r}")

    # --- definitions ----------------------------------------------------------------------------

    def add_lookup_table(
        self,
        name: str,
        entries: list[tuple[str | None, str, str, float | None]],
        table_id: str | None = None,
        sort_order: int = 0,
    ) -> LookupTable:
        """`entries`: (id or None, text value, description, sort index or None)."""
        if any(t.name.lower() == name.lower() for t in self.lookup_tables.values()):
            raise errors.ps_error("LookupTableDuplicateName", name)
        table = LookupTable(norm_guid(table_id) if table_id else new_guid(), name, sort_order=sort_order)
        for index, (entry_id, value, description, sort_index) in enumerate(entries, start=1):
            table.entries.append(
                LookupEntry(
                    norm_guid(entry_id) if entry_id else new_guid(),
                    value,
                    float(sort_index if sort_index is not None else index),
                    description,
                )
            )
        self.lookup_tables[table.id] = table
        self.counters.record_write("lookuptable.create")
        return table

    def add_custom_field(
        self,
        name: str,
        field_type: int,
        entity: str,
        *,
        lookup_table_id: str | None = None,
        field_id: str | None = None,
        description: str = "",
        is_required: bool = False,
        is_multiline: bool = False,
        formula: str | None = None,
    ) -> CustomField:
        if entity not in ENTITY_NAMES:
            raise errors.ps_error("CustomFieldInvalidEntity", entity)
        if field_type not in FIELD_TYPES.values():
            raise errors.ps_error("CustomFieldInvalidType", str(field_type))
        if any(cf.name.lower() == name.lower() for cf in self.custom_fields.values()):
            raise errors.ps_error("CustomFieldNameAlreadyExists", name)
        lookup = None
        if lookup_table_id and norm_guid(lookup_table_id) != ZERO_GUID:
            lookup = self.lookup_tables.get(norm_guid(lookup_table_id))
            if lookup is None:
                raise errors.ps_error("CustomFieldInvalidLookupTableUID", lookup_table_id)
            if field_type != FIELD_TYPES["text"]:
                raise errors.ps_error(
                    "CustomFieldInvalidTypeColumnFilledIn", "lookup tables need text fields"
                )
        cf = CustomField(
            norm_guid(field_id) if field_id else new_guid(),
            name,
            field_type,
            entity,
            lookup.id if lookup else None,
            description,
            is_required,
            is_multiline,
            formula,
        )
        if cf.id in self.custom_fields:
            raise errors.ps_error("CustomFieldNameAlreadyExists", f"id {cf.id} is taken")
        self.custom_fields[cf.id] = cf
        self.counters.record_write("customfield.create")
        return cf

    def add_resource(
        self, name: str, email: str, *, resource_id: str | None = None, generic: bool = False
    ) -> Resource:
        if email and any(r.email.lower() == email.lower() for r in self.resources.values()):
            raise ValueError(f"a resource with e-mail {email!r} exists")
        self._resource_counter += 1
        now = self.now()
        resource = Resource(
            norm_guid(resource_id) if resource_id else new_guid(),
            name,
            email,
            self._resource_counter,
            now,
            now,
            is_generic=generic,
        )
        self.resources[resource.id] = resource
        return resource

    # --- custom field values --------------------------------------------------------------------

    def normalize_cf(self, cf: CustomField, value: Any, *, by_text: bool = False) -> Any:
        """A written value in the form the store keeps; lookup values are ``Entry_<hex>`` names (or, with
        `by_text`, entry texts) and are kept as entry ids. None clears the value."""
        if value is None:
            return None
        if isinstance(value, dict) and "results" in value:
            value = value["results"]
        if cf.lookup_table_id:
            table = self.lookup_tables[cf.lookup_table_id]
            items = value if isinstance(value, list) else [value]
            ids = []
            for item in items:
                if not isinstance(item, str):
                    raise errors.ps_error("CustomFieldCodeValueDoesNotMatchLookupTable", repr(item))
                entry = table.entry_by_value(item) if by_text else table.entry_by_internal_name(item)
                if entry is None:
                    raise errors.ps_error(
                        "CustomFieldCodeValueDoesNotMatchLookupTable", f"{item!r} is not in {table.name}"
                    )
                ids.append(entry.id)
            return ids or None
        try:
            if cf.field_type == FIELD_TYPES["flag"]:
                if isinstance(value, bool):
                    return value
                text = str(value).strip().lower()
                if text in ("true", "1", "yes"):
                    return True
                if text in ("false", "0", "no"):
                    return False
                raise ValueFormatError(f"{value!r} is not a flag value")
            if cf.field_type in (FIELD_TYPES["number"], FIELD_TYPES["cost"]):
                if isinstance(value, bool):
                    raise ValueFormatError(f"{value!r} is not a number")
                return float(value)
            if cf.field_type in (FIELD_TYPES["date"], FIELD_TYPES["finishdate"]):
                return parse_date(value, self.config.zone)
            if cf.field_type == FIELD_TYPES["duration"]:
                return parse_span(value, "d")
        except (ValueError, TypeError) as exc:
            raise errors.bad_request(f"Invalid value for custom field '{cf.name}': {exc}") from exc
        if not isinstance(value, str):
            raise errors.bad_request(f"Invalid value for custom field '{cf.name}': expected text")
        return value

    def cf_text(self, cf: CustomField, stored: Any) -> Any:
        """The value as ProjectData reports it (lookup text, typed scalars)."""
        if cf.lookup_table_id:
            table = self.lookup_tables[cf.lookup_table_id]
            texts = [e.value for e in table.entries if e.id in stored]
            return ", ".join(texts)
        if cf.field_type in (FIELD_TYPES["number"], FIELD_TYPES["cost"]):
            return Decimal(str(stored))
        if cf.field_type == FIELD_TYPES["duration"]:
            return Decimal(str(stored / MINUTES_PER_DAY))
        return stored

    def cf_from_display(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        """``{"Sync with VSTS": True, "Work Item Type": "Bug"}`` → stored values keyed by field id."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            cf = self.custom_field_by_name(name, entity)
            out[cf.id] = self.normalize_cf(cf, value, by_text=True)
        return {k: v for k, v in out.items() if v is not None}

    # --- projects -------------------------------------------------------------------------------

    def create_project(
        self,
        name: str,
        owner: User,
        *,
        project_id: str | None = None,
        description: str = "",
        start: datetime | None = None,
        project_type: int = 0,
        custom: dict[str, Any] | None = None,
    ) -> Project:
        if any(p.name.lower() == name.lower() for p in self.projects.values()):
            raise ValueError(f"a project named {name!r} exists")
        now = self.now()
        begin = next_working_time(start or day_start(now.date()))
        state = ProjectState(name, description, begin, now, custom=dict(custom or {}))
        project = Project(
            norm_guid(project_id) if project_id else new_guid(),
            name,
            now,
            new_guid(),
            owner,
            published=state,
            saved=state.clone(),
            project_type=project_type,
            last_published=now,
            last_saved=now,
        )
        if project.id in self.projects:
            raise ValueError(f"project id {project.id} is taken")
        self.projects[project.id] = project
        self.reporting.schedule(project.id, self.snapshot(project), self.clock.timestamp())
        return project

    # --- check-out ------------------------------------------------------------------------------

    def check_out(self, project: Project, user: User, description: str = "") -> Project:
        if project.checkout is not None:
            if project.checkout.user is user:
                raise errors.ps_error("CICOAlreadyCheckedOutToYou")
            raise errors.ps_error("CICOCheckedOutToOtherUser")
        project.checkout = Checkout(user, new_guid(), self.now(), description)
        project.session = project.saved.clone()
        project.dirty.clear()
        project.project_dirty = False
        self.counters.record_write("checkout")
        self.counters.record_write(f"checkout:{project.id}")
        return project

    def session_for(self, project: Project, user: User) -> ProjectState:
        """The draft a user may change: theirs only while they hold the check-out."""
        if project.checkout is None or project.session is None:
            raise errors.ps_error("CICONotCheckedOut")
        if project.checkout.user is not user:
            raise errors.ps_error("CICOCheckedOutToOtherUser")
        return project.session

    def release(self, project: Project) -> None:
        project.checkout = None
        project.session = None
        project.dirty.clear()
        project.project_dirty = False

    # --- draft tasks ----------------------------------------------------------------------------

    def add_task(self, project: Project, user: User, info: dict[str, Any]) -> TaskData:
        session = self.session_for(project, user)
        for key in info:
            if key != "__metadata" and key not in TASK_CREATE_FIELDS:
                raise errors.unknown_property(key, "PS.TaskCreationInformation")
        task = self.new_task(project, session, info)
        project.dirty.add(task.id)
        self.counters.record_write("task.create")
        self.counters.record_write(f"task.create:{project.id}")
        return task

    def new_task(self, project: Project, state: ProjectState, info: dict[str, Any]) -> TaskData:
        task_id = info.get("Id")
        try:
            task_id = norm_guid(task_id) if task_id and norm_guid(task_id) != ZERO_GUID else new_guid()
        except ValueError as exc:
            raise errors.bad_request(f"'{info.get('Id')}' is not a valid Edm.Guid value") from exc
        if state.task(task_id) is not None or task_id == project.summary_task_id:
            raise errors.bad_request(f"A task with Id '{task_id}' already exists in the project.")
        parent_id = self._parent_id(project, state, info.get("ParentId"))
        after_id = info.get("AddAfterId")
        if after_id:
            try:
                after_id = norm_guid(after_id)
            except ValueError as exc:
                raise errors.bad_request(f"'{after_id}' is not a valid Edm.Guid value") from exc
            if after_id == ZERO_GUID:
                after_id = None
            elif state.task(after_id) is None:
                raise errors.bad_request(f"AddAfterId '{after_id}' is not a task of the project.")
        name = info.get("Name")
        if not isinstance(name, str) or not name.strip():
            raise errors.bad_request("TaskCreationInformation.Name is required.")
        now = self.now()
        start = next_working_time(state.start)
        task = TaskData(
            id=task_id,
            name=name,
            parent_id=parent_id,
            start=start,
            finish=add_working_minutes(start, MINUTES_PER_DAY),
            duration=MINUTES_PER_DAY,
            created=now,
            modified=now,
            is_manual=bool(info.get("IsManual", False)),
        )
        state.insert_task(task, after_id)
        fields = {k: info[k] for k in ("Start", "Finish", "Duration", "Notes") if info.get(k) is not None}
        if fields:
            self.apply_task_fields(state, task, fields, "PS.TaskCreationInformation")
        state.rollup()
        return task

    def _parent_id(self, project: Project, state: ProjectState, value: Any) -> str | None:
        if not value:
            return None
        try:
            parent_id = norm_guid(value)
        except ValueError as exc:
            raise errors.bad_request(f"'{value}' is not a valid Edm.Guid value") from exc
        if parent_id in (ZERO_GUID, project.summary_task_id):
            return None
        if state.task(parent_id) is None:
            raise errors.bad_request(f"ParentId '{parent_id}' is not a task of the project.")
        return parent_id

    def update_task(self, project: Project, user: User, task_id: str, fields: dict[str, Any]) -> TaskData:
        session = self.session_for(project, user)
        task = session.task(task_id)
        if task is None:
            raise errors.not_found(f"Draft/Tasks('{task_id}')")
        self.apply_task_fields(session, task, fields, "PS.DraftTask")
        session.rollup()
        project.dirty.add(task.id)
        self.counters.record_write("task.update")
        self.counters.record_write(f"task.update:{project.id}")
        return task

    def set_task_custom_field(
        self, project: Project, user: User, task_id: str, field_name: str, value: Any
    ) -> TaskData:
        cf = self.custom_field_by_key(field_name)
        if cf is None:
            raise errors.bad_request(f"Unknown custom field '{field_name}'.")
        return self.update_task(project, user, task_id, {cf.property_name: value})

    def delete_task(self, project: Project, user: User, task_id: str) -> None:
        session = self.session_for(project, user)
        task = session.task(task_id)
        if task is None:
            raise errors.not_found(f"Draft/Tasks('{task_id}')")
        session.remove_task(task.id)
        session.rollup()
        project.project_dirty = True
        self.counters.record_write("task.delete")

    def apply_task_fields(
        self, state: ProjectState, task: TaskData, fields: dict[str, Any], type_name: str
    ) -> None:
        """Validate, then apply, a DraftTask change the way Project's scheduling engine would (simplified:
        working calendar, manual vs auto-scheduled, % complete driving actual work)."""
        zone = self.config.zone
        custom: dict[str, Any] = {}
        plain: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "__metadata":
                continue
            if key.lower().startswith(_CF_PREFIX):
                cf = self.custom_field_by_key(key)
                if cf is None or cf.property_name.lower() != key.lower():
                    raise errors.unknown_property(key, type_name)
                if cf.entity != "task":
                    raise errors.ps_error("CustomFieldInvalidEntity", f"'{cf.name}' is a {cf.entity} field")
                custom[cf.id] = self.normalize_cf(cf, value)
            elif key in TASK_WRITABLE:
                plain[key] = value
            elif key in _DRAFT_TASK_PROPS or key in ("Id", "Created", "Modified", "IsSummary"):
                raise errors.read_only_property(key, type_name)
            else:
                raise errors.unknown_property(key, type_name)
        try:
            self._apply_plain(task, plain, zone)
        except ValueFormatError as exc:
            raise errors.bad_request(str(exc)) from exc
        for cf_id, value in custom.items():
            if value is None:
                task.custom.pop(cf_id, None)
            else:
                task.custom[cf_id] = value

    def _apply_plain(self, task: TaskData, f: dict[str, Any], zone: ZoneInfo) -> None:
        def boolean(key: str) -> bool:
            value = f[key]
            if not isinstance(value, bool):
                raise ValueFormatError(f"'{value}' is not a valid Edm.Boolean value for {key}")
            return value

        def integer(key: str, low: int | None = None, high: int | None = None) -> int:
            value = f[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
                raise ValueFormatError(f"'{value}' is not a valid Edm.Int32 value for {key}")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueFormatError(f"{key} must be between {low} and {high}, not {value}")
            return int(value)

        if "Name" in f:
            if not isinstance(f["Name"], str) or not f["Name"].strip():
                raise ValueFormatError("Name must be a non-empty string")
            task.name = f["Name"]
        if "Notes" in f:
            task.notes = "" if f["Notes"] is None else str(f["Notes"])
        if "IsManual" in f:
            task.is_manual = boolean("IsManual")
        if "IsActive" in f:
            task.is_active = boolean("IsActive")
        if "Priority" in f:
            task.priority = integer("Priority", 0, 1000)
        if "ConstraintType" in f:
            task.constraint_type = integer("ConstraintType", 0, 7)
        if "ConstraintStartEnd" in f:
            task.constraint_date = parse_date(f["ConstraintStartEnd"], zone)
        if "Deadline" in f:
            task.deadline = parse_date(f["Deadline"], zone)
        if "TaskType" in f:
            task.task_type = integer("TaskType", 0, 2)

        # schedule
        new_start = parse_date(f["Start"], zone) if "Start" in f else None
        new_finish = parse_date(f["Finish"], zone) if "Finish" in f else None
        new_duration: int | None = None
        if "Duration" in f:
            new_duration = parse_span(f["Duration"], "d")
        if "DurationMilliseconds" in f:
            new_duration = integer("DurationMilliseconds", 0) // 60_000
        if "RemainingDuration" in f:
            done = round(task.duration * task.percent_complete / 100)
            new_duration = done + parse_span(f["RemainingDuration"], "d")
        if new_start is not None or new_finish is not None or new_duration is not None:
            if task.is_manual:
                start = new_start or task.start
                if new_duration is not None:
                    task.duration = new_duration
                    task.finish = new_finish or add_working_minutes(start, new_duration)
                elif new_finish is not None:
                    task.finish = new_finish
                    task.duration = working_minutes(start, new_finish)
                else:
                    task.finish = add_working_minutes(start, task.duration)
                task.start = start
                if task.finish < task.start:
                    raise ValueFormatError("The finish date cannot be earlier than the start date")
            else:
                start = task.start
                if new_start is not None:
                    start = next_working_time(new_start)
                    task.constraint_type = 4  # Start No Earlier Than
                    task.constraint_date = start
                if new_duration is not None:
                    task.duration = new_duration
                elif new_finish is not None:
                    task.duration = working_minutes(start, new_finish)
                task.start = start
                task.finish = add_working_minutes(start, task.duration)
            if "IsMilestone" not in f:
                task.is_milestone = task.duration == 0
        if "IsMilestone" in f:
            task.is_milestone = boolean("IsMilestone")

        # work and progress
        if "Work" in f:
            task.work = parse_span(f["Work"], "h")
        if "WorkMilliseconds" in f:
            task.work = integer("WorkMilliseconds", 0) // 60_000
        actual_given = "ActualWork" in f or "ActualWorkMilliseconds" in f
        if "ActualWork" in f:
            task.actual_work = parse_span(f["ActualWork"], "h")
        if "ActualWorkMilliseconds" in f:
            task.actual_work = integer("ActualWorkMilliseconds", 0) // 60_000
        if "RemainingWork" in f:
            task.work = task.actual_work + parse_span(f["RemainingWork"], "h")
        if task.actual_work > task.work:
            task.work = task.actual_work
        if "PercentComplete" in f:
            task.percent_complete = integer("PercentComplete", 0, 100)
            if not actual_given and task.work:
                task.actual_work = round(task.work * task.percent_complete / 100)
        if "PercentPhysicalWorkComplete" in f:
            task.percent_physical = integer("PercentPhysicalWorkComplete", 0, 100)

    # --- assignments and team -------------------------------------------------------------------

    def add_assignment(self, project: Project, user: User, info: dict[str, Any]) -> AssignmentData:
        session = self.session_for(project, user)
        allowed = {"ResourceId", "TaskId", "Id", "Notes", "Start", "Finish"}
        for key in info:
            if key != "__metadata" and key not in allowed:
                raise errors.unknown_property(key, "PS.AssignmentCreationInformation")
        try:
            resource_id = norm_guid(info.get("ResourceId", ""))
            task_id = norm_guid(info.get("TaskId", ""))
        except ValueError as exc:
            raise errors.bad_request("ResourceId and TaskId must be Edm.Guid values.") from exc
        if resource_id not in self.resources:
            raise errors.bad_request(f"ResourceId '{resource_id}' is not an enterprise resource.")
        task = session.task(task_id)
        if task is None:
            raise errors.bad_request(f"TaskId '{task_id}' is not a task of the project.")
        if any(a.task_id == task_id and a.resource_id == resource_id for a in session.assignments):
            raise errors.bad_request("The resource is already assigned to the task.")
        assignment_id = info.get("Id")
        try:
            assignment_id = norm_guid(assignment_id) if assignment_id else new_guid()
        except ValueError as exc:
            raise errors.bad_request(f"'{assignment_id}' is not a valid Edm.Guid value") from exc
        if assignment_id == ZERO_GUID:
            assignment_id = new_guid()
        if resource_id not in session.team:
            session.team.append(resource_id)
        now = self.now()
        assignment = AssignmentData(
            assignment_id, task_id, resource_id, now, now, str(info.get("Notes") or "")
        )
        session.assignments.append(assignment)
        if task.work == 0 and not task.is_summary:
            task.work = task.duration
        session.rollup()
        project.dirty.add(task_id)
        self.counters.record_write("assignment.create")
        return assignment

    def delete_assignment(self, project: Project, user: User, assignment_id: str) -> None:
        session = self.session_for(project, user)
        lowered = assignment_id.lower()
        match = next((a for a in session.assignments if a.id == lowered), None)
        if match is None:
            raise errors.not_found(f"Draft/Assignments('{assignment_id}')")
        session.assignments.remove(match)
        project.dirty.add(match.task_id)
        self.counters.record_write("assignment.delete")

    def add_team_member(self, project: Project, user: User, resource_id: str) -> Job:
        session = self.session_for(project, user)
        resource = self.resource(resource_id)
        if resource.id not in session.team:
            session.team.append(resource.id)
        project.project_dirty = True
        return self.submit_save(project, user, MSG_UPDATE_TEAM)

    def update_project_custom_fields(self, project: Project, user: User, entries: Any) -> Job:
        session = self.session_for(project, user)
        if not isinstance(entries, list):
            raise errors.bad_request("customFieldDictionary must be a collection of SP.KeyValue.")
        changes: dict[str, Any] = {}
        for entry in entries:
            if not isinstance(entry, dict) or "Key" not in entry:
                raise errors.bad_request("Each customFieldDictionary entry needs Key, Value and ValueType.")
            cf = self.custom_field_by_key(str(entry["Key"]))
            if cf is None:
                raise errors.bad_request(f"Unknown custom field '{entry['Key']}'.")
            if cf.entity != "project":
                raise errors.ps_error("CustomFieldInvalidEntity", f"'{cf.name}' is a {cf.entity} field")
            value = entry.get("Value")
            value_type = str(entry.get("ValueType") or "Edm.String")
            if isinstance(value, str) and value_type == "Edm.Boolean":
                value = value.strip().lower() == "true"
            elif isinstance(value, str) and value_type in ("Edm.Double", "Edm.Int32", "Edm.Decimal"):
                try:
                    value = float(value)
                except ValueError as exc:
                    raise errors.bad_request(f"'{value}' is not a valid {value_type} value") from exc
            if cf.lookup_table_id and isinstance(value, str):
                value = [v for v in value.split(";") if v]
            changes[cf.id] = self.normalize_cf(cf, value if value != "" else None)
        for cf_id, value in changes.items():
            if value is None:
                session.custom.pop(cf_id, None)
            else:
                session.custom[cf_id] = value
        project.project_dirty = True
        self.counters.record_write("project.customfields")
        return self.submit_save(project, user, MSG_UPDATE)

    # --- queued saves, publishes and check-ins --------------------------------------------------

    def _stamp_session(self, project: Project) -> ProjectState:
        """Give the tasks changed since the last save their modified time, and snapshot the session."""
        session = project.session
        assert session is not None
        if project.dirty or project.project_dirty:
            now = self.now()
            for task in session.tasks:
                if task.id in project.dirty:
                    task.modified = now
            session.modified = now
        project.dirty.clear()
        project.project_dirty = False
        return session.clone()

    def submit_save(self, project: Project, user: User, message_type: int = MSG_UPDATE) -> Job:
        self.session_for(project, user)
        snapshot = self._stamp_session(project)

        def effect(end: float) -> None:
            project.saved = snapshot
            project.last_saved = self.local_at(end)

        self.counters.record_write("update")
        self.counters.record_write(f"update:{project.id}")
        return self.queue.submit(project.id, message_type, user, self.clock.timestamp(), effect)

    def submit_publish(self, project: Project, user: User, check_in: bool) -> Job:
        self.session_for(project, user)
        snapshot = self._stamp_session(project)
        checkout = project.checkout

        def effect(end: float) -> None:
            project.saved = snapshot
            project.published = snapshot.clone()
            when = self.local_at(end)
            project.last_saved = when
            project.last_published = when
            if check_in and project.checkout is checkout:
                self.release(project)
            self.reporting.schedule(project.id, self.snapshot(project), end + self.config.reporting_delay)

        self.counters.record_write("publish")
        self.counters.record_write(f"publish:{project.id}")
        return self.queue.submit(project.id, MSG_PUBLISH, user, self.clock.timestamp(), effect)

    def submit_check_in(self, project: Project, user: User, force: bool) -> Job:
        if project.checkout is None:
            raise errors.ps_error("CICONotCheckedOut")
        if project.checkout.user is not user and not (force and user.admin):
            raise errors.ps_error("CICOCheckedOutToOtherUser")
        checkout = project.checkout

        def effect(_: float) -> None:
            if project.checkout is checkout:
                self.release(project)

        self.counters.record_write("checkin")
        self.counters.record_write(f"checkin:{project.id}")
        return self.queue.submit(project.id, MSG_CHECKIN, user, self.clock.timestamp(), effect)

    def _job_failed(self, job: Job) -> None:
        self.counters.record_write("job.failed")

    # --- a person working in PWA ----------------------------------------------------------------

    def person_edit(
        self,
        project: Project,
        user: User,
        tasks: dict[str, dict[str, Any]],
        project_custom: dict[str, Any] | None = None,
        publish: bool = True,
    ) -> None:
        """Someone edits in PWA and saves (and publishes): applied at once, bypassing the queue; the
        ProjectData refresh still lags by ``reporting_delay``."""
        if project.checkout is not None and project.checkout.user is not user:
            raise errors.ps_error(
                "CICOCheckedOutToOtherUser", f"checked out to {project.checkout.user.email}"
            )
        base = project.session if project.session is not None else project.saved
        state = base.clone()
        now = self.now()
        for task_id, changes in tasks.items():
            task = state.task(task_id)
            if task is None:
                raise ValueError(f"no task {task_id} in {project.name}")
            fields: dict[str, Any] = {}
            for key, value in changes.items():
                if key in TASK_WRITABLE or key.lower().startswith(_CF_PREFIX):
                    fields[key] = value
                else:
                    cf = self.custom_field_by_name(key, "task")
                    stored = self.normalize_cf(cf, value, by_text=True)
                    if stored is None:
                        task.custom.pop(cf.id, None)
                    else:
                        task.custom[cf.id] = stored
            self.apply_task_fields(state, task, fields, "PS.DraftTask")
            task.modified = now
        for cf_id, value in self.cf_from_display("project", project_custom or {}).items():
            state.custom[cf_id] = value
        state.rollup()
        state.modified = now
        if project.session is not None:
            project.session = state.clone()
        project.saved = state
        project.last_saved = now
        if publish:
            project.published = state.clone()
            project.last_published = now
            self.counters.record_write("person.publish")
            self.reporting.schedule(
                project.id, self.snapshot(project), self.clock.timestamp() + self.config.reporting_delay
            )

    def force_checkout(self, project: Project, user: User) -> None:
        """Someone else opens the project in Project Professional / PWA (control API)."""
        if project.checkout is not None:
            self.release(project)
        project.checkout = Checkout(user, new_guid(), self.now(), "Checked out in Project Professional")
        project.session = project.saved.clone()

    # --- reporting ------------------------------------------------------------------------------

    def snapshot(self, project: Project) -> ReportSnapshot:
        """The ProjectData rows of a project's published state."""
        state = project.published
        outline = state.outline()
        summary = project.summary_task(state)
        owner = project.owner.display_name
        cf_project = {cf.id: cf for cf in self.custom_fields.values() if cf.entity == "project"}
        cf_task = {cf.id: cf for cf in self.custom_fields.values() if cf.entity == "task"}
        row: dict[str, Any] = {
            "ProjectId": project.id,
            "ProjectName": state.name,
            "ProjectType": project.project_type,
            "ProjectCreatedDate": project.created,
            "ProjectModifiedDate": state.modified,
            "ProjectLastPublishedDate": project.last_published,
            "ProjectStartDate": summary.start,
            "ProjectFinishDate": summary.finish,
            "ProjectPercentCompleted": summary.percent_complete,
            "ProjectWork": Decimal(summary.work) / 60,
            "ProjectActualWork": Decimal(summary.actual_work) / 60,
            "ProjectDuration": Decimal(summary.duration) / MINUTES_PER_DAY,
            "ProjectOwnerName": owner,
            "EnterpriseProjectTypeName": "Enterprise Project",
        }
        for cf in cf_project.values():
            stored = state.custom.get(cf.id)
            row[strip_name(cf.name)] = None if stored is None else self.cf_text(cf, stored)
        names = {t.id: t.name for t in state.tasks}
        tasks = [self._task_row(project, summary, None, (0, "0", 0), state.name, cf_task, summary.id, None)]
        tasks[0]["TaskIsProjectSummary"] = True
        for task in state.tasks:
            parent_id = task.parent_id or summary.id
            parent_name = names.get(task.parent_id or "", state.name)
            tasks.append(
                self._task_row(
                    project, task, task, outline[task.id], state.name, cf_task, parent_id, parent_name
                )
            )
        assignments = []
        for a in state.assignments:
            task = state.task(a.task_id)
            resource = self.resources.get(a.resource_id)
            if task is None or resource is None:
                continue
            share = max(len(state.assignments_of(task.id)), 1)
            assignments.append(
                {
                    "AssignmentId": a.id,
                    "ProjectId": project.id,
                    "TaskId": task.id,
                    "ResourceId": resource.id,
                    "ProjectName": state.name,
                    "TaskName": task.name,
                    "ResourceName": resource.name,
                    "AssignmentWork": Decimal(task.work) / 60 / share,
                    "AssignmentActualWork": Decimal(task.actual_work) / 60 / share,
                    "AssignmentStartDate": task.start,
                    "AssignmentFinishDate": task.finish,
                    "AssignmentModifiedDate": a.modified,
                }
            )
        return ReportSnapshot(row, tasks, assignments)

    def _task_row(
        self,
        project: Project,
        task: TaskData,
        source: TaskData | None,
        outline: tuple[int, str, int],
        project_name: str,
        cfs: dict[str, CustomField],
        parent_id: str,
        parent_name: str | None,
    ) -> dict[str, Any]:
        level, position, index = outline
        row: dict[str, Any] = {
            "ProjectId": project.id,
            "TaskId": task.id,
            "ProjectName": project_name,
            "TaskName": task.name,
            "TaskIndex": index,
            "TaskOutlineLevel": level,
            "TaskOutlineNumber": position,
            "ParentTaskId": parent_id,
            "ParentTaskName": parent_name if parent_name is not None else task.name,
            "TaskIsSummary": task.is_summary,
            "TaskIsProjectSummary": False,
            "TaskIsMilestone": task.is_milestone,
            "TaskIsActive": task.is_active,
            "TaskIsManuallyScheduled": task.is_manual,
            "TaskStartDate": task.start,
            "TaskFinishDate": task.finish,
            "TaskDuration": Decimal(task.duration) / MINUTES_PER_DAY,
            "TaskWork": Decimal(task.work) / 60,
            "TaskActualWork": Decimal(task.actual_work) / 60,
            "TaskRemainingWork": Decimal(task.remaining_work) / 60,
            "TaskPercentCompleted": task.percent_complete,
            "TaskPercentWorkCompleted": task.percent_work_complete,
            "TaskPriority": task.priority,
            "TaskCreatedDate": task.created,
            "TaskModifiedDate": task.modified,
        }
        for cf in cfs.values():
            stored = source.custom.get(cf.id) if source is not None else None
            row[strip_name(cf.name)] = None if stored is None else self.cf_text(cf, stored)
        return row

    def resource_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "ResourceId": r.id,
                "ResourceName": r.name,
                "ResourceEmailAddress": r.email,
                "ResourceIsActive": r.is_active,
                "ResourceIsGeneric": r.is_generic,
                "ResourceType": r.resource_type,
                "ResourceCreatedDate": r.created,
                "ResourceModifiedDate": r.modified,
            }
            for r in self.resources.values()
        ]

    # --- overview and reset ---------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "projects": [
                {
                    "id": p.id,
                    "name": p.name,
                    "projectType": p.project_type,
                    "checkedOutBy": p.checkout.user.email if p.checkout else None,
                    "lastPublished": format_date(p.last_published),
                    "tasks": [{"id": t.id, "name": t.name} for t in p.published.tasks],
                    "draftTasks": len(p.draft().tasks),
                }
                for p in self.projects.values()
            ],
            "customFields": [
                {
                    "id": cf.id,
                    "name": cf.name,
                    "internalName": cf.internal_name,
                    "fieldType": cf.field_type,
                    "entity": cf.entity,
                    "lookupTableId": cf.lookup_table_id,
                }
                for cf in self.custom_fields.values()
            ],
            "lookupTables": [
                {"id": t.id, "name": t.name, "entries": {e.value: e.internal_name for e in t.entries}}
                for t in self.lookup_tables.values()
            ],
            "resources": [{"id": r.id, "name": r.name, "email": r.email} for r in self.resources.values()],
            "queue": [j.describe() for j in self.queue.jobs],
            "users": [
                {"email": u.email, "displayName": u.display_name, "loginName": u.login_name, "admin": u.admin}
                for u in self.users
            ],
        }

    def reset(self) -> None:
        self.resources.clear()
        self.custom_fields.clear()
        self.lookup_tables.clear()
        self.projects.clear()
        self.queue.reset()
        self.reporting.reset()

    def format_days(self, minutes: int) -> str:
        return format_days(minutes)
