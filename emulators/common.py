"""The emulator kit: what every emulator shares. `Emulator` is the base class (start/stop on a uvicorn
thread, base URL, clock, fault injection, call/write counters, seeding, reset and the `/_emulator/`
control API, the standalone entry point); the pieces it is built from (`Clock`, `Counters`,
`FaultInjector`, `FaultRule`, `ServerThread`, `apply_latency`, `common_control_routes`, `json_response`,
`wait_until`, `serve_until_signalled`) stay usable on their own.

Nothing here knows a vendor's wire format; each emulator turns a `FaultRule` into its own error body.

How a new emulator joins the kit (the Graph Planner, release or entitlement emulators)::

    class Seed(BaseModel):                          # the body of POST /_emulator/seed
        plans: list[SeedPlan] = []

    class PlannerEmulator(Emulator):
        kind = "planner"                            # thread and program name
        seed_model = Seed

        def __init__(self, *, host="127.0.0.1", port=0, latency_ms=0) -> None:
            super().__init__(host=host, port=port, base_path="/v1.0", latency_ms=latency_ms)
            self.state = PlannerState(self.clock)   # the vendor's data, stamped by the shared clock
            self.app = PlannerApp(self, self.control_routes())   # control routes first, then the API

        def apply_seed(self, seed: Seed) -> dict[str, Any]: ...     # POST /_emulator/seed
        def reset_state(self) -> None: self.state.reset()           # POST /_emulator/reset (+ faults…)
        def extra_control_routes(self, prefix: str) -> list[Route]: return [...]  # vendor-only controls

    # emulators/planner/__main__.py
    sys.exit(PlannerEmulator.main())                # python -m emulators.planner --port 8083 --seed s.json

In the request path the app counts the call, takes a fault and applies latency with the same objects
(`self.counters.record_call(name)`, `rule = self.faults.take(method, name)`, `await apply_latency(...)`)
and answers a rule's status in the vendor's error shape. The kit then gives, at ``/_emulator`` and again
under the base path: health, counters, reset-counters, faults, latency, clock, seed, state and reset.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fnmatch
import json
import random
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self

import uvicorn
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "Clock",
    "Counters",
    "Emulator",
    "FaultInjector",
    "FaultRule",
    "ServerThread",
    "apply_latency",
    "common_control_routes",
    "json_response",
    "request_json",
    "serve_until_signalled",
    "wait_until",
]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON (the real services do not pretty-print) with UTF-8 kept readable."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status_code=status, headers=headers, media_type="application/json; charset=utf-8")


class Clock:
    """Wall-clock UTC time that tests can shift forward or freeze; every timestamp an emulator writes comes
    from here so that watermark logic can be tested without sleeping."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: float | None = None

    def timestamp(self) -> float:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), tz=UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds

    def freeze(self, at: datetime | None = None) -> None:
        """Stop the clock at `at` (default: now). Writes still get strictly increasing times per item."""
        ts = at.timestamp() if at is not None else self.timestamp()
        with self._lock:
            self._frozen = ts

    def reset(self) -> None:
        """Back to the real wall clock."""
        with self._lock:
            self._offset = 0.0
            self._frozen = None

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - time.time()
            self._frozen = None


class Counters:
    """How often each endpoint was called and how many writes of each kind succeeded (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._writes: Counter[str] = Counter()

    def record_call(self, endpoint: str) -> None:
        with self._lock:
            self._calls[endpoint] += 1

    def record_write(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self._writes[kind] += n

    def calls(self, endpoint: str | None = None) -> int:
        """Calls to one endpoint (fnmatch pattern allowed, e.g. ``wit.workitems.*``) or to all."""
        with self._lock:
            if endpoint is None:
                return sum(self._calls.values())
            return sum(n for name, n in self._calls.items() if fnmatch.fnmatchcase(name, endpoint))

    def writes(self, kind: str | None = None) -> int:
        with self._lock:
            return sum(self._writes.values()) if kind is None else self._writes[kind]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(sorted(self._calls.items())),
                "writes": dict(sorted(self._writes.items())),
                "totalCalls": sum(self._calls.values()),
                "totalWrites": sum(self._writes.values()),
            }

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._writes.clear()


class FaultRule(BaseModel):
    """One injected fault: the next `times` calls matching `endpoint` (an fnmatch pattern over the
    emulator's endpoint names) and `method` get `status` (or pass through when `status` is None, still
    delayed by `latency_ms` and carrying `retry_after`/`headers`). With `probability`, each matching call
    gets the fault only with that chance (the others go on to the next rule); `times` counts the hits."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    endpoint: str = "*"
    method: str | None = None
    times: int | None = Field(default=1, ge=1)  # None = until cleared
    status: int | None = Field(default=503, ge=100, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    latency_ms: int = Field(default=0, ge=0)
    message: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    probability: float | None = Field(default=None, gt=0, le=1)

    def matches(self, method: str, endpoint: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(endpoint, self.endpoint)


class FaultInjector:
    """Ordered fault rules plus a global latency; `take` consumes one use of the first matching rule."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._remaining: list[int | None] = []
        self.latency_ms = 0
        self._random = random.Random(seed)  # chance of a fault, not a secret

    def seed(self, value: int | None) -> None:
        """Make the `probability` draws repeatable (None: from the system's entropy again)."""
        with self._lock:
            self._random.seed(value)

    def add(self, rule: FaultRule | None = None, /, **kwargs: Any) -> FaultRule:
        """Add a rule, e.g. ``faults.add(endpoint="wit.wiql", status=429, retry_after=2, times=3)``."""
        rule = rule if rule is not None else FaultRule(**kwargs)
        with self._lock:
            self._rules.append(rule)
            self._remaining.append(rule.times)
        return rule

    def take(self, method: str, endpoint: str) -> FaultRule | None:
        with self._lock:
            for i, rule in enumerate(self._rules):
                if rule.matches(method, endpoint):
                    if rule.probability is not None and self._random.random() >= rule.probability:
                        continue
                    left = self._remaining[i]
                    if left is not None:
                        if left <= 1:
                            del self._rules[i]
                            del self._remaining[i]
                        else:
                            self._remaining[i] = left - 1
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._remaining.clear()
            self.latency_ms = 0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latencyMs": self.latency_ms,
                "rules": [
                    {**rule.model_dump(by_alias=True), "remaining": left}
                    for rule, left in zip(self._rules, self._remaining, strict=True)
                ],
            }


async def apply_latency(faults: FaultInjector, rule: FaultRule | None) -> None:
    delay_ms = faults.latency_ms + (rule.latency_ms if rule is not None else 0)
    if delay_ms > 0:
        await asyncio.sleep(delay_ms / 1000)


class _NoDelayH11(H11Protocol):
    """h11 protocol with Nagle's algorithm off: uvicorn writes a response's head and body separately, and
    with Nagle on plus the client's delayed ACK every response would stall ~40 ms on loopback, which would
    swamp any latency the tests mean to measure."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


class ServerThread:
    """Runs an ASGI app with uvicorn on a daemon thread; `start` returns once the socket accepts."""

    def __init__(
        self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, name: str = "emulator"
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.name = name
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> int:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.requested_port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            http=_NoDelayH11,
            ws="none",
            loop="asyncio",
            timeout_keep_alive=30,
            server_header=False,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(f"{self.name} did not start on {self.host}:{self.port}")
            time.sleep(0.005)
        return self.port

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return None


async def request_json(request: Request) -> Any:
    """A control request's JSON body (`{}` when empty); ValueError when it is not JSON."""
    raw = await request.body()
    try:
        return json.loads(raw) if raw else {}
    except ValueError as exc:
        raise ValueError("the body is not valid JSON") from exc


def common_control_routes(
    faults: FaultInjector, counters: Counters, clock: Clock, prefix: str = "/_emulator"
) -> list[Route]:
    """`/_emulator/` routes every emulator offers: faults, latency, counters, clock and health."""

    async def health(_: Request) -> Response:
        return json_response({"ok": True})

    async def get_counters(_: Request) -> Response:
        return json_response(counters.snapshot())

    async def reset_counters(_: Request) -> Response:
        counters.reset()
        return json_response(counters.snapshot())

    async def get_faults(_: Request) -> Response:
        return json_response(faults.snapshot())

    async def add_faults(request: Request) -> Response:
        body = await _json_body(request)
        items = body if isinstance(body, list) else [body]
        try:
            rules = [FaultRule.model_validate(item) for item in items]
        except ValueError as exc:
            return json_response({"message": f"invalid fault rule: {exc}"}, 400)
        for rule in rules:
            faults.add(rule)
        return json_response(faults.snapshot())

    async def clear_faults(_: Request) -> Response:
        faults.clear()
        return json_response(faults.snapshot())

    async def set_latency(request: Request) -> Response:
        body = await _json_body(request)
        ms = body.get("ms") if isinstance(body, dict) else None
        if not isinstance(ms, int) or ms < 0:
            return json_response({"message": 'body must be {"ms": <non-negative int>}'}, 400)
        faults.latency_ms = ms
        return json_response(faults.snapshot())

    async def clock_route(request: Request) -> Response:
        if request.method == "POST":
            body = await _json_body(request)
            if not isinstance(body, dict):
                return json_response({"message": "body must be a JSON object"}, 400)
            try:
                if "advanceSeconds" in body:
                    clock.advance(float(body["advanceSeconds"]))
                if "freeze" in body:
                    frozen = body["freeze"]
                    clock.freeze(None if frozen is True else datetime.fromisoformat(str(frozen)))
                if body.get("unfreeze"):
                    clock.unfreeze()
            except (TypeError, ValueError) as exc:
                return json_response({"message": f"invalid clock change: {exc}"}, 400)
        return json_response({"now": clock.now().isoformat().replace("+00:00", "Z")})

    return [
        Route(f"{prefix}/health", health, methods=["GET"]),
        Route(f"{prefix}/counters", get_counters, methods=["GET"]),
        Route(f"{prefix}/reset-counters", reset_counters, methods=["POST"]),
        Route(f"{prefix}/faults", get_faults, methods=["GET"]),
        Route(f"{prefix}/faults", add_faults, methods=["POST"]),
        Route(f"{prefix}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{prefix}/latency", set_latency, methods=["POST"]),
        Route(f"{prefix}/clock", clock_route, methods=["GET", "POST"]),
    ]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll `predicate` until true or `timeout`; returns its last value (for tests and callers)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def serve_until_signalled(emulator: Any, seed: Any | None, extra: dict[str, Any]) -> int:
    """`python -m emulators.X`: apply the seed, start, print one JSON line, serve until SIGINT/SIGTERM."""
    if seed is not None:
        emulator.apply_seed(seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    emulator.start()
    print(json.dumps({"baseUrl": emulator.base_url, "controlUrl": emulator.control_url, **extra}), flush=True)
    try:
        stop.wait()
    finally:
        emulator.stop()
    return 0


class Emulator:
    """Base of every emulator: one vendor service on ``http://{host}:{port}{base_path}``.

    Owns the server thread, the clock, the fault injector and the counters, and builds the control API.
    A subclass sets `kind` and `seed_model`, builds `self.app` (an ASGI app mounting `control_routes()`)
    in its ``__init__``, and implements `apply_seed` and `reset_state`; see the module docstring."""

    kind: ClassVar[str] = "emulator"
    seed_model: ClassVar[type[BaseModel] | None] = None
    # Errors a control handler may raise besides ValueError / pydantic's ValidationError (vendor errors).
    control_errors: ClassVar[tuple[type[Exception], ...]] = ()

    app: ASGIApp

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, base_path: str = "", latency_ms: int = 0
    ) -> None:
        self.host = host
        self._port = port
        self.base_path = base_path.rstrip("/")
        self.clock = Clock()
        self.faults = FaultInjector()
        self.faults.latency_ms = latency_ms
        self.counters = Counters()
        self._server: ServerThread | None = None

    # --- what a concrete emulator provides ---------------------------------------------------------

    def apply_seed(self, seed: Any) -> dict[str, Any]:
        """Load a validated `seed_model` (what ``POST /_emulator/seed`` does); returns what was created."""
        raise NotImplementedError(f"{type(self).__name__} cannot be seeded")

    def reset_state(self) -> None:
        """Drop the vendor data (`reset` also clears faults, counters and the clock)."""

    def describe(self) -> dict[str, Any]:
        """``GET /_emulator/state``: a summary of what the emulator holds."""
        return {"kind": self.kind, "baseUrl": self.base_url}

    def extra_control_routes(self, prefix: str) -> list[Route]:
        """Vendor-only control routes under `prefix` (simulated user edits, hook delivery, queues…)."""
        return []

    def control_error(self, exc: Exception) -> Response:
        """A failed control request's answer; override to render `control_errors` in the vendor's shape."""
        return json_response({"message": str(exc)}, 400)

    def after_start(self) -> None:
        """Start background workers (e.g. hook delivery) once the socket accepts."""

    def before_stop(self) -> None:
        """Stop background workers before the server goes."""

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def thread_name(self) -> str:
        return self.kind

    def start(self) -> str:
        """Start serving; returns the base URL."""
        if self._server is not None:
            raise RuntimeError(f"{self.thread_name} is already running")
        server = ServerThread(self.app, self.host, self._port, name=self.thread_name)
        self._port = server.start()
        self._server = server
        self.after_start()
        return self.base_url

    def stop(self) -> None:
        self.before_stop()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    @property
    def port(self) -> int:
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}{self.base_path}"

    @property
    def control_url(self) -> str:
        return f"{self.root_url}/_emulator"

    def reset(self) -> None:
        """Back to empty: no vendor data, faults or counts, the real clock."""
        self.reset_state()
        self.faults.clear()
        self.counters.reset()
        self.clock.reset()

    # --- control API -------------------------------------------------------------------------------

    def control_routes(self) -> list[Route]:
        """The control API at ``/_emulator`` and again under the base path, so a caller that only knows
        the base URL reaches it too."""
        prefixes = ["/_emulator"] + ([f"{self.base_path}/_emulator"] if self.base_path else [])
        return [route for prefix in prefixes for route in self._control_routes(prefix)]

    def _control_routes(self, prefix: str) -> list[Route]:
        failures = (ValidationError, ValueError, *self.control_errors)

        async def seed(request: Request) -> Response:
            if self.seed_model is None:
                return json_response({"message": f"the {self.kind} emulator takes no seed"}, 404)
            try:
                return json_response(
                    self.apply_seed(self.seed_model.model_validate(await request_json(request)))
                )
            except failures as exc:
                return self.control_error(exc)

        async def state(_: Request) -> Response:
            return json_response(self.describe())

        async def reset(_: Request) -> Response:
            self.reset()
            return json_response({"ok": True})

        return [
            *common_control_routes(self.faults, self.counters, self.clock, prefix),
            Route(f"{prefix}/seed", seed, methods=["POST"]),
            Route(f"{prefix}/state", state, methods=["GET"]),
            Route(f"{prefix}/reset", reset, methods=["POST"]),
            *self.extra_control_routes(prefix),
        ]

    # --- standalone entry point (`python -m emulators.X`) -----------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Vendor options of the standalone program (host, port, latency and seed are common)."""

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Self:
        """The emulator the standalone program's arguments describe."""
        return cls(**cls.common_options(args))

    @staticmethod
    def common_options(args: argparse.Namespace) -> dict[str, Any]:
        """The constructor options every standalone program takes: host, port and latency."""
        return {"host": args.host, "port": args.port, "latency_ms": args.latency_ms}

    def standalone_info(self) -> dict[str, Any]:
        """Extra keys of the JSON line the standalone program prints (credentials, flavour…)."""
        return {}

    @classmethod
    def main(cls, argv: Sequence[str] | None = None, *, description: str | None = None) -> int:
        """Run on its own: print one JSON line (``baseUrl``, ``controlUrl`` and `standalone_info`) once it
        listens, serve until SIGINT/SIGTERM. ``--seed file.json`` applies a seed body at start."""
        parser = argparse.ArgumentParser(prog=f"python -m emulators.{cls.kind}", description=description)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0)
        parser.add_argument("--latency-ms", type=int, default=0)
        parser.add_argument("--seed", type=Path, help="JSON file in the shape of POST /_emulator/seed")
        cls.add_arguments(parser)
        args = parser.parse_args(argv)
        emulator = cls.from_arguments(args)
        seed = None
        if args.seed is not None:
            if cls.seed_model is None:
                parser.error(f"the {cls.kind} emulator takes no seed")
            seed = cls.seed_model.model_validate(json.loads(args.seed.read_text(encoding="utf-8")))
        return serve_until_signalled(emulator, seed, emulator.standalone_info())
