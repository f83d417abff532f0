"""The emulator's HTTP front: routing under the site path, authentication, form digest, permissions,
throttling and fault injection, ``Accept`` negotiation, method tunnelling, counters and the SharePoint
error shape. Handlers live in `routes_ps` and `routes_data`; ``/_emulator/`` in `control`."""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.common import Clock, Counters, FaultInjector, FaultRule, apply_latency, json_response
from emulators.pwa import errors
from emulators.pwa.auth import AuthFailure, AuthService, GrantError, NtlmChallenge
from emulators.pwa.errors import PwaError
from emulators.pwa.model import User
from emulators.pwa.render import Fmt, Kind
from emulators.pwa.store import PwaState

log = logging.getLogger("emulators.pwa")

WRITE_METHODS = {"POST", "PATCH", "MERGE", "PUT", "DELETE"}
ALL_METHODS = ["GET", "HEAD", "POST", "PATCH", "MERGE", "PUT", "DELETE"]
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def key(name: str) -> str:
    """``('guid')``, ``(guid'…')`` or ``(guid)`` capturing the GUID as `name`."""
    return rf"\(\s*(?:guid)?'?(?P<{name}>{_GUID})'?\s*\)"


@dataclass
class Env:
    state: PwaState
    auth: AuthService
    faults: FaultInjector
    counters: Counters
    clock: Clock
    site_path: str
    root_url: Callable[[], str]
    rate_windows: dict[int, deque[float]] = field(default_factory=dict)

    @property
    def site_url(self) -> str:
        return f"{self.root_url()}{self.site_path}"

    @property
    def api_root(self) -> str:
        return f"{self.site_url}/_api/"


@dataclass
class Ctx:
    env: Env
    request: Request
    method: str
    params: dict[str, str]
    query: dict[str, str]  # OData options by lower-cased name ($filter, $select, …)
    user: User
    fmt: Fmt
    body: Any

    @property
    def state(self) -> PwaState:
        return self.env.state

    def option(self, name: str) -> str | None:
        return self.query.get(name.lower())


Handler = Callable[[Ctx], Any]


@dataclass
class ApiRoute:
    name: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler
    report: bool = False  # ProjectData: needs the reporting permission


def route(name: str, methods: str, pattern: str, handler: Handler, *, report: bool = False) -> ApiRoute:
    return ApiRoute(
        name,
        frozenset(methods.split("|")),
        re.compile(f"^{pattern}/?$", re.IGNORECASE),
        handler,
        report,
    )


def negotiate(accept: str) -> Kind | None:
    lowered = accept.lower()
    if "application/json" not in lowered:
        return None
    if "odata=verbose" in lowered:
        return "verbose"
    if "odata=nometadata" in lowered:
        return "nometadata"
    return "minimal"


class PwaApp:
    """The ASGI application; build it once per emulator."""

    def __init__(
        self, env: Env, routes: list[ApiRoute], control_routes: list[Route], extra_routes: list[Route]
    ) -> None:
        self.env = env
        self.routes = routes
        self.starlette = Starlette(
            routes=[
                *control_routes,
                *extra_routes,
                Route("/{path:path}", self.dispatch, methods=ALL_METHODS),
            ]
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.starlette(scope, receive, send)

    async def dispatch(self, request: Request) -> Response:
        started = time.perf_counter()
        env = self.env
        kind = negotiate(request.headers.get("accept", ""))
        verbose = kind == "verbose"
        pass_through: FaultRule | None = None
        try:
            method = request.method.upper()
            tunnel = request.headers.get("x-http-method", "").upper()
            if method == "POST" and tunnel in ("MERGE", "PATCH", "PUT", "DELETE"):
                method = tunnel
            api_route, params = self._match(request, method)
            env.counters.record_call(api_route.name)
            user, bearer = self._authenticate(request)
            self._rate_limit(user)
            rule = env.faults.take(method, api_route.name)
            await apply_latency(env.faults, rule)
            if rule is not None and rule.status is not None:
                raise self._fault_error(rule)
            pass_through = rule
            if kind is None:
                raise errors.not_acceptable(request.headers.get("accept", "(none)"))
            raw = await request.body()
            if len(raw) > env.state.config.max_request_bytes:
                raise errors.too_big(env.state.config.max_request_bytes)
            if method in WRITE_METHODS and api_route.name != "contextinfo":
                required = env.state.config.digest_required_with_bearer or not bearer
                digest = request.headers.get("x-requestdigest")
                if (required or digest) and not env.auth.digest_valid(digest, user):
                    raise errors.digest_invalid()
                if not user.can_write:
                    raise errors.access_denied()
            if api_route.report and not user.can_report:
                raise errors.access_denied()
            body = self._parse_body(raw)
            query = {k.lower(): v for k, v in parse_qsl(request.url.query, keep_blank_values=True)}
            ctx = Ctx(env, request, method, params, query, user, Fmt(kind, env.api_root), body)
            with env.state.lock:
                env.state.tick()
                result = api_route.handler(ctx)
            response = self._respond(result, kind)
        except AuthFailure as exc:
            response = self._unauthorized(exc)
        except NtlmChallenge as challenge:
            token = base64.b64encode(challenge.token).decode()
            response = Response("401 UNAUTHORIZED", 401, media_type="text/plain")
            response.headers["WWW-Authenticate"] = f"{challenge.scheme} {token}"
        except PwaError as exc:
            response = json_response(exc.body(verbose), exc.status, headers=exc.headers)
        except Exception as exc:  # an emulator bug: answer in the SharePoint shape, and say so
            log.exception("PWA emulator failed on %s %s", request.method, request.url.path)
            error = PwaError(500, "-1, System.Exception", f"Emulator error: {type(exc).__name__}: {exc}")
            response = json_response(error.body(verbose), 500)
        if pass_through is not None:
            response.headers.update(self._rate_headers(pass_through))
        request_id = str(uuid.uuid4())
        response.headers["SPRequestGuid"] = request_id
        response.headers["request-id"] = request_id
        response.headers["X-SharePointHealthScore"] = "0"
        response.headers["DataServiceVersion"] = "3.0"
        response.headers["X-Emulator-Elapsed-Ms"] = f"{(time.perf_counter() - started) * 1000:.3f}"
        return response

    # --- pipeline pieces ------------------------------------------------------------------------

    def _match(self, request: Request, method: str) -> tuple[ApiRoute, dict[str, str]]:
        path = request.scope.get("path", "")
        base = self.env.site_path
        if not path.lower().startswith(base.lower() + "/"):
            raise errors.not_found(path)
        rest = path[len(base) :]
        lookup = "GET" if method == "HEAD" else method
        allowed = False
        for candidate in self.routes:
            match = candidate.pattern.match(rest)
            if match is None:
                continue
            if lookup not in candidate.methods:
                allowed = True
                continue
            return candidate, {k: v.lower() for k, v in match.groupdict().items() if v is not None}
        if allowed:
            raise errors.method_not_allowed(method)
        raise errors.not_found(rest.rsplit("/", 1)[-1] or rest)

    def _authenticate(self, request: Request) -> tuple[User, bool]:
        state = self.env.state
        with state.lock:
            return self.env.auth.authenticate(
                request.headers.get("authorization", ""), state.users, request.scope.get("client")
            )

    def _rate_limit(self, user: User) -> None:
        limit = self.env.state.config.rate_limit_per_minute
        if not limit:
            return
        now = self.env.clock.timestamp()
        window = self.env.rate_windows.setdefault(user.id, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            wait = max(1, math.ceil(window[0] + 60 - now))
            error = errors.throttled(429, None)
            error.headers = {
                "Retry-After": str(wait),
                "RateLimit-Limit": str(limit),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(wait),
            }
            raise error
        window.append(now)

    def _fault_error(self, rule: FaultRule) -> PwaError:
        error = errors.throttled(rule.status or 500, rule.message)
        error.headers = {**error.headers, **self._rate_headers(rule)}
        return error

    @staticmethod
    def _rate_headers(rule: FaultRule) -> dict[str, str]:
        headers = dict(rule.headers)
        if rule.retry_after is not None:
            seconds = rule.retry_after
            text = str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
            headers["Retry-After"] = text
            headers["RateLimit-Limit"] = "1200"
            headers["RateLimit-Remaining"] = "0"
            headers["RateLimit-Reset"] = str(math.ceil(seconds))
        return headers

    @staticmethod
    def _parse_body(raw: bytes) -> Any:
        if not raw or not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise errors.bad_request("Invalid JSON. The request body is not valid JSON.") from exc

    def _respond(self, result: Any, kind: Kind) -> Response:
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=204)
        response = json_response(result)
        response.headers["Content-Type"] = f"application/json;odata={kind};charset=utf-8"
        return response

    def _unauthorized(self, exc: AuthFailure) -> Response:
        env = self.env
        if env.auth.flavor == "online":
            response = json_response({"error_description": exc.reason}, 401)
            response.headers["WWW-Authenticate"] = (
                f'Bearer realm="{env.auth.tenant}",client_id="00000003-0000-0ff1-ce00-000000000000",'
                'trusted_issuers="00000001-0000-0000-c000-000000000000@*",'
                f'authorization_uri="{env.root_url()}/{env.auth.tenant}/oauth2/authorize"'
            )
            return response
        response = Response("401 UNAUTHORIZED", 401, media_type="text/plain")
        for challenge in ("NTLM", "Negotiate", 'Basic realm="PWA"'):
            response.raw_headers.append((b"www-authenticate", challenge.encode()))
        return response


def token_route(env: Env) -> Route:
    """The Entra v2.0 token endpoint stand-in (online flavor only)."""

    async def token(request: Request) -> Response:
        env.counters.record_call("oauth.token")
        raw = await request.body()  # application/x-www-form-urlencoded, parsed without python-multipart
        fields = dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
        try:
            with env.state.lock:
                body = env.auth.grant(fields, env.state.users)
        except GrantError as exc:
            return json_response(exc.body(), 400)
        return json_response(body)

    return Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"])
