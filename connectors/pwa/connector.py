"""`PwaConnector`: published tasks of Project Online / Project Server behind the connector contract.

Reads come from `/_api/ProjectServer` (the truth), change detection from `/_api/ProjectData` (the reporting
feed, which lags publishing), and every write to one project runs as one check-out → update → publish cycle
(`connectors.pwa.cycle`). Setup helpers ("Create fields", "Verify configuration") live in
`connectors.pwa.setup` and are offered here as methods.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from connectors.contract import (
    Change,
    ChangePage,
    CheckReport,
    Container,
    EntitySpec,
    FieldSpec,
    FieldsSetupReport,
    Item,
    Scope,
    SessionUnit,
    Watermark,
    Write,
    WriteResult,
)
from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    PermanentError,
    ThrottledError,
    TransientError,
)
from connectors.http import CallStats, HttpClient, RetryPolicy, safe_url
from connectors.pwa import setup
from connectors.pwa.client import PwaClient, guid, ids_filter, odata_string
from connectors.pwa.config import PwaOptions
from connectors.pwa.fields import CustomField, FieldCatalog
from connectors.pwa.tasks import (
    ENTITY,
    STANDARD_FIELDS,
    Assignment,
    ProjectInfo,
    TaskRef,
    hub_fields,
    make_id,
    parent_of,
    task_id_for,
    version,
)
from connectors.pwa.values import Calendar, parse_hours, parse_pwa_date, to_pwa_date, version_of

log = logging.getLogger("tandem.connectors.pwa")

_CACHE_SECONDS = 300.0
_MISS_REFRESH_SECONDS = 60.0
_ENTITY_KINDS = {
    "ProjectEntity": "project",
    "TaskEntity": "task",
    "ResourceEntity": "resource",
    "AssignmentEntity": "assignment",
}
# Fewer task ids than this in one project are read with one assignments call per task; more, with one
# call for the whole project.
_PER_TASK_ASSIGNMENTS = 5
# Versions remembered in the watermark cursor (Table Storage caps a property at 64 KiB).
_SEEN_LIMIT = 400


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class PwaConnector:
    """PWA published tasks (entity `task`, one write session per project) for Project Online and Server."""

    # Declared, not read from the system: the hooks intake keys sessions without calling it.
    session_units: ClassVar[dict[str, SessionUnit]] = {ENTITY: "container"}

    def __init__(
        self,
        system: str,
        site_url: str,
        options: PwaOptions | None = None,
        *,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`site_url` is the PWA site: `https://contoso.sharepoint.com/sites/pwa` or `https://server/pwa`."""
        self.system = system
        self.options = options or PwaOptions()
        url = httpx.URL(site_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{system}: PWA URL must be http(s)://host/…/pwa, got {safe_url(site_url)!r}")
        if url.userinfo:
            raise ValueError(f"{system}: put credentials in the secret store, not in the PWA URL")
        self.zone = self.options.zone
        self.sleep = sleep
        self.clock = clock
        self.http = HttpClient(
            system=system,
            auth=auth,
            timeout=self.options.timeout_seconds,
            retry=retry,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )
        self.client = PwaClient(str(site_url), self.http, odata=self.options.odata, clock=clock)
        self.defaults = Calendar(
            self.options.hours_per_day, self.options.hours_per_week, self.options.days_per_month
        )
        self._lock = threading.Lock()
        self._catalog: tuple[FieldCatalog, float] | None = None
        self._projects: tuple[list[dict[str, Any]], float] | None = None
        self._resources: tuple[dict[str, dict[str, Any]], float] | None = None
        self._entity_types: dict[str, str] | None = None
        self._project_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._created: dict[str, str] = {}  # correlation id → item id, for this process's creates

    def __repr__(self) -> str:
        return f"PwaConnector(system={self.system!r}, site_url={safe_url(self.client.site_url)!r})"

    @property
    def stats(self) -> CallStats:
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PwaConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fresh(self, stamp: float) -> bool:
        return self.clock() - stamp < _CACHE_SECONDS

    def _entity(self, entity: str) -> None:
        if entity != ENTITY:
            raise PermanentError(
                f"unknown entity {entity!r}; the PWA connector offers {ENTITY!r}", system=self.system
            )

    # --- metadata -----------------------------------------------------------------------------------

    def entity_type_ids(self) -> dict[str, str]:
        """`{"project": <guid>, "task": …, "resource": …, "assignment": …}` from `EntityTypes`."""
        if self._entity_types is None:
            found: dict[str, str] = {}
            for prop, kind in _ENTITY_KINDS.items():
                value = self.client.get(self.client.ps(f"EntityTypes/{prop}"))
                ident = (value.get("ID") or value.get("Id")) if isinstance(value, dict) else None
                if ident:
                    found[kind] = guid(str(ident))
            self._entity_types = found
        return dict(self._entity_types)

    def catalog(self, *, refresh: bool = False) -> FieldCatalog:
        """Every enterprise custom field with its lookup entries (cached for five minutes)."""
        with self._lock:
            if not refresh and self._catalog and self._fresh(self._catalog[1]):
                return self._catalog[0]
        kinds = {v: k for k, v in self.entity_type_ids().items()}
        raw = self.client.list_all(self.client.ps("CustomFields"))
        fields: list[CustomField] = []
        for f in raw:
            internal = str(f.get("InternalName") or "")
            if not internal.startswith("Custom_"):
                continue
            entity_id = f.get("EntityTypeId") or (f.get("EntityType") or {}).get("ID")
            lookup = f.get("LookupTableId")
            if lookup in ("", "00000000-0000-0000-0000-000000000000"):
                lookup = None
            cf = CustomField(
                id=guid(str(f["Id"])),
                name=str(f.get("Name") or internal),
                internal_name=internal,
                field_type=int(f.get("FieldType") or 21),
                entity=kinds.get(guid(str(entity_id)), "other") if entity_id else "other",  # type: ignore[arg-type]
                lookup_table_id=str(lookup) if lookup else None,
                multi_select=bool(f.get("LookupAllowMultiSelect", False)),
                formula=bool(f.get("Formula")),
            )
            if cf.is_lookup:
                entries = self.client.list_all(self.client.ps(f"CustomFields('{cf.id}')/LookupEntries"))
                cf.entries = {
                    str(e["InternalName"]): str(e.get("FullValue") or e.get("Value") or "")
                    for e in entries
                    if e.get("InternalName")
                }
            fields.append(cf)
        catalog = FieldCatalog(fields)
        with self._lock:
            self._catalog = (catalog, self.clock())
        return catalog

    def list_fields(self) -> list[FieldSpec]:
        catalog = self.catalog()
        prefix = self.options.project_field_prefix
        specs = list(STANDARD_FIELDS)
        specs += [
            FieldSpec(name=cf.name, type=cf.hub_type, read_only=cf.formula, label=cf.internal_name)
            for cf in catalog.of("task")
            if cf.name != self.options.correlation_field
        ]
        specs += [
            FieldSpec(name=prefix + cf.name, type=cf.hub_type, read_only=True, label=cf.internal_name)
            for cf in catalog.of("project")
        ]
        return specs

    def entities(self) -> list[EntitySpec]:
        unit = self.session_units[ENTITY]
        return [EntitySpec(name=ENTITY, session_unit=unit, fields=tuple(self.list_fields()))]

    def check(self) -> CheckReport:
        """Connectivity and the permissions the scenario needs (ProjectServer, reporting feed, writes)."""
        details: dict[str, Any] = {
            "site_url": safe_url(self.client.site_url),
            "time_zone": self.options.time_zone,
        }
        problems: list[str] = []
        try:
            projects = self.list_projects(refresh=True)
            details["projects"] = sorted(p["Name"] for p in projects)
            if not projects:
                # An empty PWA is fine; say it, so a missing permission is not mistaken for one.
                details["notes"] = [
                    "no published projects are visible to this account: if PWA has projects, give it the "
                    "permissions 'Open Project' and 'Save Project to Project Web App' on them"
                ]
            self.client.digest(refresh=True)
        except AuthError as exc:
            problems.append(
                f"{exc}. For SharePoint Online OAuth: sign in again and store a new refresh token; for a "
                "password: check it and that the account has no MFA; on premises: check DOMAIN\\user"
            )
        except TransientError as exc:
            problems.append(f"{exc}. Check the PWA URL, DNS and firewall, then try again")
        except ConnectorError as exc:
            problems.append(str(exc))
        if not problems:
            try:
                self.client.get(self.client.pd("Projects"), {"$top": "1", "$select": "ProjectId"})
            except ConnectorError as exc:
                problems.append(
                    f"the reporting feed /_api/ProjectData cannot be read: {exc}. Grant the account "
                    "'Access Project Server Reporting Service' (Project permission mode) or add it to "
                    "the Project Web App Viewers group; change detection needs it"
                )
        details["calls"] = self.stats.total_calls
        return CheckReport(ok=not problems, problems=problems, details=details)

    # --- projects, resources ------------------------------------------------------------------------

    def list_projects(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        """`{Id, Name, ProjectType, …}` of every published project (cached for five minutes)."""
        with self._lock:
            if not refresh and self._projects and self._fresh(self._projects[1]):
                return list(self._projects[0])
        projects = self.client.list_all(
            self.client.ps("Projects"), {"$select": "Id,Name,ProjectType,IsCheckedOut,LastPublishedDate"}
        )
        with self._lock:
            self._projects = (projects, self.clock())
        return list(projects)

    def list_containers(self) -> list[Container]:
        """Every published project; a scenario pairs PWA projects by name."""
        names = sorted(
            {str(p["Name"]) for p in self.list_projects(refresh=True) if p.get("Name")}, key=str.lower
        )
        return [Container(id=n, name=n) for n in names]

    def project_id(self, name: str) -> str:
        """The id of the project named `name` (any case); NotFoundError naming it when none matches."""
        wanted = name.strip().lower()
        for refresh in (False, True):
            for p in self.list_projects(refresh=refresh):
                if str(p.get("Name", "")).strip().lower() == wanted:
                    return guid(str(p["Id"]))
        raise NotFoundError(
            f"no published PWA project is named '{name}'; check the name (or the scenario's project map) "
            "and that the project is published and visible to the sync account",
            system=self.system,
        )

    def find_container(self, name: str) -> str | None:
        """The published project named `name` (any case) as PWA spells it, or None."""
        wanted = name.strip().lower()
        for refresh in (False, True):
            for p in self.list_projects(refresh=refresh):
                if str(p.get("Name", "")).strip().lower() == wanted:
                    return str(p["Name"])
        return None

    def project_info(self, project_id: str) -> ProjectInfo:
        """The published project with its project-level custom field values."""
        try:
            raw = self.client.get(self.client.ps(f"Projects('{project_id}')/IncludeCustomFields"))
        except NotFoundError:
            raise NotFoundError(
                f"PWA project {project_id} does not exist (deleted, or not visible to the sync account)",
                system=self.system,
            ) from None
        if not isinstance(raw, dict) or not raw.get("Id"):
            raise PermanentError(f"PWA answered no project for {project_id}", system=self.system)
        return ProjectInfo.parse(raw, self.defaults)

    def resources_by_email(self, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        """Active enterprise resources keyed by lower-case e-mail."""
        with self._lock:
            if not refresh and self._resources and self._fresh(self._resources[1]):
                return self._resources[0]
        found: dict[str, dict[str, Any]] = {}
        for r in self.client.list_all(
            self.client.ps("EnterpriseResources"), {"$select": "Id,Name,Email,IsActive"}
        ):
            email = str(r.get("Email") or "").strip().lower()
            if email and r.get("IsActive", True) is not False:
                found.setdefault(email, r)
        with self._lock:
            self._resources = (found, self.clock())
        return found

    def resource_for(self, email: str) -> dict[str, Any] | None:
        key = email.strip().lower()
        found = self.resources_by_email().get(key)
        stamp = self._resources[1] if self._resources else 0.0
        if found is None and self.clock() - stamp > _MISS_REFRESH_SECONDS:
            # Someone may just have been added to the Resource Center; look again, at most once a minute.
            found = self.resources_by_email(refresh=True).get(key)
        return found

    # --- changes ------------------------------------------------------------------------------------

    def changes(self, entity: str, since: Watermark, scope: Scope) -> Iterator[ChangePage]:
        """Tasks published since the watermark, from ProjectData, oldest first, one page per feed page.

        The query starts `overlap_seconds` before the watermark: the reporting feed is filled after a
        publish, so a task can appear there later than tasks modified after it. The watermark's cursor
        remembers the versions listed inside that window, so a task is not listed again unchanged.
        """
        self._entity(entity)
        lower = since.at - timedelta(seconds=self.options.overlap_seconds) if since.at else None
        if scope.start is not None:
            start = scope.start if scope.start.tzinfo else scope.start.replace(tzinfo=UTC)
            if lower is None or start > lower:
                lower = start
        clauses: list[str] = []
        if lower is not None:
            clauses.append(f"TaskModifiedDate gt datetime'{to_pwa_date(lower, self.zone)}'")
        if scope.containers:
            names = " or ".join(f"ProjectName eq {odata_string(c)}" for c in scope.containers)
            clauses.append(f"({names})")
        if scope.filter:
            clauses.append(f"({scope.filter})")
        params: dict[str, Any] = {
            "$select": "ProjectId,ProjectName,TaskId,TaskModifiedDate,TaskIsProjectSummary",
            "$orderby": "TaskModifiedDate",
        }
        if clauses:
            params["$filter"] = " and ".join(clauses)
        mark = since.at
        seen = _decode_seen(since.cursor)
        yielded = False
        for page in self.client.list(self.client.pd("Tasks"), params):
            changes: list[Change] = []
            for row in page:
                if row.get("TaskIsProjectSummary") is True or not row.get("TaskId"):
                    continue
                changed_at = parse_pwa_date(row.get("TaskModifiedDate"), self.zone)
                change = Change(
                    id=make_id(guid(str(row["ProjectId"])), guid(str(row["TaskId"]))),
                    version=version_of(row.get("TaskModifiedDate")),
                    container=row.get("ProjectName"),
                    changed_at=changed_at,
                )
                if changed_at is not None and (mark is None or changed_at > mark):
                    mark = changed_at
                if seen.get(change.id, (None,))[0] == change.version:
                    continue  # listed by an earlier poll inside the overlap window
                seen[change.id] = (change.version, changed_at)
                changes.append(change)
            if changes:
                yielded = True
                yield ChangePage(changes=changes, next_watermark=self._watermark(mark, seen))
        if not yielded:
            yield ChangePage(changes=[], next_watermark=self._watermark(mark, seen))

    def _watermark(self, mark: datetime | None, seen: dict[str, tuple[str, datetime | None]]) -> Watermark:
        if mark is None:
            return Watermark()
        window = mark - timedelta(seconds=self.options.overlap_seconds)
        recent = sorted(
            ((k, v) for k, v in seen.items() if v[1] is not None and v[1] > window),
            key=lambda kv: kv[1][1],  # type: ignore[arg-type,return-value]
        )[-_SEEN_LIMIT:]
        if not recent:
            return Watermark(at=mark)
        cursor = json.dumps(
            {"seen": {k: [v[0], v[1].isoformat() if v[1] else None] for k, v in recent}},
            separators=(",", ":"),
        )
        return Watermark(at=mark, cursor=cursor)

    # --- read ---------------------------------------------------------------------------------------

    def read(self, entity: str, ids: Sequence[str]) -> list[Item]:
        """Fresh published tasks; ids that do not exist (or are not visible) are left out."""
        self._entity(entity)
        by_project: dict[str, list[str]] = defaultdict(list)
        bare: list[str] = []
        for value in ids:
            try:
                ref = TaskRef.parse(value)
            except ValueError:
                continue
            if ref.project_id:
                by_project[ref.project_id].append(ref.task_id)
            else:
                bare.append(ref.task_id)
        for task_id, project_id in self._locate(bare).items():
            by_project[project_id].append(task_id)
        items: list[Item] = []
        for project_id, task_ids in by_project.items():
            try:
                items.extend(self.read_project_tasks(project_id, task_ids))
            except NotFoundError:
                continue
        return items

    def _locate(self, task_ids: list[str]) -> dict[str, str]:
        """Project ids of bare task ids, from ProjectData (published tasks only)."""
        found: dict[str, str] = {}
        for chunk in _chunks(task_ids, self.options.ids_per_request):
            params = {"$filter": ids_filter(list(chunk), "TaskId"), "$select": "TaskId,ProjectId"}
            for row in self.client.list_all(self.client.pd("Tasks"), params):
                found[guid(str(row["TaskId"]))] = guid(str(row["ProjectId"]))
        return found

    def published_tasks(self, project_id: str, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Raw published tasks by id (with their parent), in chunks that keep URLs short."""
        found: dict[str, dict[str, Any]] = {}
        url = self.client.ps(f"Projects('{project_id}')/Tasks")
        for chunk in _chunks(list(dict.fromkeys(task_ids)), self.options.ids_per_request):
            params = {"$filter": ids_filter(list(chunk)), "$expand": "Parent"}
            for raw in self.client.list_all(url, params):
                found[guid(str(raw["Id"]))] = raw
        return found

    def assignments(self, project_id: str, task_ids: Sequence[str]) -> dict[str, list[Assignment]]:
        """Published assignments (with resource e-mail) of the given tasks."""
        out: dict[str, list[Assignment]] = defaultdict(list)
        params = {"$expand": "Resource,Task"}
        if len(task_ids) < _PER_TASK_ASSIGNMENTS:
            for task_id in task_ids:
                url = self.client.ps(f"Projects('{project_id}')/Tasks('{task_id}')/Assignments")
                try:
                    rows = self.client.list_all(url, params)
                except NotFoundError:
                    continue
                out[task_id].extend(_assignment(r) for r in rows)
            return out
        wanted = set(task_ids)
        for row in self.client.list_all(self.client.ps(f"Projects('{project_id}')/Assignments"), params):
            task = row.get("Task") if isinstance(row.get("Task"), dict) else {}
            task_id = row.get("TaskId") or (task or {}).get("Id")
            if task_id and guid(str(task_id)) in wanted:
                out[guid(str(task_id))].append(_assignment(row))
        return out

    def read_project_tasks(
        self, project_id: str, task_ids: Sequence[str], project: ProjectInfo | None = None
    ) -> list[Item]:
        project = project or self.project_info(project_id)
        raw_tasks = self.published_tasks(project_id, task_ids)
        if not raw_tasks:
            return []
        catalog = self.catalog()
        assignments = self.assignments(project_id, list(raw_tasks))
        return [
            self._item(project, raw, catalog, assignments.get(task_id, []))
            for task_id, raw in raw_tasks.items()
        ]

    def _item(
        self, project: ProjectInfo, raw: dict[str, Any], catalog: FieldCatalog, assignments: list[Assignment]
    ) -> Item:
        fields = hub_fields(raw, project, catalog, assignments, self.zone, self.options.project_field_prefix)
        correlation = None
        if self.options.correlation_field:
            correlation_cf = catalog.find(self.options.correlation_field, "task")
            if correlation_cf is not None:
                correlation = fields.pop(correlation_cf.name, None)
        parent = parent_of(raw, project)
        return Item(
            id=make_id(project.id, guid(str(raw["Id"]))),
            version=version(raw),
            container=project.name,
            type="summary" if raw.get("IsSummary") else "task",
            changed_at=parse_pwa_date(raw.get("Modified"), self.zone),
            created_at=parse_pwa_date(raw.get("Created"), self.zone),
            parent_id=make_id(project.id, parent) if parent else None,
            correlation_id=str(correlation) if correlation else None,
            fields=fields,
        )

    # --- write --------------------------------------------------------------------------------------

    def write(self, entity: str, writes: Sequence[Write]) -> list[WriteResult]:
        """All writes of one project in one check-out → update → publish cycle; never raises for an item.

        Writes for several projects run one cycle per project. Results come back in the order of `writes`.
        """
        from connectors.pwa.cycle import WriteCycle

        self._entity(entity)
        results: list[WriteResult | None] = [None] * len(writes)
        groups: dict[str, list[int]] = defaultdict(list)
        for index, w in enumerate(writes):
            try:
                groups[self._project_of(w)].append(index)
            except ConnectorError as exc:
                results[index] = WriteResult(error=exc)
        for project_id, indexes in groups.items():
            with self._project_locks[project_id]:
                cycle = WriteCycle(self, project_id, [writes[i] for i in indexes])
                try:
                    outcome = cycle.run()
                except ConnectorError as exc:
                    outcome = [WriteResult(error=exc) for _ in indexes]
            for index, result in zip(indexes, outcome, strict=True):
                results[index] = result
                if result.item is not None and writes[index].correlation_id:
                    self._created[writes[index].correlation_id or ""] = result.item.id
        return [r if r is not None else WriteResult(error=PermanentError("not written")) for r in results]

    def _project_of(self, w: Write) -> str:
        if w.id is not None:
            try:
                ref = TaskRef.parse(w.id)
            except ValueError:
                raise PermanentError(
                    f"'{w.id}' is not a PWA task id (<project guid>:<task guid>)", system=self.system
                ) from None
            if ref.project_id:
                return ref.project_id
            located = self._locate([ref.task_id])
            if ref.task_id not in located:
                raise NotFoundError(f"PWA task {ref.task_id} was not found", system=self.system)
            return located[ref.task_id]
        if not w.container:
            raise PermanentError(
                "a PWA task create needs container: the name of the project to add it to", system=self.system
            )
        return self.project_id(w.container)

    # --- correlation --------------------------------------------------------------------------------

    def find_by_correlation(self, entity: str, correlation_id: str) -> Item | None:
        """The task this hub created with `correlation_id`.

        Looks in this process's creates, then the reporting feed by the task id derived from the
        correlation id and by the correlation custom field. The feed lags publishing, so a miss is possible
        right after a create; a create retried after such a miss still finds its task in the project's
        draft (same derived id) and updates it instead of adding a second one.
        """
        self._entity(entity)
        candidates: list[str] = []
        if correlation_id in self._created:
            candidates.append(self._created[correlation_id])
        else:
            candidates.extend(self._feed_lookup(correlation_id))
        derived = task_id_for(correlation_id)
        for item in self.read(entity, candidates):
            if item.correlation_id == correlation_id or item.id.endswith(derived):
                return item
        return None

    def _feed_lookup(self, correlation_id: str) -> list[str]:
        clauses = [f"TaskId eq guid'{task_id_for(correlation_id)}'"]
        field_name = self.options.correlation_field
        if field_name:
            # ProjectData names custom fields by display name with spaces and symbols removed.
            column = "".join(ch for ch in field_name if ch.isalnum())
            clauses.append(f"{column} eq {odata_string(correlation_id)}")
        found: list[str] = []
        for clause in clauses:
            try:
                rows = self.client.list_all(
                    self.client.pd("Tasks"), {"$filter": clause, "$select": "TaskId,ProjectId"}
                )
            except (PermanentError, ThrottledError) as exc:
                log.info("correlation lookup by %s failed: %s", clause.split(" ")[0], exc)
                continue
            found.extend(make_id(guid(str(r["ProjectId"])), guid(str(r["TaskId"]))) for r in rows)
            if found:
                break
        return found

    # --- setup helpers ------------------------------------------------------------------------------

    def ensure_custom_fields(
        self, specs: Sequence[setup.CustomFieldSpec] | None = None
    ) -> setup.FieldsReport:
        """ "Create fields": create each missing custom field (default: the PWA ↔ ADO scenario's)."""
        return setup.ensure_custom_fields(
            self, list(specs) if specs is not None else setup.default_fields(self)
        )

    def verify(self, required_fields: Sequence[setup.CustomFieldSpec] | None = None) -> CheckReport:
        """ "Verify configuration": connectivity, permissions and every required field with its type."""
        wanted = list(required_fields) if required_fields is not None else setup.default_fields(self)
        return setup.verify(self, wanted)

    # The engine's setup contract (`connectors.contract.FieldSetup`): specs as configured in a scenario.
    def _specs(self, specs: Sequence[dict[str, Any]]) -> list[setup.CustomFieldSpec]:
        parsed = [setup.CustomFieldSpec.model_validate(dict(s)) for s in specs] or setup.default_fields(self)
        correlation = self.options.correlation_field
        if correlation and not any(s.name.lower() == correlation.lower() for s in parsed):
            parsed += [s for s in setup.default_fields(self) if s.name == correlation]
        return parsed

    def ensure_fields(self, specs: Sequence[dict[str, Any]]) -> FieldsSetupReport:
        report = self.ensure_custom_fields(self._specs(specs))
        return FieldsSetupReport(
            created=report.created,
            existing=[f.name for f in report.fields if f.status == "exists"],
            problems=report.problems,
        )

    def verify_fields(self, specs: Sequence[dict[str, Any]]) -> CheckReport:
        return self.verify(self._specs(specs))


def _decode_seen(cursor: str | None) -> dict[str, tuple[str, datetime | None]]:
    if not cursor:
        return {}
    try:
        seen = json.loads(cursor)["seen"]
        return {str(k): (str(v[0]), datetime.fromisoformat(v[1]) if v[1] else None) for k, v in seen.items()}
    except (ValueError, KeyError, TypeError, IndexError):
        log.warning("ignoring an unreadable PWA watermark cursor")
        return {}


def _assignment(row: dict[str, Any]) -> Assignment:
    resource = row.get("Resource") if isinstance(row.get("Resource"), dict) else {}
    resource = resource or {}
    resource_id = row.get("ResourceId") or resource.get("Id")
    actual = row.get("ActualWorkMilliseconds")
    try:
        actual_hours = float(actual) / 3_600_000 if actual is not None else 0.0
    except (TypeError, ValueError):
        actual_hours = 0.0
    if not actual_hours and row.get("ActualWork"):
        actual_hours = parse_hours(row.get("ActualWork")) or 0.0
    return Assignment(
        id=guid(str(row["Id"])),
        resource_id=guid(str(resource_id)) if resource_id else None,
        email=(str(resource.get("Email") or row.get("ResourceEmail") or "").strip().lower() or None),
        created=str(row.get("Created") or ""),
        actual_hours=actual_hours,
    )
