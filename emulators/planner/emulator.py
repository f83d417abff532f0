"""`PlannerEmulator`: the Planner slice of Microsoft Graph v1.0 and an Entra token endpoint over real HTTP
on loopback (see the package docstring for the wire format and the control API)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from emulators.common import Emulator
from emulators.planner.app import Graph, Tokens, graph_routes, token_route
from emulators.planner.store import (
    ASSIGNMENT_TYPE,
    CATEGORIES,
    Config,
    GraphError,
    PlannerState,
    User,
)

if TYPE_CHECKING:
    from emulators.planner.control import Seed

DEFAULT_SECRET = "tandem-planner-emulator-secret"
DEFAULT_TENANT = "contoso"
DEFAULT_CLIENT_ID = "5b1c4e2a-7d3f-4c8b-9a6e-2f0d1c3b4a59"


class PlannerEmulator(Emulator):
    """Graph v1.0 Planner on ``http://{host}:{port}/v1.0`` with its token endpoint at
    ``http://{host}:{port}/{tenant}/oauth2/v2.0/token``.

    With the defaults, `client_secret` is also the service account's never-expiring bearer token and its
    first refresh token, so one secret drives every authentication kind."""

    kind = "planner"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_secret: str = DEFAULT_SECRET,
        access_token: str | None = None,
        refresh_token: str | None = None,
        tenant: str = DEFAULT_TENANT,
        client_id: str = DEFAULT_CLIENT_ID,
        page_size: int = 400,
        token_lifetime: int = 3599,
        latency_ms: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, base_path="/v1.0", latency_ms=latency_ms)
        self.client_secret = client_secret
        self.access_token = access_token or client_secret
        self.refresh_token = refresh_token or client_secret
        self.tenant = tenant
        self.client_id = client_id
        self.state = PlannerState(
            self.clock, self.counters, Config(page_size=page_size, token_lifetime=token_lifetime)
        )
        self.tokens = Tokens(tenant, client_id, client_secret, token_lifetime)
        self.service_user = self.add_user("Tandem Sync", f"tandem.sync@{tenant}.onmicrosoft.com")
        self._issue_static_tokens()
        graph = Graph(self.state, self.tokens, self.faults, lambda: self.base_url)
        from emulators.planner.control import control_routes

        self.app = Starlette(
            routes=[
                *control_routes(self),
                token_route(self.state, self.tokens, lambda: self.service_user.id),
                *graph_routes(graph),
            ]
        )

    def _issue_static_tokens(self) -> None:
        from emulators.planner.app import Caller

        caller = Caller(self.service_user.id, self.client_id)
        self.tokens.access[self.access_token] = (caller, None)
        self.tokens.refresh[self.refresh_token] = caller

    # Lifecycle (start, stop, context manager) and URLs (root_url, base_url ``…/v1.0``, control_url) come
    # from the emulator kit; the control API is the Planner's own (it mounts the kit's shared routes).

    @property
    def token_url(self) -> str:
        return f"{self.root_url}/{self.tenant}/oauth2/v2.0/token"

    def credentials(self) -> dict[str, str]:
        """What the emulator accepts (reported by ``tandem serve``); `password` is the one secret that serves
        as client secret, first refresh token and static bearer token."""
        return {
            "password": self.client_secret,
            "client_secret": self.client_secret,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "tenant": self.tenant,
            "client_id": self.client_id,
            "token_url": self.token_url,
            "authority": self.root_url,
        }

    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def configure(
        self,
        *,
        page_size: int | None = None,
        token_lifetime: int | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> None:
        with self.state.lock:
            if rate_limit_per_minute is not None:
                self.state.config.rate_limit_per_minute = rate_limit_per_minute or None
            if page_size is not None:
                self.state.config.page_size = page_size
            if token_lifetime is not None:
                self.state.config.token_lifetime = token_lifetime
                self.tokens.lifetime = token_lifetime

    def reset(self) -> None:
        """Empty the directory of plans, buckets and tasks; users and credentials stay."""
        with self.state.lock:
            for collection in (
                self.state.groups,
                self.state.plans,
                self.state.plan_details,
                self.state.buckets,
                self.state.tasks,
                self.state.task_details,
                self.state.conflict_next_details,
            ):
                collection.clear()
        self.counters.reset()
        self.faults.clear()

    # --- people and seeding -------------------------------------------------------------------------

    def add_user(self, display_name: str, mail: str | None, upn: str | None = None) -> User:
        with self.state.lock:
            return self.state.add_user(display_name, mail, upn)

    def user_id(self, email: str) -> str:
        with self.state.lock:
            key = email.lower()
            for user in self.state.users.values():
                if key in ((user.mail or "").lower(), user.upn.lower()):
                    return user.id
        raise ValueError(f"no user has the e-mail or UPN {email!r}")

    def seed_group(self, name: str = "Project Team") -> str:
        with self.state.lock:
            found = next((g for g, n in self.state.groups.items() if n == name), None)
            return found or self.state.add_group(name)

    def seed_plan(
        self,
        title: str,
        *,
        group: str = "Project Team",
        buckets: Iterable[str] = (),
        category_descriptions: Mapping[str, str | None] | None = None,
    ) -> str:
        """A plan in the group (created when missing) with named buckets; returns the plan id."""
        group_id = self.seed_group(group)
        with self.state.lock:
            plan = self.state.create_plan(
                {"title": title, "container": {"containerId": group_id}}, self._by()
            )
            plan_id = plan.body["id"]
            for name in buckets:
                self.state.create_bucket({"name": name, "planId": plan_id})
            if category_descriptions:
                details = self.state.plan_details[plan_id]
                self.state.update_plan_details(
                    plan_id, {"categoryDescriptions": dict(category_descriptions)}, details.etag
                )
            return plan_id

    def bucket_id(self, plan_id: str, name: str) -> str:
        with self.state.lock:
            for bucket in self.state.buckets.values():
                if bucket.body["planId"] == plan_id and bucket.body["name"] == name:
                    return str(bucket.body["id"])
        raise ValueError(f"plan {plan_id} has no bucket named {name!r}")

    def seed_task(
        self,
        plan_id: str,
        title: str,
        *,
        bucket: str | None = None,
        assignees: Iterable[str] = (),
        categories: Iterable[str] = (),
        description: str = "",
        **fields: Any,
    ) -> dict[str, Any]:
        """A task as a person would create it (`fields` by Graph names); returns its JSON."""
        body: dict[str, Any] = {"planId": plan_id, "title": title, **fields}
        if bucket is not None:
            body["bucketId"] = self.bucket_id(plan_id, bucket)
        people = {self.user_id(e): {"@odata.type": ASSIGNMENT_TYPE, "orderHint": " !"} for e in assignees}
        if people:
            body["assignments"] = people
        applied = {c: True for c in categories}
        if applied:
            body["appliedCategories"] = applied
        with self.state.lock:
            task = self.state.create_task(body, self._by())
            if description:
                tid = task.body["id"]
                self.state.update_details(
                    tid, {"description": description}, self.state.task_details[tid].etag, self._by()
                )
            return task.json()

    def seed_tasks(self, plan_id: str, count: int, prefix: str = "Task") -> None:
        """Many plain tasks at once (benchmarks): no per-task lookups."""
        with self.state.lock:
            for n in range(1, count + 1):
                self.state.create_task({"planId": plan_id, "title": f"{prefix} {n}"}, self._by())

    def edit_task(
        self, task_id: str, task: Mapping[str, Any] | None = None, details: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A person's change in Planner (the UI always holds the current ETag); returns the task JSON."""
        with self.state.lock:
            current = self.state.task(task_id)
            if task:
                self.state.update_task(task_id, dict(task), current.etag, self._by())
            if details:
                etag = self.state.task_details[task_id].etag
                self.state.update_details(task_id, dict(details), etag, self._by())
            return self.state.task(task_id).json()

    def conflict_next_details(self, task_id: str, times: int = 1) -> None:
        """The next `times` details updates of the task answer 409, as when they race a task update."""
        with self.state.lock:
            self.state.task(task_id)
            self.state.conflict_next_details[task_id] = times

    def task(self, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.task(task_id).json()

    def task_details(self, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.details(task_id).json()

    def tasks(self, plan_id: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return [t.json() for t in self.state.plan_tasks(plan_id)]

    def apply_seed(self, seed: Seed) -> dict[str, Any]:
        """What ``POST /_emulator/seed`` does; returns the created ids."""
        out: dict[str, Any] = {"users": [], "plans": []}
        for u in seed.users:
            user = self.add_user(u.displayName, u.mail, u.userPrincipalName)
            out["users"].append(user.json())
        for p in seed.plans:
            unknown = [c for c in p.categoryDescriptions if c not in CATEGORIES]
            if unknown:
                raise GraphError(400, "BadRequest", f"unknown categories {unknown}")
            plan_id = self.seed_plan(
                p.title, group=p.group, buckets=p.buckets, category_descriptions=p.categoryDescriptions
            )
            tasks = [
                self.seed_task(
                    plan_id,
                    t.title,
                    bucket=t.bucket,
                    assignees=t.assignees,
                    categories=t.appliedCategories,
                    description=t.description,
                    percentComplete=t.percentComplete,
                    priority=t.priority,
                    **{
                        k: v
                        for k, v in (("startDateTime", t.startDateTime), ("dueDateTime", t.dueDateTime))
                        if v
                    },
                )["id"]
                for t in p.tasks
            ]
            if p.generatedTasks:
                self.seed_tasks(plan_id, p.generatedTasks)
            out["plans"].append({"id": plan_id, "title": p.title, "tasks": tasks})
        return out

    def _by(self) -> dict[str, Any]:
        return {"user": {"displayName": None, "id": self.service_user.id}}
