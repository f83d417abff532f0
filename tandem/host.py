"""A local stand-in for `func start`: serves, schedules and feeds the function app's own registered functions.

HTTP routes, auth levels, the timer schedule and the queue names all come from the app's registry (and
app settings for `%NAME%` values); nothing is declared twice.
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest
from croniter import croniter
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from state.local_queue import LocalQueue, WorkerPool
from state.queue import QueueMessage
from state.redact import register as register_secret

log = logging.getLogger("tandem.host")

REPO_ROOT = Path(__file__).resolve().parent.parent
KEY_HEADER = "x-functions-key"
BODY_LIMIT_SETTING = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"
DEFAULT_BODY_LIMIT = 104_857_600  # the Functions host's default: 100 MB
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_SETTING = re.compile(r"%([A-Za-z0-9_.:-]+)%")
# Functions route constraints that Starlette can match; the rest match any segment (values stay strings).
_CONVERTORS = {"int": "int", "long": "int", "float": "float", "double": "float", "decimal": "float"}


class BodyTooLarge(Exception):
    """The request body passes the host's limit."""


async def read_body(request: Request, limit: int) -> bytes:
    """At most `limit` bytes of the body: refused from Content-Length before reading, and while streaming
    (chunked bodies) as soon as it passes the limit, so a huge body is never buffered."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge
        except ValueError:
            pass  # a malformed length: the server refuses it, or the stream below is capped anyway
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


class HostError(RuntimeError):
    """The app uses something the local host cannot provide, or a setting it needs is missing."""


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: tuple[str, ...]  # empty: every method, as in Functions
    auth_level: str  # "anonymous" | "function" | "admin"
    arg_name: str
    handler: Callable[..., Any]


@dataclass(frozen=True)
class TimerFunction:
    name: str
    schedule: str  # as declared, e.g. "%POLL_SCHEDULE%"
    run_on_startup: bool
    arg_name: str
    handler: Callable[..., Any]


@dataclass(frozen=True)
class QueueFunction:
    name: str
    queue: str  # as declared, e.g. "%ITEM_QUEUE%"
    sessions: bool
    arg_name: str
    handler: Callable[..., Any]
    many: bool = False  # cardinality "many": the function takes a list (one session's ready messages)


@dataclass(frozen=True)
class FunctionIndex:
    http: tuple[HttpFunction, ...] = ()
    timers: tuple[TimerFunction, ...] = ()
    queues: tuple[QueueFunction, ...] = ()


_INDEXES: dict[int, tuple[func.FunctionApp, FunctionIndex]] = {}
_INDEX_LOCK = threading.Lock()


def _built_functions(app: func.FunctionApp) -> list[Any]:
    # azure-functions 1.26 refuses a second get_functions() on one app ("not a unique function name")
    # because it remembers the names it indexed; building a function again is idempotent, so an app
    # indexed elsewhere in this process (tests, the worker) is rebuilt from its builders instead.
    if not getattr(app, "functions_bindings", None):
        return list(app.get_functions())
    return [builder.build(app.auth_level) for builder in app._function_builders]


def index_functions(app: func.FunctionApp) -> FunctionIndex:
    """Read the app's registry once: its HTTP, timer and Service Bus queue functions."""
    with _INDEX_LOCK:
        cached = _INDEXES.get(id(app))
        if cached is not None and cached[0] is app:
            return cached[1]
        index = _index(_built_functions(app))
        _INDEXES[id(app)] = (app, index)
        return index


def _index(functions: Sequence[Any]) -> FunctionIndex:
    http: list[HttpFunction] = []
    timers: list[TimerFunction] = []
    queues: list[QueueFunction] = []
    for function in functions:
        name = function.get_function_name()
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
        if trigger is None:
            raise HostError(f"function {name} has no trigger")
        extra = [
            b for b in bindings if b is not trigger and not (b["type"] == "http" and b["name"] == "$return")
        ]
        if extra:
            kinds = ", ".join(sorted({str(b["type"]) for b in extra}))
            raise HostError(f"function {name} uses bindings the local host does not provide: {kinds}")
        handler = function.get_user_function()
        kind, arg = trigger["type"], trigger["name"]
        if kind == "httpTrigger":
            methods = tuple(str(m).upper() for m in trigger.get("methods") or ())
            auth = str(trigger.get("authLevel") or "FUNCTION").lower()
            http.append(HttpFunction(name, trigger.get("route") or name, methods, auth, arg, handler))
        elif kind == "timerTrigger":
            timers.append(
                TimerFunction(name, trigger["schedule"], bool(trigger.get("runOnStartup")), arg, handler)
            )
        elif kind == "serviceBusTrigger":
            if "queueName" not in trigger:
                raise HostError(f"function {name}: only Service Bus queue triggers run locally (not topics)")
            sessions = bool(trigger.get("isSessionsEnabled"))
            many = str(trigger.get("cardinality") or "one").lower() == "many"
            queues.append(QueueFunction(name, trigger["queueName"], sessions, arg, handler, many))
        else:
            raise HostError(f"function {name}: trigger type {kind} is not supported by the local host")
    return FunctionIndex(tuple(http), tuple(timers), tuple(queues))


def resolve_setting(value: str, settings: Mapping[str, str], where: str = "") -> str:
    """Replace `%NAME%` with the app setting NAME, as the Functions host does for binding properties."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if not settings.get(name):
            raise HostError(f"{where or value}: app setting {name} is not set")
        return settings[name]

    return _SETTING.sub(lookup, value)


def starlette_path(route: str) -> list[str]:
    """A Functions route template as Starlette paths: `{id:int}` keeps a convertor, `{x?}` adds a shorter
    path, `{*rest}` matches the remainder (none too: it adds the shorter path)."""
    optional = False

    def param(match: re.Match[str]) -> str:
        nonlocal optional
        body = match.group(1)
        if body.endswith("?"):
            optional, body = True, body[:-1]
        if body.startswith("*"):
            optional = True  # as in ASP.NET Core routing, a catch-all also matches nothing
            return "{" + body[1:].split(":")[0] + ":path}"
        name, _, constraint = body.partition(":")
        convertor = _CONVERTORS.get(constraint.split("(")[0])
        return "{" + name + (f":{convertor}" if convertor else "") + "}"

    path = "/" + re.sub(r"\{([^}]+)\}", param, route.strip("/"))
    paths = [path]
    if optional:
        paths.append(path.rsplit("/", 1)[0] or "/")
    return paths


def host_json(path: Path | None = None) -> dict[str, Any]:
    file = path or REPO_ROOT / "host.json"
    if not file.exists():
        return {}
    data = json.loads(file.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _to_response(result: Any) -> Response:
    if isinstance(result, func.HttpResponse):
        headers = dict(result.headers.items())
        if not any(k.lower() == "content-type" for k in headers) and result.mimetype:
            charset = f"; charset={result.charset}" if result.charset else ""
            headers["content-type"] = f"{result.mimetype}{charset}"
        return Response(result.get_body(), status_code=result.status_code, headers=headers)
    if result is None:
        return Response(status_code=204)
    if isinstance(result, str | bytes):
        return Response(result, status_code=200, media_type="text/plain")
    raise TypeError(f"an HTTP function returned {type(result).__name__}, not func.HttpResponse")


def service_bus_message(message: QueueMessage, now: datetime | None = None) -> ServiceBusMessage:
    """The message as the Functions worker hands a Service Bus trigger its argument."""
    props = dict(message.application_properties)
    return ServiceBusMessage(
        body=json.dumps(message.body, separators=(",", ":")).encode("utf-8"),
        trigger_metadata=None,
        application_properties=props,
        user_properties=dict(props),
        content_type="application/json",
        message_id=message.message_id,
        session_id=message.session_id,
        delivery_count=message.delivery_count,
        # The local queue keeps no enqueue time; a scheduled message became visible at its scheduled time.
        enqueued_time_utc=message.scheduled_at or now or datetime.now(UTC),
        scheduled_enqueue_time_utc=message.scheduled_at,
    )


@dataclass
class _Timer:
    function: TimerFunction
    expression: str
    stop: threading.Event
    thread: threading.Thread | None = None
    last: datetime | None = None
    fired_at: list[float] = field(default_factory=list)  # monotonic times, for tests and diagnostics

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._run, name=f"tandem-timer-{self.function.name}", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        now = datetime.now(UTC)
        if self.function.run_on_startup:
            self._fire(now, now)
        while not self.stop.is_set():
            # Re-based on the current time each round: slots missed while a tick ran are skipped, not
            # replayed in a burst, as the Functions timer does. Never before the last slot: a wait that
            # wakes a hair early must not fire the same slot twice.
            start = max(datetime.now(UTC), self.last or now)
            due = croniter(self.expression, start, second_at_beginning=True).get_next(datetime)
            if self.stop.wait(max((due - datetime.now(UTC)).total_seconds(), 0)):
                return
            self._fire(due, datetime.now(UTC))

    def _fire(self, due: datetime, now: datetime) -> None:
        upcoming = croniter(self.expression, now, second_at_beginning=True).get_next(datetime)
        status = {
            "Last": (self.last or due).isoformat(),
            "Next": upcoming.isoformat(),
            "LastUpdated": now.isoformat(),
        }
        request = TimerRequest(past_due=now - due > timedelta(seconds=5), schedule_status=status)
        try:
            self.function.handler(**{self.function.arg_name: request})
        except Exception:
            log.exception("timer function %s failed", self.function.name)
        self.fired_at.append(time.monotonic())
        self.last = due


class LocalHost:
    """Runs one function app locally: HTTP on loopback, its timers, local-queue workers for its triggers."""

    def __init__(
        self,
        app: func.FunctionApp | FunctionIndex,
        *,
        settings: Mapping[str, str],
        queue: LocalQueue | None = None,
        key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        route_prefix: str | None = None,
        concurrency: int | None = None,
        extra_routes: Sequence[BaseRoute] = (),
        timers: bool = True,
    ) -> None:
        self.index = app if isinstance(app, FunctionIndex) else index_functions(app)
        self.settings = dict(settings)
        self.queue = queue
        self.key = key or secrets.token_urlsafe(24)
        register_secret(self.key)
        self.host = host
        self.requested_port = port
        config = host_json()
        http_config = config.get("extensions", {}).get("http", {})
        prefix = route_prefix if route_prefix is not None else http_config.get("routePrefix", "api")
        self.route_prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        bus = config.get("extensions", {}).get("serviceBus", {})
        self.concurrency = concurrency or int(
            bus.get("maxConcurrentSessions") or bus.get("maxConcurrentCalls") or 4
        )
        # Service Bus batches hold at most maxMessageBatchSize messages (default 1000 in the extension).
        self.max_batch = int(bus.get("maxMessageBatchSize") or 100)
        self.run_timers = timers
        # As the Functions host: bodies above FUNCTIONS_REQUEST_BODY_SIZE_LIMIT bytes get 413 unread.
        try:
            self.body_limit = int(self.settings.get(BODY_LIMIT_SETTING) or DEFAULT_BODY_LIMIT)
        except ValueError:
            raise HostError(f"app setting {BODY_LIMIT_SETTING} must be a number of bytes") from None
        self._stop = threading.Event()
        self._timers: list[_Timer] = []
        self._pools: list[WorkerPool] = []
        self._server: Any = None
        self.port: int | None = None
        # Resolve every %SETTING% now, so a missing setting fails at start as it does in Functions.
        self.timer_schedules = {
            t.name: resolve_setting(t.schedule, self.settings, f"{t.name} schedule")
            for t in self.index.timers
        }
        self.queue_names = {
            q.name: resolve_setting(q.queue, self.settings, f"{q.name} queueName") for q in self.index.queues
        }
        for name, expression in self.timer_schedules.items():
            if len(expression.split()) != 6 or not croniter.is_valid(expression, second_at_beginning=True):
                raise HostError(f"{name}: schedule {expression!r} is not a 6-field NCRONTAB expression")
        self.asgi_app = Starlette(routes=[*self._routes(), *extra_routes])

    # -- HTTP ---------------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        routes = []
        for function in self.index.http:
            endpoint = self._endpoint(function)
            # No methods declared: every method, as in Functions (Starlette's default would be GET only).
            methods = list(function.methods) or list(ALL_METHODS)
            for path in starlette_path(function.route):
                routes.append(Route(self.route_prefix + path, endpoint, methods=methods, name=function.name))
        return routes

    def authorized(self, request: Request) -> bool:
        given = request.headers.get(KEY_HEADER) or request.query_params.get("code") or ""
        return hmac.compare_digest(given.encode(), self.key.encode())

    def _endpoint(self, function: HttpFunction) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            # One local key stands for both the function and the master key.
            if function.auth_level != "anonymous" and not self.authorized(request):
                return Response(status_code=401)
            try:
                body = await read_body(request, self.body_limit)
            except BodyTooLarge:
                text = f'{{"error":"the body is larger than {self.body_limit} bytes"}}'
                # The rest of the body is not read: the connection is closed after this answer.
                return Response(text, 413, {"connection": "close"}, media_type="application/json")
            req = func.HttpRequest(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                params=dict(request.query_params),
                route_params={k: str(v) for k, v in request.path_params.items()},
                body=body,
            )
            try:
                if inspect.iscoroutinefunction(function.handler):  # an async function (the admin API)
                    result = await function.handler(**{function.arg_name: req})
                else:
                    result = await run_in_threadpool(function.handler, **{function.arg_name: req})
                return _to_response(result)
            except Exception:
                log.exception("function %s failed", function.name)
                return Response(status_code=500)

        return endpoint

    # -- lifecycle ----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise HostError("the host is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + self.route_prefix

    def start(self) -> LocalHost:
        from emulators.common import ServerThread

        self._stop.clear()
        if self.index.queues:
            if self.queue is None:
                raise HostError("the app has Service Bus triggers: give the host a LocalQueue")
            for function in self.index.queues:
                queue_name = self.queue_names[function.name]
                if function.many:
                    pool = self.queue.run_batch_workers(
                        queue_name, self._batch_consumer(function), self.concurrency, self.max_batch
                    )
                else:
                    pool = self.queue.run_workers(queue_name, self._consumer(function), self.concurrency)
                self._pools.append(pool)
        server = ServerThread(self.asgi_app, self.host, self.requested_port, name="tandem-host")
        try:
            self.port = server.start()
        except OSError as exc:
            self.stop()
            raise HostError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}") from None
        self._server = server
        if self.run_timers:
            for function in self.index.timers:
                timer = _Timer(function, self.timer_schedules[function.name], self._stop)
                timer.start()
                self._timers.append(timer)
        log.info(
            "local host started",
            extra={"url": self.api_url, "http": len(self.index.http), "timers": len(self._timers)},
        )
        return self

    def _consumer(self, function: QueueFunction) -> Callable[[QueueMessage], None]:
        def consume(message: QueueMessage) -> None:
            # Raising abandons the message for redelivery, as autoCompleteMessages does in Functions.
            function.handler(**{function.arg_name: service_bus_message(message)})

        return consume

    def _batch_consumer(self, function: QueueFunction) -> Callable[[list[QueueMessage]], None]:
        def consume(messages: list[QueueMessage]) -> None:
            function.handler(**{function.arg_name: [service_bus_message(m) for m in messages]})

        return consume

    def stop(self, timeout: float = 10.0) -> None:
        """Timers first, then HTTP (nothing new comes in), then the workers finish their current message."""
        self._stop.set()
        for timer in self._timers:
            if timer.thread is not None:
                timer.thread.join(timeout)
        self._timers.clear()
        if self._server is not None:
            self._server.stop(timeout)
            self._server = None
        for pool in self._pools:
            pool.stop(timeout)
        self._pools.clear()

    @property
    def timers(self) -> list[_Timer]:
        return list(self._timers)

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
