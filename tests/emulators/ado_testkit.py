"""Helpers for the emulator tests: an authenticated client factory, JSON Patch shorthands, a local web
hook receiver, and a validator that checks bodies against the official OpenAPI descriptions in
``specs/`` (copied into the repository, see specs/README.md)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # runs without `pip install -e .` too
    sys.path.insert(0, str(REPO_ROOT))

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from emulators.ado import AdoEmulator  # noqa: E402
from emulators.common import ServerThread  # noqa: E402

SPECS_DIR = REPO_ROOT / "specs"
PAT = "test-pat"
PATCH_HEADERS = {"Content-Type": "application/json-patch+json"}


def make_client(emulator: AdoEmulator, api_version: str | None = "7.1", pat: str = PAT) -> httpx.Client:
    params = {"api-version": api_version} if api_version else {}
    return httpx.Client(
        base_url=emulator.base_url, headers=emulator.auth_header(pat), params=params, timeout=10
    )


def add_fields(**fields: Any) -> list[dict[str, Any]]:
    """JSON Patch adding fields given as keyword arguments with dots written as underscores."""
    return [
        {"op": "add", "path": f"/fields/{ref.replace('_', '.')}", "value": value}
        for ref, value in fields.items()
    ]


def create(
    client: httpx.Client, project: str, type_name: str, ops: list[dict[str, Any]], **params: Any
) -> httpx.Response:
    return client.post(
        f"/{project}/_apis/wit/workitems/${type_name}", json=ops, headers=PATCH_HEADERS, params=params
    )


def update(client: httpx.Client, item_id: int, ops: list[dict[str, Any]], **params: Any) -> httpx.Response:
    return client.patch(f"/_apis/wit/workitems/{item_id}", json=ops, headers=PATCH_HEADERS, params=params)


# --- web hook receiver -----------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class HookReceiver:
    """A tiny HTTP server recording every POST; `responses` is a queue of status codes to answer."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    responses: list[int] = field(default_factory=list)
    default_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def statuses(self, *codes: int) -> None:
        with self.lock:
            self.responses.extend(codes)

    def bodies(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                r.body for r in self.requests if event_type is None or r.body.get("eventType") == event_type
            ]


@contextmanager
def run_receiver() -> Iterator[HookReceiver]:
    state = HookReceiver()

    async def hook(request: Request) -> Response:
        body = json.loads(await request.body())
        with state.lock:
            state.requests.append(Received(dict(request.headers), body))
            status = state.responses.pop(0) if state.responses else state.default_status
        return Response(status_code=status)

    server = ServerThread(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), name="hook-receiver")
    port = server.start()
    state.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield state
    finally:
        server.stop()


# --- OpenAPI checks --------------------------------------------------------------------------------

_SPEC_FILES = {
    ("wit", "services"): "wit/7.1/workItemTracking.json",
    ("wit", "server"): "wit/azure-devops-server-7.1/workItemTracking-onprem.json",
    ("core", "services"): "core/7.1/core.json",
    ("core", "server"): "core/azure-devops-server-7.1/core-onprem.json",
    ("hooks", "services"): "hooks/7.1/serviceHooks.json",
    ("processes", "services"): "processes/7.1/workItemTrackingProcess.json",
    ("hooks", "server"): "hooks/azure-devops-server-7.1/serviceHooks-onprem.json",
    ("entitlements", "services"): "memberEntitlementManagement/7.1/memberEntitlementManagement.json",
    ("operations", "services"): "operations/7.1/operations.json",
    ("graph", "services"): "graph/7.1/graph.json",
}


def _normalize(node: Any) -> Any:
    """Swagger-2.0-from-.NET quirks that are not wire facts:
    - a bare ``{"type": "object"}`` is .NET ``object`` (any JSON value, e.g. a field value);
    - ``"format": "byte"`` on a string is a .NET byte, sent as a number (``probationRetries``);
    - ``{"type": "string", "format": "T"}`` is an unexpanded generic (reporting batch values)."""
    if isinstance(node, list):
        return [_normalize(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "object" and not (
        {"properties", "additionalProperties", "allOf", "$ref"} & node.keys()
    ):
        return {k: v for k, v in node.items() if k not in ("type",)}
    if node.get("type") == "string" and node.get("format") == "byte":
        return {"type": ["string", "integer"]}
    if node.get("type") == "string" and node.get("format") == "T":
        return {}
    return {k: _normalize(v) for k, v in node.items()}


def _strict(definitions: dict[str, Any]) -> dict[str, Any]:
    """Flatten allOf and forbid properties the spec does not declare, so misspelt keys fail."""
    flat: dict[str, Any] = {}

    def resolve(name: str) -> dict[str, Any]:
        if name in flat:
            return flat[name]
        definition = definitions[name]
        if any("$ref" not in part for part in definition.get("allOf", [])):
            flat[name] = definition
            return definition
        properties: dict[str, Any] = {}
        for part in definition.get("allOf", []):
            properties.update(resolve(part["$ref"].split("/")[-1]).get("properties", {}))
        properties.update(definition.get("properties", {}))
        out = {k: v for k, v in definition.items() if k != "allOf"}
        if properties:
            out["properties"] = properties
            out.setdefault("additionalProperties", False)
        flat[name] = out
        return out

    for name in definitions:
        resolve(name)
    # ReferenceLinks is serialized as a dictionary of {"href": …}, not as its declared `links` property.
    flat["ReferenceLinks"] = {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {"href": {"type": "string"}},
            "required": ["href"],
        },
    }
    return flat


@cache
def _load(area: str, flavor: str) -> dict[str, Any]:
    if not SPECS_DIR.is_dir():
        pytest.fail(
            f"OpenAPI specs not found at {SPECS_DIR}. The emulator tests check responses against "
            "the copies in specs/ (see specs/README.md); restore that directory."
        )
    spec = json.loads((SPECS_DIR / "ado" / _SPEC_FILES[(area, flavor)]).read_text(encoding="utf-8-sig"))
    return _prepared(spec)


def _prepared(spec: dict[str, Any]) -> dict[str, Any]:
    spec["definitions"] = _strict(_normalize(spec["definitions"]))
    spec["operations"] = {
        op["operationId"]: op
        for path in spec["paths"].values()
        for method, op in path.items()
        if isinstance(op, dict) and "operationId" in op
    }
    return spec


class SpecValidator:
    """`check(area, operationId, body)` validates a 200 body against the operation's schema;
    `check_definition(area, name, body)` against a named definition."""

    def check(
        self, area: str, operation_id: str, body: Any, *, flavor: str = "services", nullable: bool = False
    ) -> None:
        spec = _load(area, flavor)
        operation = spec["operations"][operation_id]
        schema = _normalize(operation["responses"]["200"]["schema"])
        if schema.get("type") == "array":  # lists travel as {count, value}
            items = schema["items"]
            if nullable:
                items = {"anyOf": [items, {"type": "null"}]}
            schema = {
                "type": "object",
                "required": ["count", "value"],
                "additionalProperties": False,
                "properties": {"count": {"type": "integer"}, "value": {"type": "array", "items": items}},
            }
        self._validate(spec, schema, body)

    def check_definition(self, area: str, name: str, body: Any, *, flavor: str = "services") -> None:
        spec = _load(area, flavor)
        self._validate(spec, {"$ref": f"#/definitions/{name}"}, body)

    @staticmethod
    def _validate(spec: dict[str, Any], schema: dict[str, Any], body: Any) -> None:
        wrapper = {**schema, "definitions": spec["definitions"]}
        jsonschema.Draft4Validator(wrapper).validate(body)
