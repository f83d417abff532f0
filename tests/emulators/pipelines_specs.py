"""The release, distributedTask and serviceEndpoint OpenAPI descriptions copied into the repository
(``specs/ado``, see ``specs/ado/SOURCE-pipelines.md``), as a validator for the emulator's bodies."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from ado_testkit import _normalize, _strict

SPECS = Path(__file__).resolve().parents[2] / "specs" / "ado"
FILES = {
    ("release", "services"): "release/7.1/release.json",
    ("release", "server"): "release/azure-devops-server-7.1/release-onprem.json",
    ("taskAgent", "services"): "distributedTask/7.1/taskAgent.json",
    ("taskAgent", "server"): "distributedTask/azure-devops-server-7.1/taskAgent-onprem.json",
    ("serviceEndpoint", "services"): "serviceEndpoint/7.1/serviceEndpoint.json",
    ("serviceEndpoint", "server"): "serviceEndpoint/azure-devops-server-7.1/serviceEndpoint-onprem.json",
}


def example(path: str) -> dict[str, Any]:
    """One of Microsoft's httpExamples, e.g. ``release/7.1/httpExamples/definitions/...json``."""
    return json.loads((SPECS / path).read_text(encoding="utf-8-sig"))


@cache
def _definitions(area: str, flavor: str) -> dict[str, Any]:
    spec = json.loads((SPECS / FILES[(area, flavor)]).read_text(encoding="utf-8-sig"))
    definitions = _strict(_normalize(spec["definitions"]))
    # A base type others extend (DeployPhase → AgentBasedDeployPhase...) is polymorphic on the wire: the
    # members of the subtype travel where the base is declared.
    bases = {
        part["$ref"].split("/")[-1]
        for d in spec["definitions"].values()
        for part in d.get("allOf", [])
        if "$ref" in part
    }
    for name in bases:
        definitions[name] = {**definitions[name], "additionalProperties": True}
    return definitions


def _without_nulls(node: Any) -> Any:
    """The services write null for unset members (`projectReference`, masked secrets), which swagger 2.0
    cannot declare; Microsoft's own examples carry them. Nulls are left out of the schema check."""
    if isinstance(node, dict):
        return {k: _without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_without_nulls(v) for v in node]
    return node


def check(area: str, definition: str, body: Any, *, flavor: str = "services") -> None:
    """Validate `body` against a named definition of the spec (every property known, types right)."""
    schema = {"$ref": f"#/definitions/{definition}", "definitions": _definitions(area, flavor)}
    jsonschema.Draft4Validator(schema).validate(_without_nulls(body))
