"""The Planner emulator's HTTP front: Graph v1.0 routes under ``/v1.0``, bearer-token checks, the Entra
token endpoint stand-in, fault injection, latency, call counters and Graph's error shape."""

from __future__ import annotations

import base64
import json
import logging
import math
import secrets
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.common import FaultInjector, FaultRule, apply_latency, json_response
from emulators.planner.store import GraphError, PlannerState, Resource, bad_request
from emulators.pwa.auth import GrantError

log = logging.getLogger("emulators.planner")

GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"


@dataclass
class Caller:
    """Who a token was issued to: a user (delegated) or an application (app-only)."""

    user_id: str | None
    app_id: str

    def identity_set(self) -> dict[str, Any]:
        if self.user_id:
            return {"user": {"displayName": None, "id": self.user_id}}
        return {"application": {"displayName": None, "id": self.app_id}}


@dataclass
class Tokens:
    """Access tokens (with expiry on the emulator clock) and refresh tokens (rotated on every use)."""

    tenant: str
    client_id: str
    client_secret: str
    lifetime: int = 3599
    access: dict[str, tuple[Caller, float | None]] = field(default_factory=dict)
    refresh: dict[str, Caller] = field(default_factory=dict)

    def grant(self, form: dict[str, str], now: float, service_user: str | None) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        if form.get("client_id") != self.client_id:
            raise GrantError(
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{form.get('client_id', '')}' was not found in "
                f"the directory '{self.tenant}'.",
                700016,
            )
        scope = form.get("scope", "")
        if grant_type == "refresh_token":
            caller = self.refresh.pop(form.get("refresh_token", ""), None)
            if caller is None:
                raise GrantError(
                    "invalid_grant",
                    "AADSTS70000: Provided grant is invalid or malformed. The refresh token was revoked, "
                    "has expired or was already redeemed.",
                    70000,
                )
        elif grant_type == "client_credentials":
            if form.get("client_secret") != self.client_secret:
                raise GrantError(
                    "invalid_client",
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
                    "request is the client secret value, not the client secret ID.",
                    7000215,
                )
            if not scope.endswith("/.default"):
                raise GrantError(
                    "invalid_scope",
                    "AADSTS1002012: The provided value for scope is not valid. Client credential flows "
                    "must have a scope value with /.default suffixed to the resource identifier.",
                    1002012,
                )
            caller = Caller(None, self.client_id)
        else:
            raise GrantError(
                "unsupported_grant_type",
                f"AADSTS70003: The grant type '{grant_type}' is not supported.",
                70003,
            )
        access = "eyJ0eXAiOiJKV1QifQ." + secrets.token_urlsafe(32)
        self.access[access] = (caller, now + self.lifetime)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": scope or GRAPH_DEFAULT_SCOPE,
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": access,
        }
        if grant_type == "refresh_token":
            rotated = "0.AR" + secrets.token_urlsafe(48)
            self.refresh[rotated] = caller
            body["refresh_token"] = rotated
        return body

    def caller(self, header: str, now: float) -> Caller:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        issued = self.access.get(value.strip())
        if issued is None:
            raise GraphError(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
        caller, expires = issued
        if expires is not None and now >= expires:
            raise GraphError(
                401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            )
        return caller


@dataclass
class Ctx:
    """One Graph request as a handler sees it."""

    state: PlannerState
    request: Request
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    caller: Caller
    base_url: str

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def context(self, path: str) -> str:
        return f"{self.base_url}/$metadata#{path}"


Handler = Callable[[Ctx], Any]


class Graph:
    """Wraps handlers with the request pipeline shared by every Graph route."""

    def __init__(
        self,
        state: PlannerState,
        tokens: Tokens,
        faults: FaultInjector,
        base_url: Callable[[], str],
    ) -> None:
        self.state = state
        self.tokens = tokens
        self.faults = faults
        self.base_url = base_url
        self.windows: dict[str, deque[float]] = {}

    def throttle(self, caller: Caller) -> None:
        """429 with Retry-After once a caller exceeds `rate_limit_per_minute` in a rolling minute."""
        limit = self.state.config.rate_limit_per_minute
        if not limit:
            return
        now = self.state.clock.timestamp()
        window = self.windows.setdefault(caller.user_id or caller.app_id, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            wait = max(1, math.ceil(window[0] + 60 - now))
            raise GraphError(
                429,
                "TooManyRequests",
                "Too many requests. Please retry after the time given in the Retry-After header.",
                {"Retry-After": str(wait)},
            )
        window.append(now)

    def route(self, path: str, name: str, method: str, handler: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            return await self.dispatch(request, name, handler)

        return Route(f"/v1.0{path}", endpoint, methods=[method], name=f"{name}.{method}")

    async def dispatch(self, request: Request, name: str, handler: Handler) -> Response:
        state = self.state
        state.counters.record_call(name)
        request_id = str(uuid.uuid4())
        pass_through: FaultRule | None = None
        try:
            with state.lock:
                caller = self.tokens.caller(request.headers.get("authorization", ""), state.clock.timestamp())
                self.throttle(caller)
            rule = self.faults.take(request.method, name)
            await apply_latency(self.faults, rule)
            if rule is not None and rule.status is not None:
                raise _fault(rule)
            pass_through = rule
            body = _json(await request.body())
            query = {k.lower(): v for k, v in parse_qsl(request.url.query, keep_blank_values=True)}
            ctx = Ctx(state, request, dict(request.path_params), query, body, caller, self.base_url())
            with state.lock:
                result = handler(ctx)
            response = result if isinstance(result, Response) else _respond(result)
        except GraphError as exc:
            response = json_response(_error_body(exc, request_id), exc.status, headers=exc.headers)
        except Exception as exc:  # an emulator bug: say so in Graph's shape
            log.exception("Planner emulator failed on %s %s", request.method, request.url.path)
            response = json_response(
                _error_body(GraphError(500, "InternalServerError", f"Emulator error: {exc!r}"), request_id),
                500,
            )
        if pass_through is not None:
            response.headers.update(_fault_headers(pass_through))
        response.headers["request-id"] = request_id
        response.headers["client-request-id"] = request.headers.get("client-request-id", request_id)
        return response


def _json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("Invalid JSON: the request body could not be read.") from None


def _respond(result: Any) -> Response:
    if result is None:
        return Response(status_code=204)
    status, body = result if isinstance(result, tuple) else (200, result)
    response = json_response(body, status)
    response.headers["Content-Type"] = (
        "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"
    )
    response.headers["OData-Version"] = "4.0"
    if isinstance(body, dict) and "@odata.etag" in body:
        response.headers["ETag"] = body["@odata.etag"]
    return response


def _error_body(exc: GraphError, request_id: str) -> dict[str, Any]:
    return {
        "error": {
            "code": exc.code,
            "message": exc.message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": request_id,
            },
        }
    }


def _fault(rule: FaultRule) -> GraphError:
    status = rule.status or 500
    code = {429: "TooManyRequests", 503: "ServiceUnavailable", 409: "Conflict", 412: "PreconditionFailed"}
    default = {
        429: "Too many requests. Please retry after the time given in the Retry-After header.",
        503: "The service is temporarily unavailable. Please retry later.",
    }
    message = rule.message or default.get(status, f"Injected fault {status}.")
    return GraphError(status, code.get(status, "UnknownError"), message, _fault_headers(rule))


def _fault_headers(rule: FaultRule) -> dict[str, str]:
    headers = dict(rule.headers)
    if rule.retry_after is not None:
        seconds = rule.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
    return headers


# --- Graph handlers -------------------------------------------------------------------------------


def _select(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    wanted = ctx.query.get("$select")
    if not wanted:
        return body
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    return {k: v for k, v in body.items() if k in names or k.startswith("@odata.")}


def _entity(ctx: Ctx, resource: Resource, context: str) -> dict[str, Any]:
    return {"@odata.context": ctx.context(context), **_select(ctx, resource.json())}


def _page(ctx: Ctx, items: list[Resource], context: str, path: str) -> dict[str, Any]:
    """Server-driven paging: `$top` is ignored, `@odata.nextLink` carries an opaque `$skiptoken`."""
    size = ctx.state.config.page_size
    token = ctx.query.get("$skiptoken")
    offset = 0
    if token:
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise bad_request("The $skiptoken is not valid.") from None
    window = items[offset : offset + size]
    body: dict[str, Any] = {
        "@odata.context": ctx.context(context),
        "value": [_select(ctx, r.json()) for r in window],
    }
    if offset + size < len(items):
        next_token = base64.urlsafe_b64encode(f"skip:{offset + size}".encode()).decode()
        params = [("$skiptoken", next_token)]
        if "$select" in ctx.query:
            params.insert(0, ("$select", ctx.query["$select"]))
        query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=',')}" for k, v in params)
        body["@odata.nextLink"] = f"{ctx.base_url}{path}?{query}"
    return body


def _created(ctx: Ctx, resource: Resource, context: str) -> tuple[int, dict[str, Any]]:
    return 201, _entity(ctx, resource, context)


def _updated(ctx: Ctx, resource: Resource, context: str) -> Any:
    """204, or 200 with the object when the client sent `Prefer: return=representation`."""
    if "return=representation" in (ctx.header("prefer") or "").replace(" ", "").lower():
        return _entity(ctx, resource, context)
    return None


def list_group_plans(ctx: Ctx) -> Any:
    gid = ctx.params["group_id"]
    if gid not in ctx.state.groups:
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{gid}' does not exist.")
    plans = [p for p in ctx.state.plans.values() if p.body["owner"] == gid]
    return _page(ctx, plans, f"groups('{gid}')/planner/plans", f"/groups/{gid}/planner/plans")


def list_my_plans(ctx: Ctx) -> Any:
    """`GET /me/planner/plans`: the plans shared with the signed-in user. Delegated tokens only (Graph
    answers app-only calls to /me with 400). The emulator's users belong to every group, so: every plan."""
    if not ctx.caller.user_id:
        raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    plans = list(ctx.state.plans.values())
    return _page(ctx, plans, "users('me')/planner/plans", "/me/planner/plans")


def create_plan(ctx: Ctx) -> Any:
    return _created(ctx, ctx.state.create_plan(ctx.body, ctx.caller.identity_set()), "planner/plans/$entity")


def get_plan(ctx: Ctx) -> Any:
    return _entity(ctx, ctx.state.plan(ctx.params["plan_id"]), "planner/plans/$entity")


def get_plan_details(ctx: Ctx) -> Any:
    pid = ctx.params["plan_id"]
    ctx.state.plan(pid)
    return _entity(ctx, ctx.state.plan_details[pid], f"planner/plans('{pid}')/details/$entity")


def update_plan_details(ctx: Ctx) -> Any:
    pid = ctx.params["plan_id"]
    details = ctx.state.update_plan_details(pid, ctx.body, ctx.header("if-match"))
    return _updated(ctx, details, f"planner/plans('{pid}')/details/$entity")


def list_plan_buckets(ctx: Ctx) -> Any:
    pid = ctx.params["plan_id"]
    ctx.state.plan(pid)
    buckets = [b for b in ctx.state.buckets.values() if b.body["planId"] == pid]
    return _page(ctx, buckets, f"planner/plans('{pid}')/buckets", f"/planner/plans/{pid}/buckets")


def create_bucket(ctx: Ctx) -> Any:
    return _created(ctx, ctx.state.create_bucket(ctx.body), "planner/buckets/$entity")


def get_bucket(ctx: Ctx) -> Any:
    return _entity(ctx, ctx.state.bucket(ctx.params["bucket_id"]), "planner/buckets/$entity")


def list_plan_tasks(ctx: Ctx) -> Any:
    pid = ctx.params["plan_id"]
    tasks = ctx.state.plan_tasks(pid)
    return _page(ctx, tasks, f"planner/plans('{pid}')/tasks", f"/planner/plans/{pid}/tasks")


def list_bucket_tasks(ctx: Ctx) -> Any:
    bid = ctx.params["bucket_id"]
    ctx.state.bucket(bid)
    tasks = [t for t in ctx.state.tasks.values() if t.body["bucketId"] == bid]
    return _page(ctx, tasks, f"planner/buckets('{bid}')/tasks", f"/planner/buckets/{bid}/tasks")


def create_task(ctx: Ctx) -> Any:
    return _created(ctx, ctx.state.create_task(ctx.body, ctx.caller.identity_set()), "planner/tasks/$entity")


def get_task(ctx: Ctx) -> Any:
    return _entity(ctx, ctx.state.task(ctx.params["task_id"]), "planner/tasks/$entity")


def update_task(ctx: Ctx) -> Any:
    task = ctx.state.update_task(
        ctx.params["task_id"], ctx.body, ctx.header("if-match"), ctx.caller.identity_set()
    )
    return _updated(ctx, task, "planner/tasks/$entity")


def delete_task(ctx: Ctx) -> Any:
    ctx.state.delete_task(ctx.params["task_id"], ctx.header("if-match"))
    return None


def get_task_details(ctx: Ctx) -> Any:
    tid = ctx.params["task_id"]
    return _entity(ctx, ctx.state.details(tid), f"planner/tasks('{tid}')/details/$entity")


def update_task_details(ctx: Ctx) -> Any:
    tid = ctx.params["task_id"]
    details = ctx.state.update_details(tid, ctx.body, ctx.header("if-match"), ctx.caller.identity_set())
    return _updated(ctx, details, f"planner/tasks('{tid}')/details/$entity")


def get_user(ctx: Ctx) -> Any:
    user = ctx.state.user(ctx.params["user_id"])
    return {"@odata.context": ctx.context("users/$entity"), **_select(ctx, user.json())}


def list_users(ctx: Ctx) -> Any:
    users = list(ctx.state.users.values())
    condition = ctx.query.get("$filter")
    if condition:
        prop, value = _equality(condition)
        users = [u for u in users if (u.json().get(prop) or "").lower() == value.lower()]
    return {
        "@odata.context": ctx.context("users"),
        "value": [_select(ctx, u.json()) for u in users],
    }


def _equality(condition: str) -> tuple[str, str]:
    """`mail eq 'a@b.com'` / `userPrincipalName eq '…'` / `id eq '…'`: the filters the directory offers
    without `ConsistencyLevel: eventual`."""
    prop, op, rest = [*condition.strip().split(" ", 2), "", ""][:3]
    if op.lower() != "eq" or prop not in ("mail", "userPrincipalName", "id", "displayName"):
        raise GraphError(
            400,
            "Request_UnsupportedQuery",
            f"Unsupported or invalid query filter clause specified for property '{prop}' of resource 'User'.",
        )
    rest = rest.strip()
    if len(rest) < 2 or rest[0] != "'" or rest[-1] != "'":
        raise GraphError(400, "BadRequest", f"Invalid filter clause: {condition}")
    return prop, rest[1:-1].replace("''", "'")


def graph_routes(graph: Graph) -> list[Route]:
    r = graph.route
    return [
        r("/groups/{group_id}/planner/plans", "planner.groups.plans.list", "GET", list_group_plans),
        r("/planner/plans", "planner.plans.create", "POST", create_plan),
        r("/me/planner/plans", "planner.me.plans.list", "GET", list_my_plans),
        r("/planner/plans/{plan_id}", "planner.plans.get", "GET", get_plan),
        r("/planner/plans/{plan_id}/details", "planner.plans.details.get", "GET", get_plan_details),
        r("/planner/plans/{plan_id}/details", "planner.plans.details.update", "PATCH", update_plan_details),
        r("/planner/plans/{plan_id}/buckets", "planner.plans.buckets.list", "GET", list_plan_buckets),
        r("/planner/plans/{plan_id}/tasks", "planner.plans.tasks.list", "GET", list_plan_tasks),
        r("/planner/buckets", "planner.buckets.create", "POST", create_bucket),
        r("/planner/buckets/{bucket_id}", "planner.buckets.get", "GET", get_bucket),
        r("/planner/buckets/{bucket_id}/tasks", "planner.buckets.tasks.list", "GET", list_bucket_tasks),
        r("/planner/tasks", "planner.tasks.create", "POST", create_task),
        r("/planner/tasks/{task_id}", "planner.tasks.get", "GET", get_task),
        r("/planner/tasks/{task_id}", "planner.tasks.update", "PATCH", update_task),
        r("/planner/tasks/{task_id}", "planner.tasks.delete", "DELETE", delete_task),
        r("/planner/tasks/{task_id}/details", "planner.tasks.details.get", "GET", get_task_details),
        r("/planner/tasks/{task_id}/details", "planner.tasks.details.update", "PATCH", update_task_details),
        r("/users", "users.list", "GET", list_users),
        r("/users/{user_id}", "users.get", "GET", get_user),
        Route("/v1.0/{path:path}", unknown_segment, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
    ]


async def unknown_segment(request: Request) -> Response:
    """What Graph answers for a path it does not serve (here: anything outside the Planner slice)."""
    segment = request.path_params["path"].rstrip("/").rsplit("/", 1)[-1]
    error = GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    return json_response(_error_body(error, str(uuid.uuid4())), 400)


def token_route(state: PlannerState, tokens: Tokens, service_user: Callable[[], str | None]) -> Route:
    """The Entra v2.0 token endpoint stand-in: refresh-token (rotated on every use) and client credentials."""

    async def token(request: Request) -> Response:
        state.counters.record_call("oauth.token")
        raw = await request.body()  # application/x-www-form-urlencoded, parsed without python-multipart
        form = dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
        try:
            with state.lock:
                body = tokens.grant(form, state.clock.timestamp(), service_user())
        except GrantError as exc:
            return json_response(exc.body(), 401 if exc.error == "invalid_client" else 400)
        return json_response(body)

    return Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"])
