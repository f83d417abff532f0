"""The admin API: every operator operation of the function app, as one FastAPI app with an OpenAPI document.

`function_app.py` routes the admin paths (`/api/scenarios/...`, `/api/admin/...`, `/api/openapi.json`) to it
through `func.AsgiMiddleware`; hooks, health and SCIM stay separate functions with their own auth. Function
key auth is the Functions host's (every admin route is `AuthLevel.FUNCTION`).

Every 4xx answers `{"error": "...", "field": "..."}` naming the offending field where there is one. Bodies are
capped at FUNCTIONS_REQUEST_BODY_SIZE_LIMIT bytes (413) and JSON nested deeper than MAX_DEPTH is a 400.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from mapping.fieldmap import SyncDirection
from sync.config import ConfigError
from sync.hook_subscriptions import HookCheck
from sync.refusal import Refused
from sync.request_body import BadBody, parse_json
from sync.services import Services
from sync.setup import PreflightCheck, SideReport
from sync.status import ScenarioStatus

PREFIX = "/api"  # host.json's routePrefix: the ASGI scope's path keeps it

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ApiError(Exception):
    """A 4xx answer: a reason a caller can act on, and the request field it is about (if any)."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field


class ErrorReply(BaseModel):
    error: str
    field: str | None = None


def get_services() -> Services:
    from sync import triggers

    return triggers.services()


Svc = Annotated[Services, Depends(get_services)]


def scenario_name(scenario: str, services: Svc) -> str:
    """The route's scenario, or a 404 naming it when no such scenario is configured."""
    try:
        services.config().scenario(scenario)
    except ConfigError as exc:
        raise ApiError(404, str(exc), "scenario") from None
    return scenario


Name = Annotated[str, Depends(scenario_name)]


# -- models ---------------------------------------------------------------------------------------------


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: SyncDirection | None = None
    dry_run: bool = False  # answer with the plans (per-field diff); change nothing anywhere
    items: list[str] = Field(default_factory=list)  # only these source ids (of `direction`'s source side)
    force: bool = False  # with items: write the mapped source values even where the snapshot says unchanged
    entity: str | None = None  # the entity pair the items belong to (default: the scenario's first)
    # Instead of `direction`: read the items from Azure DevOps, or write them to it (see ado_direction).
    ado: Literal["read", "write"] | None = None


class RunReply(BaseModel):
    scenario: str
    enqueued: list[SyncDirection] = Field(default_factory=list)
    run_id: str | None = None
    items: list[str] | None = None
    force: bool | None = None


class DryRunReply(BaseModel):
    scenario: str
    dry_run: bool = True
    # What would stop items on the target, per direction (connectors with a pre-flight), before the plans;
    # the plans of items it blocks say "not attempted".
    preflight: list[PreflightCheck] = Field(default_factory=list)
    plans: list[dict[str, Any]]


class HooksReply(BaseModel):
    scenario: str
    checks: list[HookCheck]


class SetupReply(BaseModel):
    scenario: str
    ok: bool | None = None
    sides: list[SideReport]


# -- routes ---------------------------------------------------------------------------------------------

scenarios = APIRouter(prefix=f"{PREFIX}/scenarios/{{scenario}}", tags=["scenarios"])


@scenarios.post(
    "/run",
    status_code=202,
    response_model=RunReply | DryRunReply,
    responses={200: {"model": DryRunReply}, 400: {"model": ErrorReply}, 404: {"model": ErrorReply}},
)
def run_scenario(
    name: Name,
    services: Svc,
    request: RunRequest | None = None,
    direction: SyncDirection | None = None,
) -> Any:
    """Poll a scenario now; or, with `items`, sync those items (optionally `force`d); or, with `dry_run`,
    answer what either would do as per-field plans, changing nothing."""
    from sync.manual import ado_direction, dry_run, sync_items
    from sync.messages import PollMessage
    from sync.runtime import enqueue_polls

    request = request or RunRequest(direction=direction)
    scenario = services.config().scenario(name)
    if request.ado is not None:
        if request.direction is not None:
            raise ApiError(400, "name either a direction or an Azure DevOps read/write, not both", "ado")
        try:
            request.direction = ado_direction(services, scenario, request.ado)
        except ConfigError as exc:
            raise ApiError(400, str(exc), "ado") from None
    if request.entity is not None:
        try:
            scenario.pair_view(request.entity)
        except ConfigError as exc:
            raise ApiError(404, str(exc), "entity") from None
    enabled = scenario.enabled_directions()
    directions = [request.direction] if request.direction else enabled
    unknown = [d for d in directions if d not in enabled]
    if unknown:
        raise ApiError(400, f"direction {unknown[0]} is not enabled for scenario '{name}'", "direction")
    if (request.items or request.force) and request.direction is None:
        raise ApiError(400, "selected items are source ids of one direction; name it", "direction")
    if request.force and not request.items:
        raise ApiError(400, "a forced sync names the items to force", "items")
    if request.dry_run:
        from sync.setup import preflight_checks

        checks = preflight_checks(services, scenario, directions)
        plans = dry_run(
            services,
            name,
            directions,
            items=request.items,
            force=request.force,
            entity=request.entity,
            checks=checks,
        )
        reply = DryRunReply(scenario=name, preflight=checks, plans=plans)
        return JSONResponse(reply.model_dump(mode="json"), 200)
    if request.items:
        assert request.direction is not None
        reply = sync_items(
            services, name, request.direction, request.items, force=request.force, entity=request.entity
        )
        return RunReply(scenario=name, enqueued=[request.direction], **reply)
    now = services.clock()
    polls = [PollMessage(scenario=name, direction=d, trigger="manual", due=now) for d in directions]
    enqueue_polls(services, polls)
    return RunReply(scenario=name, enqueued=[p.direction for p in polls])


@scenarios.get("/status", response_model=ScenarioStatus, responses={404: {"model": ErrorReply}})
def scenario_status(name: Name, services: Svc) -> Any:
    """Last runs, link counts, open conflicts, failures and dead letters of the scenario."""
    from sync.status import scenario_status as status_of

    return status_of(services, name)


@scenarios.post(
    "/hooks", response_model=HooksReply, responses={404: {"model": ErrorReply}, 409: {"model": ErrorReply}}
)
def ensure_hooks(name: Name, services: Svc) -> Any:
    """Create, verify and repair the scenario's service hook subscriptions, pointing at PUBLIC_BASE_URL."""
    from sync.hook_subscriptions import ensure_hooks as ensure

    base = services.settings.public_base_url
    if not base:
        raise ApiError(409, "PUBLIC_BASE_URL is not set: the app does not know its own URL for hooks")
    return HooksReply(scenario=name, checks=ensure(services, f"{base.rstrip('/')}/api", scenario=name))


@scenarios.post("/setup/fields", response_model=SetupReply, responses={404: {"model": ErrorReply}})
def setup_fields(name: Name, services: Svc) -> Any:
    """ "Create fields": the custom fields each side of the scenario needs, where its connector can."""
    from sync.setup import create_fields

    return SetupReply(scenario=name, sides=create_fields(services, name))


@scenarios.post("/setup/verify", response_model=SetupReply, responses={404: {"model": ErrorReply}})
def setup_verify(name: Name, services: Svc) -> Any:
    """ "Verify configuration": connections, permissions, required fields and service hooks."""
    from sync.setup import verify

    base = services.settings.public_base_url
    reports = verify(services, name, f"{base.rstrip('/')}/api" if base else None)
    return SetupReply(scenario=name, ok=all(r.ok for r in reports), sides=reports)


# The routers of the admin API, in one place. Another module's routes join with one line here (an APIRouter
# whose paths are absolute, starting with /api/scenarios/ or /api/admin/: function_app.py routes those paths
# to this app), e.g. `config_routes.router` of sync/admin/config_routes.py.
ROUTERS: list[str] = [
    "sync.admin.app:scenarios",
    "sync.admin.bulk_routes:router",
    "sync.admin.config_routes:router",
    "sync.admin.ops_routes:router",
    "sync.admin.wizard_routes:router",
]


def _router(spec: str) -> APIRouter:
    from importlib import import_module

    module, _, name = spec.partition(":")
    router = getattr(import_module(module), name)
    assert isinstance(router, APIRouter), spec
    return router


# -- errors and body limits -----------------------------------------------------------------------------


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    field = _field(first.get("loc", ()))
    return JSONResponse({"error": f"{field}: {first.get('msg', 'invalid')}", "field": field}, 400)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"error": exc.error, "field": exc.field}, exc.status)


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return JSONResponse({"error": exc.message, "field": exc.field or None}, exc.status)


async def _config_error(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc), "field": None}, 400)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"error": str(exc.detail), "field": None}, exc.status_code, headers=exc.headers)


class BodyGuard:
    """ASGI middleware: a body over `limit` bytes is a 413, JSON nested too deeply (or not JSON) a 400,
    before FastAPI parses it; the checked body is handed on unchanged."""

    def __init__(self, app: Any, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        body = bytearray()
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                reason = f"the body is larger than {limit} bytes"
                await _send_json(send, 413, {"error": reason, "field": None})
                return
        if body.strip():
            try:
                parse_json(bytes(body), limit=limit)
            except BadBody as exc:
                await _send_json(send, exc.status, {"error": exc.message, "field": "body"})
                return
            # The admin API speaks JSON only: a body sent without a content type is read as JSON.
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    import json

    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _body_limit() -> int:
    return get_services().settings.request_body_limit


def create_app(*, body_limit: Callable[[], int] = _body_limit) -> FastAPI:
    """The admin API with every router of ROUTERS, its error answers and its body guard."""
    app = FastAPI(
        title="Tandem admin API",
        version="1",
        description=(
            "Operate a Tandem function app: runs, status, service hooks, setup, bulk synchronization. "
            "Every route needs the function key (header `x-functions-key` or `?code=`)."
        ),
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    for router in ROUTERS:
        app.include_router(_router(router))
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ConfigError, _config_error)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(BodyGuard, limit=body_limit)
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document as the app serves it (the committed copy is openapi/admin.json)."""
    return create_app(body_limit=lambda: 1).openapi()
