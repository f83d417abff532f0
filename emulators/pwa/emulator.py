"""`PwaEmulator`: one Project Online site or Project Server instance served over real HTTP on loopback,
wiring the store, queue, reporting feed, authentication and the control API together (see the package
docstring for the wire format and the control API)."""

from __future__ import annotations

import argparse
import base64
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, Self

from starlette.responses import Response
from starlette.routing import Route

from emulators.common import Emulator
from emulators.pwa.app import Env, PwaApp, token_route
from emulators.pwa.auth import AuthService, NtlmAcceptor
from emulators.pwa.control import Seed, control_error, vendor_routes
from emulators.pwa.errors import PwaError
from emulators.pwa.model import (
    FIELD_TYPES,
    AssignmentData,
    CustomField,
    LookupTable,
    Project,
    Resource,
    TaskData,
    User,
    new_guid,
)
from emulators.pwa.render import Fmt, PsBuilder, to_json
from emulators.pwa.routes_data import ROUTES as DATA_ROUTES
from emulators.pwa.routes_ps import ROUTES as PS_ROUTES
from emulators.pwa.store import Config, PwaState
from emulators.pwa.values import parse_date

Flavor = Literal["online", "server"]

DEFAULT_PASSWORD = "tandem-emulator-password"
DEFAULT_ACCESS_TOKEN = DEFAULT_PASSWORD  # with the defaults the password doubles as a static bearer token
DEFAULT_REFRESH_TOKEN = DEFAULT_PASSWORD  # … and as the first refresh token
DEFAULT_TENANT = "contoso"
DEFAULT_CLIENT_ID = "7c3a1f52-2b8e-4a55-9d0c-5d1b6c1c9f10"

PROJECT_ENTITY_ID = "a2a4d5f1-3b0e-4d6c-9c1f-4f7e0c0d1a01"
TASK_ENTITY_ID = "b3b5e6a2-4c1f-4e7d-8d2a-5a8f1d1e2b02"
RESOURCE_ENTITY_ID = "c4c6f7b3-5d2a-4f8e-9e3b-6b9a2e2f3c03"
ASSIGNMENT_ENTITY_ID = "d5d7a8c4-6e3b-4a9f-8f4c-7c0b3f3a4d04"
ENTITY_TYPE_IDS: dict[str, str] = {
    "project": PROJECT_ENTITY_ID,
    "task": TASK_ENTITY_ID,
    "resource": RESOURCE_ENTITY_ID,
    "assignment": ASSIGNMENT_ENTITY_ID,
}


class PwaEmulator(Emulator):
    """A Project Online site (``flavor="online"``, bearer tokens) or a Project Server instance
    (``flavor="server"``, Windows account via HTTP Basic) on ``http://{host}:{port}``.

    With the defaults, `password` is also the service account's never-expiring bearer token and its first
    refresh token, so one secret drives every authentication option."""

    kind = "pwa"
    seed_model = Seed
    control_errors = (PwaError,)

    def __init__(
        self,
        flavor: Flavor = "online",
        *,
        site: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        password: str = DEFAULT_PASSWORD,
        access_token: str | None = None,
        refresh_token: str | None = None,
        tenant: str = DEFAULT_TENANT,
        client_id: str = DEFAULT_CLIENT_ID,
        time_zone: str = "UTC",
        queue_delay: float = 0.2,
        reporting_delay: float = 1.0,
        project_data_page_size: int = 100,
        digest_required_with_bearer: bool = True,
        token_lifetime: int = 3599,
        rate_limit_per_minute: int | None = None,
        latency_ms: int = 0,
        ntlm: bool = True,
    ) -> None:
        if flavor not in ("online", "server"):
            raise ValueError(f"flavor must be 'online' or 'server', not {flavor!r}")
        self.flavor: Flavor = flavor
        self.site_path = "/" + (site or ("sites/pwa" if flavor == "online" else "pwa")).strip("/")
        super().__init__(host=host, port=port, base_path=self.site_path, latency_ms=latency_ms)
        self.password = password
        self.access_token = access_token or password
        self.refresh_token = refresh_token or password
        self.tenant = tenant
        self.client_id = client_id
        self.config = Config(
            flavor=flavor,
            time_zone=time_zone,
            queue_delay=queue_delay,
            reporting_delay=reporting_delay,
            project_data_page_size=project_data_page_size,
            digest_required_with_bearer=digest_required_with_bearer,
            token_lifetime=token_lifetime,
            rate_limit_per_minute=rate_limit_per_minute,
        )
        self.config.zone  # noqa: B018 - fail early on an unknown time zone
        self.state = PwaState(self.config, self.clock, self.counters)
        self.auth = AuthService(flavor, self.clock, tenant, client_id, token_lifetime)
        if flavor == "server" and ntlm:
            self.auth.ntlm = NtlmAcceptor()
        if flavor == "online":
            email = username or f"tandem.sync@{tenant}.onmicrosoft.com"
            self.service_user = self.add_user(email, "Tandem Sync", password=password, admin=True)
            self.auth.add_access_token(self.access_token, self.service_user)
            self.auth.refresh_tokens[self.refresh_token] = self.service_user
        else:
            account = username or "CONTOSO\\tandem"
            self.service_user = self.add_user(
                "tandem@contoso.com", "Tandem Sync", password=password, admin=True, account=account
            )
        env = Env(
            state=self.state,
            auth=self.auth,
            faults=self.faults,
            counters=self.counters,
            clock=self.clock,
            site_path=self.site_path,
            root_url=lambda: self.root_url,
        )
        extra = [token_route(env)] if flavor == "online" else []
        self.app = PwaApp(env, [*PS_ROUTES, *DATA_ROUTES], self.control_routes(), extra)

    # --- the kit's hooks ---------------------------------------------------------------------------

    @property
    def thread_name(self) -> str:
        return f"pwa-{self.flavor}"

    def before_stop(self) -> None:
        if self.auth.ntlm is not None:
            self.auth.ntlm.connections.clear()

    def extra_control_routes(self, prefix: str) -> list[Route]:
        return vendor_routes(self, prefix)

    def control_error(self, exc: Exception) -> Response:
        return control_error(exc)

    def reset_state(self) -> None:
        """Back to an empty site (users and credentials stay): no projects or fields."""
        with self.state.lock:
            self.state.reset()

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--flavor", choices=("online", "server"), default="online")
        parser.add_argument("--password", default=DEFAULT_PASSWORD)
        parser.add_argument("--time-zone", default="UTC")
        parser.add_argument("--queue-delay", type=float, default=0.2)
        parser.add_argument("--reporting-delay", type=float, default=1.0)

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Self:
        return cls(
            args.flavor,
            password=args.password,
            time_zone=args.time_zone,
            queue_delay=args.queue_delay,
            reporting_delay=args.reporting_delay,
            **cls.common_options(args),
        )

    def standalone_info(self) -> dict[str, Any]:
        return {"flavor": self.flavor, "credentials": self.credentials()}

    @property
    def token_url(self) -> str:
        return f"{self.root_url}/{self.tenant}/oauth2/v2.0/token"

    def credentials(self) -> dict[str, str]:
        """What the emulator accepts for the service account (reported by ``tandem serve``)."""
        user = self.service_user
        if self.flavor == "server":
            return {"username": user.account, "password": self.password}
        return {
            "username": user.email,
            "password": self.password,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "tenant": self.tenant,
            "client_id": self.client_id,
            "token_url": self.token_url,
        }

    def auth_header(self, user: User | str | None = None) -> dict[str, str]:
        """Request headers authenticating as the service account or as a person added with a password."""
        with self.state.lock:
            who = self.state.require_user(user)
        if self.flavor == "server":
            if who.password is None:
                raise ValueError(f"{who.email} has no password")
            token = base64.b64encode(f"{who.account}:{who.password}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        if who is self.service_user:
            return {"Authorization": f"Bearer {self.access_token}"}
        with self.state.lock:
            token = next(
                (t for t, i in self.auth.access_tokens.items() if i.user is who and i.expires is None), None
            )
            if token is None:
                token = f"token-for-{who.id}-{self.password}"
                self.auth.add_access_token(token, who)
        return {"Authorization": f"Bearer {token}"}

    # --- users ----------------------------------------------------------------------------------

    def add_user(
        self,
        email: str,
        display_name: str,
        *,
        password: str | None = None,
        admin: bool = False,
        can_write: bool = True,
        can_report: bool = True,
        account: str | None = None,
    ) -> User:
        with self.state.lock:
            if self.flavor == "online":
                login = f"i:0#.f|membership|{email.lower()}"
                account = account or email
            else:
                account = account or f"CONTOSO\\{email.split('@', 1)[0]}"
                login = f"i:0#.w|{account.lower()}"
            user = User(
                len(self.state.users) + 10,
                email,
                display_name,
                login,
                account,
                password,
                admin,
                can_write,
                can_report,
            )
            return self.state.add_user(user)

    # --- seeding --------------------------------------------------------------------------------

    def seed_lookup_table(self, name: str, entries: Iterable[str]) -> LookupTable:
        with self.state.lock:
            return self.state.add_lookup_table(name, [(None, e, "", None) for e in entries])

    def seed_custom_field(
        self,
        name: str,
        field_type: str | int = "text",
        *,
        entity: str = "task",
        lookup_table: LookupTable | str | None = None,
        field_id: str | None = None,
    ) -> CustomField:
        kind = FIELD_TYPES[field_type] if isinstance(field_type, str) else field_type
        with self.state.lock:
            table_id = None
            if isinstance(lookup_table, LookupTable):
                table_id = lookup_table.id
            elif isinstance(lookup_table, str):
                table_id = next(
                    (t.id for t in self.state.lookup_tables.values() if lookup_table in (t.name, t.id)), None
                )
                if table_id is None:
                    raise ValueError(f"unknown lookup table {lookup_table!r}")
            return self.state.add_custom_field(
                name, kind, entity, lookup_table_id=table_id, field_id=field_id
            )

    def seed_resource(self, name: str, email: str, *, generic: bool = False) -> Resource:
        with self.state.lock:
            return self.state.add_resource(name, email, generic=generic)

    def seed_project(
        self,
        name: str,
        *,
        custom_fields: Mapping[str, Any] | None = None,
        description: str = "",
        start: str | datetime | None = None,
        master: bool = False,
        subprojects: Iterable[str] = (),
        project_id: str | None = None,
    ) -> Project:
        """A published, checked-in project (raises ValueError when the name exists)."""
        with self.state.lock:
            state = self.state
            begin = parse_date(start, self.config.zone) if isinstance(start, str) else start
            custom = state.cf_from_display("project", dict(custom_fields or {}))
            project = state.create_project(
                name,
                self.service_user,
                project_id=project_id,
                description=description,
                start=begin,
                project_type=6 if master else 0,
                custom=custom,
            )
            for sub_name in subprojects:
                try:
                    sub = state.find_project(sub_name)
                except ValueError:
                    sub = state.create_project(sub_name, self.service_user, project_type=5)
                task = self._seed_task(project, sub_name, None, {})
                task.is_subproject = True
                task.subproject_id = sub.id
                self._republish(project)
            return project

    def seed_task(
        self,
        project: Project | str,
        name: str,
        *,
        parent: TaskData | str | None = None,
        start: str | datetime | None = None,
        finish: str | datetime | None = None,
        duration: str | None = None,
        work: str | None = None,
        actual_work: str | None = None,
        percent_complete: int | None = None,
        is_manual: bool = False,
        notes: str = "",
        custom_fields: Mapping[str, Any] | None = None,
        assignments: Iterable[str] = (),
        task_id: str | None = None,
    ) -> TaskData:
        """Add a published task (draft API rules apply to its values); visible in ProjectData at once."""
        with self.state.lock:
            proj = self.state.find_project(project)
            if proj.checkout is not None:
                raise ValueError(f"{proj.name} is checked out; seed before checking it out")
            fields: dict[str, Any] = {"IsManual": is_manual}
            for key, value in (
                ("Start", start),
                ("Finish", finish),
                ("Duration", duration),
                ("Work", work),
                ("ActualWork", actual_work),
                ("PercentComplete", percent_complete),
            ):
                if value is not None:
                    fields[key] = value.isoformat() if isinstance(value, datetime) else value
            if notes:
                fields["Notes"] = notes
            parent_id = parent.id if isinstance(parent, TaskData) else parent
            if parent_id is not None and proj.saved.task(parent_id) is None:
                match = next((t for t in proj.saved.tasks if t.name == parent_id), None)
                if match is None:
                    raise ValueError(f"unknown parent task {parent_id!r}")
                parent_id = match.id
            task = self._seed_task(proj, name, parent_id, fields, task_id=task_id)
            task.custom.update(self.state.cf_from_display("task", dict(custom_fields or {})))
            for email in assignments:
                resource = self.state.resource_by_email(email)
                now = self.state.now()
                proj.saved.assignments.append(AssignmentData(new_guid(), task.id, resource.id, now, now))
                if resource.id not in proj.saved.team:
                    proj.saved.team.append(resource.id)
                if task.work == 0:
                    task.work = task.duration
            proj.saved.rollup()
            self._republish(proj)
            return task

    def _seed_task(
        self,
        project: Project,
        name: str,
        parent_id: str | None,
        fields: dict[str, Any],
        task_id: str | None = None,
    ) -> TaskData:
        state = project.saved
        info: dict[str, Any] = {"Name": name, "IsManual": bool(fields.get("IsManual", False))}
        if task_id:
            info["Id"] = task_id
        if parent_id:
            info["ParentId"] = parent_id
        task = self.state.new_task(project, state, info)
        rest = {k: v for k, v in fields.items() if k != "IsManual"}
        if rest:
            self.state.apply_task_fields(state, task, rest, "PS.DraftTask")
        now = self.state.now()
        task.created = task.modified = now
        state.modified = now
        return task

    def _republish(self, project: Project) -> None:
        project.saved.rollup()
        project.published = project.saved.clone()
        project.last_published = project.last_saved = self.state.now()
        self.state.reporting.schedule(project.id, self.state.snapshot(project), self.clock.timestamp())

    def apply_seed(self, seed: Seed) -> dict[str, Any]:
        """What ``POST /_emulator/seed`` does."""
        out: dict[str, Any] = {
            "users": [],
            "resources": [],
            "lookupTables": [],
            "customFields": [],
            "projects": [],
        }
        for u in seed.users:
            user = self.add_user(
                u.email,
                u.displayName,
                password=u.password,
                admin=u.admin,
                can_write=u.canWrite,
                can_report=u.canReport,
            )
            out["users"].append({"id": user.id, "email": user.email, "loginName": user.login_name})
        for r in seed.resources:
            resource = self.seed_resource(r.name, r.email, generic=r.generic)
            out["resources"].append({"id": resource.id, "name": resource.name})
        for t in seed.lookupTables:
            table = self.seed_lookup_table(t.name, t.entries)
            out["lookupTables"].append(
                {
                    "id": table.id,
                    "name": table.name,
                    "entries": {e.value: e.internal_name for e in table.entries},
                }
            )
        for c in seed.customFields:
            cf = self.seed_custom_field(c.name, c.type, entity=c.entity, lookup_table=c.lookupTable)
            out["customFields"].append({"id": cf.id, "name": cf.name, "internalName": cf.internal_name})
        for p in seed.projects:
            project = self.seed_project(
                p.name,
                custom_fields=p.customFields,
                description=p.description,
                start=p.start,
                master=p.master,
                subprojects=p.subprojects,
            )
            tasks = []
            for t in p.tasks:
                task = self.seed_task(
                    project,
                    t.name,
                    parent=t.parent,
                    start=t.start,
                    finish=t.finish,
                    duration=t.duration,
                    work=t.work,
                    actual_work=t.actualWork,
                    percent_complete=t.percentComplete,
                    is_manual=t.isManual,
                    notes=t.notes,
                    custom_fields=t.customFields,
                    assignments=t.assignments,
                )
                tasks.append({"id": task.id, "name": task.name})
            out["projects"].append({"id": project.id, "name": project.name, "tasks": tasks})
        return out

    # --- simulated people and admin actions -------------------------------------------------------

    def edit_task(
        self,
        project: Project | str,
        task: TaskData | str,
        fields: Mapping[str, Any],
        *,
        by: str | None = None,
        publish: bool = True,
    ) -> None:
        """A person changes a task in PWA and publishes (REST property or custom field display names)."""
        self.edit_project(
            project, {task.id if isinstance(task, TaskData) else task: dict(fields)}, by=by, publish=publish
        )

    def edit_project(
        self,
        project: Project | str,
        tasks: Mapping[str, Mapping[str, Any]],
        *,
        custom_fields: Mapping[str, Any] | None = None,
        by: str | None = None,
        publish: bool = True,
    ) -> None:
        with self.state.lock:
            self.state.tick()
            proj = self.state.find_project(project)
            user = self.state.require_user(by)
            self.state.person_edit(
                proj, user, {k.lower(): dict(v) for k, v in tasks.items()}, dict(custom_fields or {}), publish
            )

    def set_checkout(self, project: Project | str, user: str | User) -> None:
        """Someone (by e-mail) holds the project checked out, as if it were open in Project Professional."""
        with self.state.lock:
            self.state.force_checkout(self.state.find_project(project), self.state.require_user(user))

    def release_checkout(self, project: Project | str) -> None:
        with self.state.lock:
            self.state.release(self.state.find_project(project))

    def fail_next_job(
        self, project: Project | str | None = None, *, message_type: int | None = None, times: int = 1
    ) -> None:
        with self.state.lock:
            pid = self.state.find_project(project).id if project is not None else None
            self.state.queue.fail_next(pid, message_type, times)

    def run_queue(self) -> None:
        """Advance queue jobs to the current emulator time (requests do this on their own)."""
        with self.state.lock:
            self.state.tick()

    def queue_idle(self) -> bool:
        with self.state.lock:
            self.state.tick()
            return all(j.state in (4, 5, 9) for j in self.state.queue.jobs)

    def configure(self, **changes: Any) -> None:
        """Change `Config` fields while running, e.g. ``configure(reporting_delay=0, ps_page_size=10)``."""
        with self.state.lock:
            for name, value in changes.items():
                if not hasattr(self.config, name):
                    raise ValueError(f"unknown setting {name!r}")
                setattr(self.config, name, value)
            self.auth.token_lifetime = self.config.token_lifetime

    # --- inspection -------------------------------------------------------------------------------

    def project(self, ref: Project | str) -> Project:
        with self.state.lock:
            return self.state.find_project(ref)

    def checkouts(self, project: Project | str) -> int:
        return self.counters.writes(f"checkout:{self.project(project).id}")

    def publishes(self, project: Project | str) -> int:
        return self.counters.writes(f"publish:{self.project(project).id}")

    def published_task(self, project: Project | str, task: TaskData | str) -> dict[str, Any]:
        return self._task_json(project, task, draft=False)

    def draft_task(self, project: Project | str, task: TaskData | str) -> dict[str, Any]:
        return self._task_json(project, task, draft=True)

    def _task_json(self, project: Project | str, task: TaskData | str, *, draft: bool) -> dict[str, Any]:
        with self.state.lock:
            self.state.tick()
            proj = self.state.find_project(project)
            state = proj.draft() if draft else proj.published
            task_id = task.id if isinstance(task, TaskData) else task
            found = state.task(task_id) or next((t for t in state.tasks if t.name == task_id), None)
            if found is None:
                raise ValueError(f"no task {task_id!r} in {proj.name}")
            entity = PsBuilder(self.state).task(proj, state, found, state.outline()[found.id], draft=draft)
            return to_json(entity, Fmt("nometadata", f"{self.base_url}/_api/"), None, None)

    def describe(self) -> dict[str, Any]:
        with self.state.lock:
            self.state.tick()
            return {
                "flavor": self.flavor,
                "baseUrl": self.base_url,
                "tokenUrl": self.token_url if self.flavor == "online" else None,
                "config": {
                    "timeZone": self.config.time_zone,
                    "queueDelay": self.config.queue_delay,
                    "reportingDelay": self.config.reporting_delay,
                    "projectDataPageSize": self.config.project_data_page_size,
                    "psPageSize": self.config.ps_page_size,
                    "digestRequiredWithBearer": self.config.digest_required_with_bearer,
                    "rateLimitPerMinute": self.config.rate_limit_per_minute,
                    "maxRequestBytes": self.config.max_request_bytes,
                    "tokenLifetime": self.config.token_lifetime,
                },
                "entityTypes": ENTITY_TYPE_IDS,
                **self.state.describe(),
            }
