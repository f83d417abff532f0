"""Checks Planner payloads against the Graph v1.0 Planner slice in `specs/graph/planner-openapi.yaml`.

`validate(name, body)` runs JSON Schema validation (OpenAPI 3.0's `nullable` turned into `null` types);
`undeclared(name, body)` lists properties the schema does not declare, so an emulator or a connector that
invents a property is caught even where the schema leaves `additionalProperties` open.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC = Path(__file__).resolve().parents[2] / "specs" / "graph" / "planner-openapi.yaml"
PREFIX = "microsoft.graph."
# Instance annotations Graph adds to any object.
ANNOTATIONS = {"@odata.context", "@odata.type", "@odata.etag", "@odata.nextLink"}


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v) for k, v in node.items() if not k.startswith("x-") and k != "nullable"}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


@cache
def _definitions() -> dict[str, Any]:
    return {name: _convert(schema) for name, schema in spec()["components"]["schemas"].items()}


def validate(name: str, body: Any) -> None:
    """Validate `body` against `microsoft.graph.<name>` (raises jsonschema.ValidationError)."""
    wrapper = {"$ref": f"#/definitions/{PREFIX}{name}", "definitions": _definitions()}
    jsonschema.Draft7Validator(wrapper).validate(body)


def properties(name: str) -> set[str]:
    """Every property `microsoft.graph.<name>` declares, through `allOf` and `$ref`."""
    schema = spec()["components"]["schemas"][PREFIX + name]
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "$ref" in node:
            walk(spec()["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
        for part in node.get("allOf", []):
            walk(part)
        found.update(node.get("properties", {}))

    walk(schema)
    return found


def undeclared(name: str, body: dict[str, Any]) -> set[str]:
    return set(body) - properties(name) - ANNOTATIONS


def operation(path: str, method: str) -> dict[str, Any]:
    return spec()["paths"][path][method.lower()]
