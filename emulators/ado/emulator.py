"""`AdoEmulator`: one Azure DevOps Services organization or Server collection served over real HTTP on
loopback, wiring the store, WIQL, service hooks and the control API together.

Python API (see the package docstring for the HTTP control API)::

    with AdoEmulator("services", pat="secret") as ado:          # ado.base_url == http://127.0.0.1:PORT/contoso
        project = ado.seed_project("Fabrikam", process="Agile")
        item_id = ado.seed_work_item("Fabrikam", "Task", {"System.Title": "Write docs"})
        ado.faults.add(endpoint="wit.wiql", status=429, retry_after=1, times=2)
        ado.counters.calls("wit.workitems.*"); ado.counters.writes("update")
        ado.hooks.wait_idle(); ado.hooks.delivered_payloads("workitem.updated")
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Self

from starlette.responses import Response
from starlette.routing import Route

from emulators.ado.app import AdoApp, AdoConfig, Env
from emulators.ado.control import Seed, control_error, vendor_routes
from emulators.ado.directory import Directory
from emulators.ado.errors import AdoError
from emulators.ado.hooks import HookPolicy, HookService
from emulators.ado.identities import IdentityDirectory, User
from emulators.ado.operations import Operations
from emulators.ado.pipelines_seed import pipelines_control_routes, seed_sample
from emulators.ado.pipelines_store import PipelinesState
from emulators.ado.processes import FieldDef, ProcessDef, parse_field_kind
from emulators.ado.render import Renderer
from emulators.ado.routes_batch import ROUTES as BATCH_ROUTES
from emulators.ado.routes_classification import ROUTES as CLASSIFICATION_ROUTES
from emulators.ado.routes_core import ROUTES as CORE_ROUTES
from emulators.ado.routes_entitlements import ROUTES as ENTITLEMENT_ROUTES
from emulators.ado.routes_graph import ROUTES as GRAPH_ROUTES
from emulators.ado.routes_pipelines import ROUTES as PIPELINES_ROUTES
from emulators.ado.routes_process import ROUTES as PROCESS_ROUTES
from emulators.ado.routes_projects import ROUTES as PROJECT_ROUTES
from emulators.ado.routes_query import ROUTES as QUERY_ROUTES
from emulators.ado.routes_release import ROUTES as RELEASE_ROUTES
from emulators.ado.routes_wit import ROUTES as WIT_ROUTES
from emulators.ado.store import AdoState, Project
from emulators.common import Emulator, ServerThread

Flavor = Literal["services", "server"]

DEFAULT_PAT = "tandem-emulator-pat"
DEFAULT_ORG = "contoso"
DEFAULT_COLLECTION = "DefaultCollection"


class AdoEmulator(Emulator):
    """An Azure DevOps Services organization (``flavor="services"``) or Server collection
    (``flavor="server"``) on ``http://{host}:{port}``.

    The PAT (basic auth, any user name) belongs to the first user of the directory ("Tandem Sync" by
    default); `add_pat` gives other users their own PATs so tests can act as people. `bearer_token`
    (Services only, as Entra tokens do not exist on-prem) is accepted as ``Authorization: Bearer``."""

    kind = "ado"
    seed_model = Seed
    control_errors = (AdoError,)

    def __init__(
        self,
        flavor: Flavor = "services",
        *,
        org_or_collection: str | None = None,
        pat: str = DEFAULT_PAT,
        bearer_token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        users: Iterable[User] | None = None,
        max_api_version: str = "7.1",
        wiql_max_results: int = 20_000,
        batch_limit: int = 200,
        hook_policy: HookPolicy | None = None,
        latency_ms: int = 0,
        suppress_notifications_skips_hooks: bool = False,
    ) -> None:
        if flavor not in ("services", "server"):
            raise ValueError(f"flavor must be 'services' or 'server', not {flavor!r}")
        if bearer_token is not None and flavor == "server":
            raise ValueError("Azure DevOps Server does not accept Entra ID bearer tokens; use a PAT")
        self.flavor: Flavor = flavor
        self.name = org_or_collection or (DEFAULT_ORG if flavor == "services" else DEFAULT_COLLECTION)
        self.pat = pat
        base_path = f"/{self.name}" if flavor == "services" else f"/tfs/{self.name}"
        super().__init__(host=host, port=port, base_path=base_path, latency_ms=latency_ms)
        self.identities = IdentityDirectory(flavor, users=users, base_url=lambda: self.base_url)
        self.state = AdoState(self.identities, self.clock, collection_name=self.name)
        self.pipelines = PipelinesState(flavor, self.clock.now)
        self.config = AdoConfig(
            flavor=flavor,
            base_path=base_path,
            max_api_version=max_api_version,
            preview_api_version="7.2" if flavor == "services" and max_api_version == "7.1" else None,
            wiql_max_results=wiql_max_results,
            batch_limit=batch_limit,
        )
        service_user = self.identities.first()
        self.config.pats[pat] = service_user
        if bearer_token is not None:
            self.config.bearer_tokens[bearer_token] = service_user
        self.renderer = Renderer(self.state, lambda: self.base_url)
        # Services only: Server manages licences in its admin console (the routes answer 404 there).
        self.directory = Directory(self.name, self.state.collection_id)
        self.operations = Operations(polls_before_done=1)
        self.hooks = HookService(
            self.state,
            self.renderer,
            self.clock,
            flavor=flavor,
            policy=hook_policy,
            suppress_notifications_skips_hooks=suppress_notifications_skips_hooks,
        )
        env = Env(
            config=self.config,
            state=self.state,
            renderer=self.renderer,
            hooks=self.hooks,
            faults=self.faults,
            counters=self.counters,
            clock=self.clock,
            base_url=lambda: self.base_url,
            pipelines=self.pipelines,
            release_url=lambda: self.release_url,
            directory=self.directory,
            operations=self.operations,
        )
        # Release management lives on its own host on Services (vsrm.dev.azure.com/{org}), with the same
        # credentials; on Server it is part of the collection. `release_url` says where.
        separate_release_host = flavor == "services"
        self.app = AdoApp(
            env,
            [
                *CORE_ROUTES,
                *WIT_ROUTES,
                *QUERY_ROUTES,
                *BATCH_ROUTES,
                *CLASSIFICATION_ROUTES,
                *PROCESS_ROUTES,
                *PIPELINES_ROUTES,
                *([] if separate_release_host else RELEASE_ROUTES),
                *PROJECT_ROUTES,
                *ENTITLEMENT_ROUTES,
                *GRAPH_ROUTES,
            ],
            self.control_routes(),
        )
        self.release_app: AdoApp | None = (
            AdoApp(dataclasses.replace(env), RELEASE_ROUTES, self.control_routes())
            if separate_release_host
            else None
        )
        self._release_server: ServerThread | None = None
        self._release_port = 0

    # --- the kit's hooks ---------------------------------------------------------------------------

    @property
    def thread_name(self) -> str:
        return f"ado-{self.flavor}"

    def after_start(self) -> None:
        if self.release_app is not None:
            self._release_server = ServerThread(
                self.release_app, self.host, 0, name=f"ado-{self.flavor}-vsrm"
            )
            self._release_port = self._release_server.start()
        self.hooks.start()

    def before_stop(self) -> None:
        self.hooks.stop()
        if self._release_server is not None:
            self._release_server.stop()
            self._release_server = None

    def extra_control_routes(self, prefix: str) -> list[Route]:
        return [*vendor_routes(self, prefix), *pipelines_control_routes(self, prefix)]

    def control_error(self, exc: Exception) -> Response:
        return control_error(exc)

    def reset_state(self) -> None:
        """Back to an empty organization: no projects, items, subscriptions, pipelines or entitlements."""
        self.hooks.reset()
        self.state.reset()
        self.pipelines.reset()
        self.directory.reset()
        self.operations.reset()

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--flavor", choices=("services", "server"), default="services")
        parser.add_argument("--name", help="organization (services) or collection (server) name")
        parser.add_argument("--pat", default=DEFAULT_PAT)
        parser.add_argument("--bearer-token", help="also accept this Entra bearer token (services only)")
        parser.add_argument("--max-api-version", default="7.1")

    @property
    def release_url(self) -> str:
        """Where release definitions are served: a second port standing for vsrm.dev.azure.com/{org} on
        Services (found by clients through `_apis/resourceAreas`), the collection URL on Server."""
        if self.release_app is None:
            return self.base_url
        return f"http://{self.host}:{self._release_port}{self.config.base_path}"

    def seed_pipelines_sample(self, project: str) -> dict[str, Any]:
        """A classic release definition with a task group (1.*), a service connection, a variable group
        and an agent queue on pool Default, in `project` (which must exist); returns their ids."""
        return seed_sample(self, project)

    @property
    def control_url(self) -> str:
        return f"{self.root_url}/_emulator"

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Self:
        return cls(
            args.flavor,
            org_or_collection=args.name,
            pat=args.pat,
            bearer_token=args.bearer_token,
            max_api_version=args.max_api_version,
            **cls.common_options(args),
        )

    def standalone_info(self) -> dict[str, Any]:
        return {"flavor": self.flavor, "pat": self.pat}

    # --- seeding and configuration ----------------------------------------------------------------

    def seed_project(
        self,
        name: str,
        process: str = "Agile",
        *,
        description: str = "",
        areas: Iterable[str] = (),
        iterations: Iterable[str] = ("Sprint 1", "Sprint 2", "Sprint 3"),
    ) -> Project:
        return self.state.seed_project(
            name, process, description=description, areas=areas, iterations=iterations
        )

    def seed_work_item(
        self,
        project: str,
        type_name: str,
        fields: Mapping[str, Any] | None = None,
        *,
        parent: int | None = None,
        by: User | str | None = None,
        notify: bool = False,
    ) -> int:
        """Create a work item directly (rules bypassed, no hooks unless `notify`); returns its id."""
        return self.state.create_work_item(project, type_name, fields, parent=parent, by=by, notify=notify).id

    def add_user(
        self, display_name: str, unique_name: str, *, email: str | None = None, pat: str | None = None
    ) -> User:
        user = self.identities.add_user(display_name, unique_name, email=email)
        if pat is not None:
            self.add_pat(pat, user)
        return user

    def add_pat(self, pat: str, user: User | str) -> User:
        resolved = user if isinstance(user, User) else self.identities.resolve(user)
        if resolved is None:
            raise ValueError(f"unknown user {user!r}")
        self.config.pats[pat] = resolved
        return resolved

    def seed_process(self, name: str, parent: str = "Agile") -> ProcessDef:
        """An inherited process derived from a system process; projects may then be seeded on it."""
        return self.state.seed_process(name, parent)

    def add_field(self, ref: str, name: str | None = None, type_name: str = "string") -> FieldDef:
        """Add an organization field valid on every type, e.g. ``add_field("Custom.TandemId", "Id")``."""
        return self.state.add_field(ref, name, parse_field_kind(type_name))

    def configure(
        self,
        *,
        max_api_version: str | None = None,
        preview_api_version: str | None = None,
        wiql_max_results: int | None = None,
        batch_limit: int | None = None,
    ) -> None:
        if max_api_version is not None:
            self.config.max_api_version = max_api_version
            if preview_api_version is None:
                self.config.preview_api_version = None
        if preview_api_version is not None:
            self.config.preview_api_version = preview_api_version or None
        if wiql_max_results is not None:
            self.config.wiql_max_results = wiql_max_results
        if batch_limit is not None:
            self.config.batch_limit = batch_limit

    def auth_header(self, pat: str | None = None) -> dict[str, str]:
        token = base64.b64encode(f":{pat or self.pat}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def apply_seed(self, seed: Seed) -> dict[str, Any]:
        """What ``POST /_emulator/seed`` does."""
        users = []
        for u in seed.users:
            user = self.add_user(u.displayName, u.uniqueName, email=u.email, pat=u.pat)
            users.append({"id": user.id, "uniqueName": user.unique_name})
        for f in seed.fields:
            self.add_field(f.referenceName, f.name, f.type)
        for pr in seed.processes:
            self.seed_process(pr.name, pr.parent)
        projects = []
        for p in seed.projects:
            iterations = p.iterations if p.iterations is not None else ["Sprint 1", "Sprint 2", "Sprint 3"]
            project = self.seed_project(
                p.name, p.process, description=p.description, areas=p.areas, iterations=iterations
            )
            projects.append({"id": project.id, "name": project.name})
        items = []
        for w in seed.workItems:
            item = self.state.create_work_item(
                w.project, w.type, w.fields, parent=w.parent, by=w.by, notify=w.notify
            )
            items.append({"id": item.id, "rev": item.rev})
        return {"users": users, "projects": projects, "workItems": items}

    def describe(self) -> dict[str, Any]:
        live = self.state.live_items()
        return {
            "flavor": self.flavor,
            "baseUrl": self.base_url,
            "config": {
                "maxApiVersion": self.config.max_api_version,
                "previewApiVersion": self.config.preview_api_version,
                "wiqlMaxResults": self.config.wiql_max_results,
                "batchLimit": self.config.batch_limit,
            },
            "projects": [
                {"id": p.id, "name": p.name, "process": p.template_name} for p in self.state.projects.values()
            ],
            "users": [
                {"displayName": u.display_name, "uniqueName": u.unique_name} for u in self.identities.all()
            ],
            "workItems": len(live),
            "deletedWorkItems": len(self.state.deleted_items()),
            "subscriptions": [
                {"id": s.id, "eventType": s.event_type, "status": s.status} for s in self.hooks.list()
            ],
        }
