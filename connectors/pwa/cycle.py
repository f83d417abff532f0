"""One PWA write cycle for one project: check out → add/update draft tasks and assignments → publish with
check-in → wait on the queue job.

Every write of the project shares the cycle (one check-out, one publish). The draft is saved every
`max_tasks_per_save` tasks to stay under PWA's change-set limit. The project is never left checked out by a
cycle that can still check it in: a failed job gets a forced check-in, a refused write does not stop the
others.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.contract import Item, Write, WriteResult
from connectors.errors import (
    ConnectorError,
    NotFoundError,
    PermanentError,
    ThrottledError,
    TransientError,
    VersionConflict,
)
from connectors.pwa.client import (
    ALREADY_CHECKED_OUT_TO_YOU,
    CHECKED_OUT_TO_OTHER,
    JOB_CORRELATION_BLOCKED,
    JOB_DONE_BAD,
    JOB_FAILED,
    JOB_SUCCESS,
    QueueJob,
    ids_filter,
    pj_error_number,
)
from connectors.pwa.fields import CUSTOM_PREFIX, CustomField, FieldCatalog
from connectors.pwa.tasks import (
    ASSIGNED_TO,
    READ_ONLY,
    ROLLUP_FIELDS,
    SCHEDULE_FIELDS,
    WRITABLE,
    ProjectInfo,
    TaskRef,
    draft_value,
    task_id_for,
    version,
)
from connectors.pwa.values import parse_hours, parse_pwa_date, utc_iso, version_of

if TYPE_CHECKING:
    from connectors.pwa.connector import PwaConnector

log = logging.getLogger("tandem.connectors.pwa")

# Standard fields a create passes in TaskCreationInformation; the rest follow in one PATCH.
_CREATE_INFO = ("Name", "Start", "Finish", "Duration", "Notes", "IsManual")


class JobFailed(PermanentError):
    """A queue job of the cycle failed and blocks the project's queue until an administrator acts."""

    def __init__(self, message: str, *, job: QueueJob, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.job = job


class QueueTimeout(TransientError):
    """A queue job of the cycle was still waiting or running when the cycle's time was up."""


class JobInterrupted(TransientError):
    """A queue job of the cycle failed without blocking (or was cancelled): the writes can be retried."""

    def __init__(self, message: str, *, job: QueueJob, **kw: Any) -> None:
        super().__init__(message, retry_after=60.0, **kw)
        self.job = job


class _StaleCatalog(Exception):
    """A name the cached catalog does not know; the catalog is read once more before giving up."""

    def __init__(self, error: ConnectorError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class Plan:
    """One write, validated and converted before the project is checked out."""

    index: int
    write: Write
    task_id: str
    create: bool
    props: dict[str, Any] = field(default_factory=dict)  # DraftTask standard properties, PWA form
    custom: dict[str, tuple[CustomField, Any]] = field(default_factory=dict)  # internal name → (field, value)
    assign: tuple[bool, str | None] = (False, None)  # (write it, e-mail)
    parent: tuple[bool, str | None] = (False, None)  # (write it, parent task id)
    warnings: list[str] = field(default_factory=list)


class WriteCycle:
    def __init__(self, conn: PwaConnector, project_id: str, writes: list[Write]) -> None:
        self.conn = conn
        self.client = conn.client
        self.options = conn.options
        self.project_id = project_id
        self.writes = writes
        self.results: list[WriteResult | None] = [None] * len(writes)
        self.project: ProjectInfo | None = None
        self._team: set[str] | None = None
        self._since_save = 0
        self._refreshed = False  # the custom field catalog was read again during this cycle

    # --- helpers --------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.project.name if self.project else self.project_id

    def _ps(self, path: str) -> str:
        return self.client.ps(f"Projects('{self.project_id}')/{path}")

    def _error(self, kind: type[ConnectorError], message: str, **kw: Any) -> ConnectorError:
        return kind(message, system=self.conn.system, **kw)

    def _fail_all(self, error: ConnectorError, plans: list[Plan] | None = None) -> None:
        targets = [p.index for p in plans] if plans is not None else range(len(self.writes))
        for index in targets:
            if self.results[index] is None or self.results[index].error is None:  # type: ignore[union-attr]
                self.results[index] = WriteResult(error=error)

    # --- the cycle ------------------------------------------------------------------------------

    def run(self) -> list[WriteResult]:
        self.project = self.conn.project_info(self.project_id)
        self._refuse_master()
        catalog = self.conn.catalog()
        plans: list[Plan] = []
        for index, w in enumerate(self.writes):
            try:
                try:
                    plans.append(self._plan(index, w, catalog))
                except _StaleCatalog:
                    # A field or lookup value created minutes ago: read the definitions again, once.
                    catalog = self.conn.catalog(refresh=True)
                    self._refreshed = True
                    plans.append(self._plan(index, w, catalog))
            except _StaleCatalog as exc:
                self.results[index] = WriteResult(error=exc.error)
            except ConnectorError as exc:
                self.results[index] = WriteResult(error=exc)
        if plans:
            self._cycle(plans)
        return [
            r if r is not None else WriteResult(error=PermanentError("not written")) for r in self.results
        ]

    def _refuse_master(self) -> None:
        assert self.project is not None
        master = self.project.is_master
        if not master:
            rows = self.client.list_all(
                self._ps("Tasks"), {"$filter": "IsSubProject eq true", "$select": "Id", "$top": "1"}
            )
            master = bool(rows)
        if master:
            raise self._error(
                PermanentError,
                f"PWA project '{self.name}' is a master project (it holds inserted subprojects); Tandem does "
                "not write master projects: sync its subprojects instead, or remove it from the scenario",
            )

    def _cycle(self, plans: list[Plan]) -> None:
        try:
            self._check_out()
        except ConnectorError as exc:
            self._fail_all(exc, plans)
            return
        applied: list[Plan] = []
        try:
            published = self.conn.published_tasks(self.project_id, [p.task_id for p in plans if not p.create])
            drafts = self._draft_tasks([p.task_id for p in plans])
            for number, plan in enumerate(plans):
                try:
                    self._apply(plan, published, drafts)
                    applied.append(plan)
                except TransientError as exc:
                    self.results[plan.index] = WriteResult(error=exc)
                    self._not_attempted(plans[number + 1 :], exc)
                    break
                except ConnectorError as exc:
                    self.results[plan.index] = WriteResult(error=exc, warnings=plan.warnings)
                    continue
                self._since_save += 1
                if self._since_save >= self.options.max_tasks_per_save and number < len(plans) - 1:
                    # PWA refuses one change set much above 250 tasks: save the draft and go on.
                    self._save()
                    self._since_save = 0
            if applied:
                self._publish()
            else:
                self._check_in(force=False)
        except (JobFailed, JobInterrupted) as exc:
            self._fail_all(exc, plans)
            if self.options.force_checkin_on_failure:
                self._force_check_in()
            return
        except TransientError as exc:
            pending = [p for p in plans if self.results[p.index] is None]
            self._fail_all(
                self._error(
                    type(exc),
                    f"changes to project '{self.name}' were not published: {exc.message}",
                    retry_after=exc.retry_after,
                    status=exc.status,
                    code=exc.code,
                ),
                pending,
            )
            if not isinstance(exc, QueueTimeout):
                # A request failed: release the project (a job still running releases it itself).
                self._try_check_in()
            return
        except ConnectorError as exc:
            self._fail_all(exc, plans)
            self._try_check_in()
            return
        self._collect(applied)

    def _not_attempted(self, rest: list[Plan], exc: TransientError) -> None:
        kind = ThrottledError if isinstance(exc, ThrottledError) else TransientError
        for plan in rest:
            self.results[plan.index] = WriteResult(
                error=self._error(
                    kind,
                    f"write of {plan.write.id or 'a new task'} not attempted after: {exc.message}",
                    retry_after=exc.retry_after,
                    status=exc.status,
                    code=exc.code,
                )
            )

    def _collect(self, applied: list[Plan]) -> None:
        """Fresh published tasks for every applied write (their new versions)."""
        items: dict[str, Item] = {}
        try:
            for item in self.conn.read_project_tasks(
                self.project_id, [p.task_id for p in applied], self.project
            ):
                items[TaskRef.parse(item.id).task_id] = item
        except ConnectorError as exc:
            log.warning("project '%s' published, but re-reading its tasks failed: %s", self.name, exc)
        for plan in applied:
            if self.results[plan.index] is not None:
                continue
            item = items.get(plan.task_id)
            if item is None:
                self.results[plan.index] = WriteResult(
                    error=self._error(
                        TransientError,
                        f"task {plan.task_id} of project '{self.name}' was published but cannot be read "
                        "back yet; the write will be checked again",
                        retry_after=30.0,
                    ),
                    warnings=plan.warnings,
                )
            else:
                self.results[plan.index] = WriteResult(item=item, warnings=plan.warnings)

    # --- planning ------------------------------------------------------------------------------

    def _plan(self, index: int, w: Write, catalog: FieldCatalog) -> Plan:
        zone = self.conn.zone
        if w.is_create:
            correlation = w.correlation_id
            task_id = task_id_for(correlation) if correlation else str(uuid.uuid4())
            if not str(w.fields.get("Name") or "").strip():
                raise self._error(PermanentError, "a new PWA task needs a Name")
        else:
            task_id = TaskRef.parse(str(w.id)).task_id
        plan = Plan(index=index, write=w, task_id=task_id, create=w.is_create)
        prefix = self.options.project_field_prefix
        for name, value in w.fields.items():
            try:
                if name == ASSIGNED_TO:
                    plan.assign = (True, str(value).strip().lower() if value else None)
                elif name in WRITABLE:
                    plan.props[name] = draft_value(name, value, zone)
                elif name in READ_ONLY:
                    plan.warnings.append(f"'{name}' is computed by PWA and was not written")
                elif prefix and name.startswith(prefix):
                    plan.warnings.append(
                        f"'{name}' is a project field; task writes do not change it (edit the project)"
                    )
                else:
                    cf = catalog.find(name, "task")
                    if cf is None:
                        hint = name[len(CUSTOM_PREFIX) :] if name.startswith(CUSTOM_PREFIX) else name
                        raise self._stale(
                            f"PWA has no task field '{hint}': create the enterprise custom field "
                            "(Create fields, or PWA Settings → Enterprise Custom Fields) or fix the field "
                            "map",
                        )
                    try:
                        plan.custom[cf.internal_name] = (cf, cf.to_pwa(value, zone))
                    except ValueError as exc:
                        if cf.is_lookup:
                            raise self._stale(f"field '{name}': {exc}") from None
                        raise
            except ValueError as exc:
                raise self._error(PermanentError, f"field '{name}': {exc}") from None
        if w.set_parent or (w.is_create and w.parent_id):
            plan.parent = (True, self._parent_task(w.parent_id, plan))
        if w.is_create and w.correlation_id and self.options.correlation_field:
            cf = catalog.find(self.options.correlation_field, "task")
            if cf is None:
                plan.warnings.append(
                    f"task custom field '{self.options.correlation_field}' is missing, so the correlation id "
                    "was not stamped; run Create fields"
                )
            else:
                plan.custom[cf.internal_name] = (cf, w.correlation_id)
        return plan

    def _stale(self, message: str) -> Exception:
        error = self._error(PermanentError, message)
        return error if self._refreshed else _StaleCatalog(error)

    def _parent_task(self, parent_id: str | None, plan: Plan) -> str | None:
        if not parent_id:
            return None
        try:
            ref = TaskRef.parse(parent_id)
        except ValueError:
            raise self._error(PermanentError, f"parent '{parent_id}' is not a PWA task id") from None
        if ref.project_id and ref.project_id != self.project_id:
            plan.warnings.append(
                f"parent {parent_id} is in another project; the task was written without a parent"
            )
            return None
        return ref.task_id

    # --- check-out / publish --------------------------------------------------------------------

    def _check_out(self) -> None:
        try:
            self.client.write("POST", self._ps("checkOut()"))
        except ConnectorError as exc:
            number = pj_error_number(exc)
            if number == ALREADY_CHECKED_OUT_TO_YOU:
                # Left checked out by an earlier cycle of this account (a crash or a failed publish).
                log.info("project '%s' is already checked out to the sync account; continuing", self.name)
                return
            if number == CHECKED_OUT_TO_OTHER:
                raise self._error(
                    TransientError,
                    f"PWA project '{self.name}' is checked out to {self._holder()}; the write waits and "
                    f"retries in {self.options.checkout_retry_seconds:g} s. Ask them to close the project "
                    "in Project Professional or PWA, or have an administrator force a check-in "
                    "(PWA Settings → Force Check-in Enterprise Objects)",
                    retry_after=self.options.checkout_retry_seconds,
                    status=exc.status,
                    code=str(CHECKED_OUT_TO_OTHER),
                ) from None
            raise

    def _holder(self) -> str:
        try:
            raw = self.client.get(
                self.client.ps(f"Projects('{self.project_id}')"), {"$expand": "CheckedOutBy"}
            )
        except ConnectorError:
            return "another user"
        user = raw.get("CheckedOutBy") if isinstance(raw, dict) else None
        who = "another user"
        if isinstance(user, dict):
            title, email = user.get("Title"), user.get("Email")
            login = str(user.get("LoginName") or "").rsplit("|", 1)[-1]
            who = (
                f"{title} ({email or login})"
                if title and (email or login)
                else (title or email or login or who)
            )
        when = raw.get("CheckedOutDate") if isinstance(raw, dict) else None
        since = parse_when(when, self.conn)
        return f"{who} since {since}" if since else who

    def _publish(self) -> None:
        job = self.client.queue_job(self.client.write("POST", self._ps("Draft/publish(true)")))
        self._wait(job, "publish")

    def _save(self) -> None:
        job = self.client.queue_job(self.client.write("POST", self._ps("Draft/update()")))
        self._wait(job, "save")

    def _check_in(self, force: bool) -> None:
        flag = "true" if force else "false"
        job = self.client.queue_job(self.client.write("POST", self._ps(f"Draft/checkIn({flag})")))
        self._wait(job, "check-in")

    def _force_check_in(self) -> None:
        try:
            self._check_in(force=True)
        except ConnectorError as exc:
            log.warning("forced check-in of project '%s' failed: %s", self.name, exc)

    def _try_check_in(self) -> None:
        try:
            self._check_in(force=False)
        except ConnectorError as exc:
            log.warning("project '%s' stays checked out to the sync account: %s", self.name, exc)

    def _wait(self, job: QueueJob, what: str) -> None:
        """Poll the queue job until it succeeds; JobFailed or TransientError (time-out) otherwise."""
        clock, options = self.conn.clock, self.options
        deadline = clock() + options.queue_timeout_seconds
        delay = options.queue_poll_seconds
        url = self._ps(f"QueueJobs('{job.id}')")
        while job.state != JOB_SUCCESS:
            if job.state in JOB_DONE_BAD:
                raise self._job_failed(job, what)
            if clock() >= deadline:
                raise self._error(
                    QueueTimeout,
                    f"the {what} job {job.id} of project '{self.name}' is still {job.state_name} after "
                    f"{options.queue_timeout_seconds:g} s; PWA's queue is busy, the write will be checked "
                    "again",
                    retry_after=60.0,
                )
            hint = job.wait_ms / 1000 if job.wait_ms else 0.0
            self.conn.sleep(min(max(delay, hint), max(0.0, deadline - clock()), 10.0) or delay)
            delay = min(delay * 2, 5.0)
            try:
                job = self.client.queue_job(self.client.get(url))
            except NotFoundError:
                log.info("queue job %s of project '%s' is gone; taking it as done", job.id, self.name)
                return

    def _job_failed(self, job: QueueJob, what: str) -> ConnectorError:
        if job.state in (JOB_FAILED, JOB_CORRELATION_BLOCKED):
            return JobFailed(
                f"the {what} job {job.id} of PWA project '{self.name}' ended {job.state_name}; it blocks "
                "the project's later jobs: an administrator must retry or cancel it in PWA Settings → "
                "Manage Queue Jobs, then the writes can be retried",
                job=job,
                system=self.conn.system,
                code=f"JobState{job.state}",
            )
        return JobInterrupted(
            f"the {what} job {job.id} of PWA project '{self.name}' ended {job.state_name}; "
            "the writes will be retried",
            job=job,
            system=self.conn.system,
            code=f"JobState{job.state}",
        )

    # --- draft state ----------------------------------------------------------------------------

    def _draft_tasks(self, task_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        url = self._ps("Draft/Tasks")
        size = self.options.ids_per_request
        for start in range(0, len(task_ids), size):
            chunk = task_ids[start : start + size]
            params = {"$filter": ids_filter(chunk), "$select": "Id,Name,IsManual,IsSummary,ParentId,Modified"}
            for raw in self.client.list_all(url, params):
                found[str(uuid.UUID(str(raw["Id"])))] = raw
        return found

    # --- applying one write ---------------------------------------------------------------------

    def _apply(
        self, plan: Plan, published: dict[str, dict[str, Any]], drafts: dict[str, dict[str, Any]]
    ) -> None:
        draft = drafts.get(plan.task_id)
        if plan.create and draft is None:
            self._add(plan)
        else:
            if not plan.create:
                current = published.get(plan.task_id)
                if current is None and draft is None:
                    raise self._error(
                        NotFoundError, f"task {plan.task_id} does not exist in PWA project '{self.name}'"
                    )
                expected = plan.write.expected_version
                if expected and current is not None and version_of(expected) != version(current):
                    raise self._error(
                        VersionConflict,
                        f"task {plan.task_id} of project '{self.name}' was published again since version "
                        f"{expected}; re-read and merge",
                        status=412,
                    )
            state = draft or published.get(plan.task_id) or {}
            self._update(plan, state)
        if plan.assign[0]:
            self._assign(plan, new=plan.create and draft is None)

    def _add(self, plan: Plan) -> None:
        props = dict(plan.props)
        info: dict[str, Any] = {"Id": plan.task_id}
        for name in _CREATE_INFO:
            if name in props:
                info[name] = props.pop(name)
        dated = any(name in info for name in SCHEDULE_FIELDS)
        if dated and "IsManual" not in info:
            if self.options.allow_manual_mode:
                info["IsManual"] = True
            elif self.project is not None and not self.project.new_tasks_manual:
                plan.warnings.append(self._auto_warning(str(info.get("Name"))))
        if plan.parent[0] and plan.parent[1]:
            info["ParentId"] = plan.parent[1]
        body = self.client.parameters("PS.TaskCreationInformation", info)
        self.client.write("POST", self._ps("Draft/Tasks/Add"), body)
        self._patch(plan, props)

    def _update(self, plan: Plan, state: dict[str, Any]) -> None:
        props = dict(plan.props)
        if state.get("IsSummary"):
            dropped = [name for name in ROLLUP_FIELDS if name in props]
            for name in dropped:
                del props[name]
            if dropped:
                plan.warnings.append(
                    f"'{state.get('Name') or plan.task_id}' is a summary task: PWA rolls up "
                    f"{', '.join(dropped)} from its subtasks, so they were not written"
                )
        dated = any(name in props for name in SCHEDULE_FIELDS)
        if dated and not state.get("IsManual") and not props.get("IsManual"):
            if self.options.allow_manual_mode:
                # Switch first: an auto-scheduled task would have the dates rescheduled as they land.
                self._patch_task(plan.task_id, {"IsManual": True})
            else:
                plan.warnings.append(self._auto_warning(str(state.get("Name") or plan.task_id)))
        self._patch(plan, props)
        if plan.parent[0]:
            self._reparent(plan, state)

    def _auto_warning(self, name: str) -> str:
        return (
            f"task '{name}' is auto-scheduled and 'allow changing task mode to manual' is off: PWA may "
            "recalculate the dates written"
        )

    def _patch(self, plan: Plan, props: dict[str, Any]) -> None:
        body = dict(props)
        if self.options.task_custom_field_write == "patch":
            for cf, value in plan.custom.values():
                body[cf.json_name] = self._collection(value) if isinstance(value, list) else value
        if body:
            self._patch_task(plan.task_id, body)
        if self.options.task_custom_field_write == "set_custom_field_value":
            for cf, value in plan.custom.values():
                self.client.write(
                    "POST",
                    self._ps(f"Draft/Tasks('{plan.task_id}')/SetCustomFieldValue"),
                    {
                        "FieldName": cf.internal_name,
                        "Value": self._collection(value) if isinstance(value, list) else value,
                    },
                )

    def _collection(self, values: list[Any]) -> Any:
        if self.client.odata == "verbose":
            return {"__metadata": {"type": "Collection(Edm.String)"}, "results": values}
        return values

    def _patch_task(self, task_id: str, props: dict[str, Any]) -> None:
        body = self.client.body("PS.DraftTask", props)
        self.client.write("PATCH", self._ps(f"Draft/Tasks('{task_id}')"), body, if_match=True)

    def _reparent(self, plan: Plan, state: dict[str, Any]) -> None:
        wanted = plan.parent[1]
        current = state.get("ParentId")
        current = str(uuid.UUID(str(current))) if current else None
        summary = self.project.summary_task_id if self.project else None
        if current == summary:
            current = None
        if current == wanted:
            return
        target = wanted or summary
        if target is None:
            plan.warnings.append(
                "the task could not be moved to the top level: the project summary task is unknown"
            )
            return
        try:
            self._patch_task(plan.task_id, {"ParentId": target})
        except PermanentError as exc:
            plan.warnings.append(
                f"PWA refused to move task {plan.task_id} under {wanted or 'the project'} ({exc.message}); "
                "move it in Project Professional or PWA"
            )

    # --- assignments ----------------------------------------------------------------------------

    def _assign(self, plan: Plan, *, new: bool) -> None:
        _, email = plan.assign
        current = [] if new else self._draft_assignments(plan.task_id)
        resource_id: str | None = None
        if email:
            resource = self.conn.resource_for(email)
            if resource is None:
                plan.warnings.append(
                    f"no enterprise resource in PWA has the e-mail {email}; the task was written without "
                    "that assignment (add the person to the Resource Center with that e-mail)"
                )
                return
            resource_id = str(uuid.UUID(str(resource["Id"])))
            if not any(a["resource_id"] == resource_id for a in current):
                self._ensure_team(resource_id)
                body = self.client.parameters(
                    "PS.AssignmentCreationInformation",
                    {"Id": str(uuid.uuid4()), "ResourceId": resource_id, "TaskId": plan.task_id},
                )
                self.client.write("POST", self._ps("Draft/Assignments/Add"), body)
        for a in current:
            if a["resource_id"] == resource_id:
                continue
            if a["actual_hours"] > 0:
                plan.warnings.append(
                    f"the assignment of {a['email'] or a['resource_id']} was kept: it has "
                    f"{a['actual_hours']:g} h of actual work"
                )
                continue
            self.client.write("DELETE", self._ps(f"Draft/Assignments('{a['id']}')"), if_match=True)

    def _draft_assignments(self, task_id: str) -> list[dict[str, Any]]:
        rows = self.client.list_all(
            self._ps("Draft/Assignments"), {"$filter": f"TaskId eq guid'{task_id}'", "$expand": "Resource"}
        )
        out = []
        for r in rows:
            resource = r.get("Resource") if isinstance(r.get("Resource"), dict) else {}
            rid = r.get("ResourceId") or (resource or {}).get("Id")
            actual = r.get("ActualWorkMilliseconds")
            hours = (
                float(actual) / 3_600_000
                if isinstance(actual, int | float) and not isinstance(actual, bool)
                else 0.0
            )
            if not hours and r.get("ActualWork"):
                hours = parse_hours(r.get("ActualWork")) or 0.0
            out.append(
                {
                    "id": str(uuid.UUID(str(r["Id"]))),
                    "resource_id": str(uuid.UUID(str(rid))) if rid else None,
                    "email": (resource or {}).get("Email"),
                    "actual_hours": hours,
                }
            )
        return out

    def _ensure_team(self, resource_id: str) -> None:
        if self._team is None:
            rows = self.client.list_all(self._ps("Draft/ProjectResources"), {"$select": "Id"})
            self._team = {str(uuid.UUID(str(r["Id"]))) for r in rows if r.get("Id")}
        if resource_id in self._team:
            return
        answer = self.client.write(
            "POST", self._ps(f"Draft/ProjectResources/AddEnterpriseResourceById('{resource_id}')")
        )
        if isinstance(answer, dict) and "JobState" in answer:
            self._wait(self.client.queue_job(answer), "team")
        self._team.add(resource_id)


def parse_when(value: Any, conn: PwaConnector) -> str | None:
    return utc_iso(parse_pwa_date(value, conn.zone))
