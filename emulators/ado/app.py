"""The emulator's HTTP front: routing under the organization/collection base path, authentication
(PAT via basic auth, optional bearer token), api-version negotiation, fault injection, counters and the
ADO error shape. Route handlers live in the `routes_*` modules; `/_emulator/` in `control`."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.ado import errors
from emulators.ado.errors import AdoError
from emulators.ado.hooks import HookService
from emulators.ado.identities import User
from emulators.ado.render import IdentityStyle, Renderer
from emulators.ado.store import AdoState
from emulators.common import Clock, Counters, FaultInjector, FaultRule, apply_latency, json_response

if TYPE_CHECKING:
    from emulators.ado.directory import Directory
    from emulators.ado.operations import Operations

Flavor = Literal["services", "server"]
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:-preview(?:\.(\d+))?)?$", re.IGNORECASE)
_ACCEPT_VERSION = re.compile(r"api-version\s*=\s*([^;,\s]+)", re.IGNORECASE)


@dataclass
class AdoConfig:
    """Behaviour switches tests may change while the emulator runs."""

    flavor: Flavor
    base_path: str
    pats: dict[str, User] = field(default_factory=dict)
    bearer_tokens: dict[str, User] = field(default_factory=dict)
    max_api_version: str = "7.1"
    preview_api_version: str | None = None  # a newer version served only with -preview (Services: 7.2)
    wiql_max_results: int = 20_000
    batch_limit: int = 200
    rate_limit_resource: str = "ATCPU"


@dataclass
class Env:
    """Everything a handler may touch."""

    config: AdoConfig
    state: AdoState
    renderer: Renderer
    hooks: HookService
    faults: FaultInjector
    counters: Counters
    clock: Clock
    base_url: Callable[[], str]
    internal: Callable[[Request, User], Awaitable[Response]] | None = None  # set by AdoApp, used by $batch
    pipelines: Any = (
        None  # PipelinesState (release pipelines, pools, queues, endpoints, task/variable groups)
    )
    release_url: Callable[[], str] | None = None  # the release host's base (vsrm on Services)
    directory: Directory | None = None  # user and group entitlements (Services only)
    operations: Operations | None = None  # asynchronous project operations


@dataclass
class Ctx:
    """One authenticated, version-checked request."""

    env: Env
    request: Request
    params: dict[str, str]
    query: dict[str, str]  # lower-cased names
    api_version: tuple[int, int]
    api_version_text: str
    user: User
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> AdoState:
        return self.env.state

    @property
    def r(self) -> Renderer:
        return self.env.renderer

    @property
    def style(self) -> IdentityStyle:
        """IdentityRef objects from api-version 5.0 on, "Name <unique>" strings before."""
        return "ref" if self.api_version >= (5, 0) else "string"

    def flag(self, name: str) -> bool:
        return self.query.get(name.lower(), "").strip().lower() == "true"

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name.lower(), default)

    def int_param(self, name: str, default: int | None = None) -> int | None:
        raw = self.query.get(name.lower())
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise errors.bad_request(f"The value '{raw}' is not valid for {name}.") from exc

    async def body(self) -> Any:
        raw = await self.request.body()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise errors.invalid_body("The request body is not valid JSON.") from exc


Result = dict[str, Any] | list[Any] | Response | None
Handler = Callable[[Ctx], Awaitable[Result]]


@dataclass(frozen=True)
class ApiRoute:
    name: str  # endpoint name used by counters and fault rules, e.g. "wit.workitems.update"
    method: str
    pattern: re.Pattern[str]
    handler: Handler


_PROJECT = r"(?:/(?P<project>[^/_][^/]*))?"
_PROJECT_REQUIRED = r"/(?P<project>[^/_][^/]*)"


def route(name: str, method: str, pattern: str, handler: Handler) -> ApiRoute:
    expanded = pattern.replace("{P}", _PROJECT).replace("{P!}", _PROJECT_REQUIRED)
    return ApiRoute(name, method, re.compile(f"^{expanded}/?$", re.IGNORECASE), handler)


def _parse_version(text: str) -> tuple[int, int, bool] | None:
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), "preview" in text.lower()


def _version_tuple(text: str) -> tuple[int, int]:
    parsed = _parse_version(text)
    if parsed is None:
        raise ValueError(f"invalid api version {text!r}")
    return parsed[0], parsed[1]


class AdoApp:
    """The ASGI application; build it once per emulator."""

    def __init__(self, env: Env, routes: list[ApiRoute], control_routes: list[Route]) -> None:
        self.env = env
        self.routes = routes
        env.internal = self.dispatch_internal
        self.starlette = Starlette(
            routes=[
                *control_routes,
                Route(
                    "/{path:path}", self.dispatch, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
                ),
            ]
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.starlette(scope, receive, send)

    # --- request pipeline ---------------------------------------------------------------------------

    async def dispatch(self, request: Request) -> Response:
        started = time.perf_counter()
        env = self.env
        pass_through: FaultRule | None = None
        try:
            api_route, params = self._match(request)
            env.counters.record_call(api_route.name)
            user = self._authenticate(request)
            rule = env.faults.take(request.method, api_route.name)
            await apply_latency(env.faults, rule)
            if rule is not None and rule.status is not None:
                raise self._fault_error(rule)
            pass_through = rule
            response = await self._invoke(api_route, params, request, user)
        except AdoError as exc:
            response = json_response(exc.body(), exc.status, headers=exc.headers)
        if pass_through is not None:
            response.headers.update(self._rate_headers(pass_through))
        response.headers["ActivityId"] = str(uuid.uuid4())
        response.headers["X-Emulator-Elapsed-Ms"] = f"{(time.perf_counter() - started) * 1000:.3f}"
        return response

    async def _invoke(
        self, api_route: ApiRoute, params: dict[str, str], request: Request, user: User
    ) -> Response:
        version_text, version = self._check_version(request)
        query = {k.lower(): v for k, v in request.query_params.items()}
        ctx = Ctx(self.env, request, params, query, version, version_text, user)
        result = await api_route.handler(ctx)
        response = result if isinstance(result, Response) else self._json(result, version_text)
        response.headers.update(ctx.extra_headers)
        return response

    async def dispatch_internal(self, request: Request, user: User) -> Response:
        """Run one sub-request of a ``$batch`` as `user` (counted, not faulted, not re-authenticated)."""
        try:
            api_route, params = self._match(request)
            self.env.counters.record_call(api_route.name)
            return await self._invoke(api_route, params, request, user)
        except AdoError as exc:
            return json_response(exc.body(), exc.status, headers=exc.headers)

    @staticmethod
    def _json(result: Result, version_text: str) -> Response:
        if result is None:
            return Response(status_code=204)
        response = json_response(result)
        response.headers["Content-Type"] = f"application/json; charset=utf-8; api-version={version_text}"
        return response

    def _match(self, request: Request) -> tuple[ApiRoute, dict[str, str]]:
        path = request.scope.get("path", "")
        base = self.env.config.base_path
        if not path.lower().startswith(base.lower()):
            raise errors.not_found_route(path)
        rest = path[len(base) :] or "/"
        method = "GET" if request.method == "HEAD" else request.method
        allowed = False
        for candidate in self.routes:
            match = candidate.pattern.match(rest)
            if match is None:
                continue
            if candidate.method != method:
                allowed = True
                continue
            return candidate, {k: v for k, v in match.groupdict().items() if v is not None}
        if allowed:
            raise errors.method_not_allowed(request.method)
        raise errors.not_found_route(path)

    def _authenticate(self, request: Request) -> User:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        config = self.env.config
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise errors.unauthorized() from exc
            _, _, password = decoded.partition(":")
            user = config.pats.get(password)
            if user is not None:
                return user
        elif scheme.lower() == "bearer":
            user = config.bearer_tokens.get(value.strip())
            if user is not None:
                return user
        raise errors.unauthorized()

    def _check_version(self, request: Request) -> tuple[str, tuple[int, int]]:
        config = self.env.config
        text = request.query_params.get("api-version")
        if text is None:
            for key, value in request.query_params.items():
                if key.lower() == "api-version":
                    text = value
        if text is None:
            match = _ACCEPT_VERSION.search(request.headers.get("accept", ""))
            text = match.group(1) if match else None
        if text is None:
            raise errors.api_version_missing(request.method)
        parsed = _parse_version(text)
        if parsed is None:
            raise errors.api_version_invalid(text)
        major, minor, preview = parsed
        version = (major, minor)
        if version > _version_tuple(config.max_api_version):
            preview_max = _version_tuple(config.preview_api_version) if config.preview_api_version else None
            if preview_max is None or version > preview_max:
                latest = config.preview_api_version or config.max_api_version
                raise errors.api_version_out_of_range(f"{major}.{minor}", latest)
            if not preview:
                raise errors.api_version_needs_preview(f"{major}.{minor}")
        if version < (1, 0):
            raise errors.api_version_invalid(text)
        return text, version

    def _fault_error(self, rule: FaultRule) -> AdoError:
        if rule.status == 429:
            error = errors.throttled(resource=self.env.config.rate_limit_resource, message=rule.message)
        else:
            error = errors.injected(rule.status or 500, rule.message)
        error.headers = {**error.headers, **self._rate_headers(rule)}
        return error

    def _rate_headers(self, rule: FaultRule) -> dict[str, str]:
        headers = dict(rule.headers)
        if rule.retry_after is None:
            return headers
        seconds = rule.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
        if self.env.config.flavor == "services":  # Server has no TSTU rate limiter (reference §9)
            headers.update(
                {
                    "X-RateLimit-Resource": self.env.config.rate_limit_resource,
                    "X-RateLimit-Delay": f"{seconds:g}",
                    "X-RateLimit-Limit": "200",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(math.ceil(self.env.clock.timestamp() + seconds)),
                }
            )
        return headers


async def json_patch_body(ctx: Ctx) -> Any:
    """The body of a create/update, which must be sent as application/json-patch+json."""
    content_type = ctx.request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media != "application/json-patch+json":
        raise errors.content_type_not_supported(
            content_type or "(none)", ctx.request.method, "application/json-patch+json"
        )
    return await ctx.body()
