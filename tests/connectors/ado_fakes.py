"""Test helpers for connector tests: a scripted ADO over httpx.MockTransport; the OpenAPI specs as schemas."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

SPECS = Path(__file__).resolve().parents[2] / "specs" / "ado"
BASE = "https://dev.azure.com/contoso"
CANARY_PAT = "canaryPAT0123456789abcdefghijklmnopqrstuvwxyz"

Handler = httpx.Response | Callable[[httpx.Request], httpx.Response]


def ado_error(status: int, message: str, type_key: str = "") -> httpx.Response:
    """An error the way ADO sends it."""
    return httpx.Response(status, json={"$id": "1", "message": message, "typeKey": type_key, "errorCode": 0})


def work_item(
    item_id: int,
    rev: int = 1,
    *,
    project: str = "Alpha",
    type: str = "Task",
    changed: str = "2026-01-01T10:00:00.000Z",
    relations: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": item_id,
        "rev": rev,
        "fields": {
            "System.Id": item_id,
            "System.Rev": rev,
            "System.TeamProject": project,
            "System.WorkItemType": type,
            "System.ChangedDate": changed,
            "System.CreatedDate": "2025-12-01T09:00:00.000Z",
            **{k.replace("__", "."): v for k, v in fields.items()},
        },
        "url": f"{BASE}/_apis/wit/workItems/{item_id}",
    }
    if relations is not None:
        body["relations"] = relations
    return body


class FakeAdo:
    """Routes requests to scripted responses by method and URL-path regex, recording every request."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], list[Handler]]] = []
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *responses: Handler) -> FakeAdo:
        """Answer with `responses` in turn (the last one repeats); a callable builds the response."""
        self.routes.append((method.upper(), re.compile(path), list(responses)))
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for method, pattern, responses in self.routes:
            if method == request.method and pattern.search(request.url.path):
                handler = responses.pop(0) if len(responses) > 1 else responses[0]
                return handler(request) if callable(handler) else handler
        return ado_error(404, f"no fake route for {request.method} {request.url.path}")

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and re.search(path, r.url.path)]

    @staticmethod
    def body(request: httpx.Request) -> Any:
        return json.loads(request.content)


# --- OpenAPI specs -------------------------------------------------------------------------------

SPEC_FILES = {
    ("wit", False): "wit/7.1/workItemTracking.json",
    ("wit", True): "wit/azure-devops-server-7.1/workItemTracking-onprem.json",
    ("hooks", False): "hooks/7.1/serviceHooks.json",
    ("hooks", True): "hooks/azure-devops-server-7.1/serviceHooks-onprem.json",
    ("core", False): "core/7.1/core.json",
    ("core", True): "core/azure-devops-server-7.1/core-onprem.json",
}


@cache
def load_spec(area: str, onprem: bool = False) -> dict[str, Any]:
    path = SPECS / SPEC_FILES[(area, onprem)]
    if not path.exists():
        pytest.fail(
            f"OpenAPI spec {path} is missing: the connector tests check request bodies against "
            "specs/ado (copied from MicrosoftDocs/vsts-rest-api-specs, see specs/README.md); restore it"
        )
    return json.loads(path.read_text(encoding="utf-8-sig"))


def _strict(definitions: dict[str, Any]) -> dict[str, Any]:
    """The spec's definitions, made strict (no unknown keys) and corrected where the spec is known wrong."""
    defs = copy.deepcopy(definitions)
    for schema in defs.values():
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    if "JsonPatchOperation" in defs:
        # The spec types `value` as object, but ADO takes any JSON value ("a primitive or a JToken").
        defs["JsonPatchOperation"]["properties"]["value"] = {}
        defs["JsonPatchOperation"]["required"] = ["op", "path"]
    if "JsonPatchDocument" in defs:
        # The spec says "object, allOf array"; the wire format is an array of operations.
        defs["JsonPatchDocument"] = {"type": "array", "items": {"$ref": "#/definitions/JsonPatchOperation"}}
    return defs


class Spec:
    """Validates request bodies and query parameters against one area's OpenAPI description."""

    def __init__(self, area: str, onprem: bool = False) -> None:
        self.area = area
        self.doc = load_spec(area, onprem)
        self.definitions = _strict(self.doc["definitions"])

    def validate(self, definition: str, instance: Any) -> None:
        assert definition in self.definitions, f"{definition} is not defined in the {self.area} spec"
        schema = {"$ref": f"#/definitions/{definition}", "definitions": self.definitions}
        errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(instance), key=str)
        assert not errors, f"body does not match {self.area} spec {definition}: {errors[0].message}"

    def operation(self, method: str, path: str, base: str = BASE) -> dict[str, Any]:
        """The spec operation for a request path; {project}/{team} segments may be left out, as ADO allows."""
        prefix = httpx.URL(base).path.rstrip("/")
        assert path.startswith(prefix + "/"), f"{path} is not under {base}"
        segments = [s for s in path[len(prefix) :].split("/") if s]
        for template, ops in self.doc["paths"].items():
            if method.lower() not in ops:
                continue
            parts = [p for p in template.split("/") if p][1:]
            if _matches(parts, segments):
                return ops[method.lower()]
        raise AssertionError(f"{method} {path} is not an operation of the {self.area} spec")

    def check_query(self, request: httpx.Request, base: str = BASE) -> None:
        op = self.operation(request.method, request.url.path, base)
        declared = {p.get("name") for p in op.get("parameters", []) if p.get("in") == "query"}
        declared.add("api-version")  # a shared $ref parameter
        unknown = set(request.url.params.keys()) - declared
        assert not unknown, f"query parameters {unknown} are not declared for {op.get('operationId')}"


def _matches(template: list[str], segments: list[str]) -> bool:
    if not template:
        return not segments
    head, rest = template[0], template[1:]
    if head in ("{project}", "{team}") and _matches(rest, segments):
        return True
    if not segments:
        return False
    seg = segments[0]
    if head.startswith("{") or head.lower() == seg.lower():
        return _matches(rest, segments[1:])
    # `${type}`: a literal `$` before the parameter.
    if head.startswith("${") and seg.startswith("$"):
        return _matches(rest, segments[1:])
    return False
