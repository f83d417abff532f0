"""Builds a PipelinesConnector from a connection of type `azure_devops_pipelines`: the ADO connection's own
options (deployment, api_version, identity_map, hosts...) plus the project whose pipelines move, the pool
map, the artifact map and, when the resource-area lookup should not be used, the release host."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.ado.factory import build as build_ado
from connectors.ado_pipelines.connector import PipelinesConnector


class ScenarioOptions(BaseModel):
    """The options a scenario may give a pipelines connection for its side (`connector_options`), over the
    connection's own: the pool and artifact maps belong to a scenario's source/target pairing."""

    model_config = ConfigDict(extra="forbid")

    # A source agent pool's name -> the pool on this side its queues go to (e.g. Server's Default -> a
    # Services pool); a pool with no entry keeps its name, and pre-flight reports it when that is unsafe.
    pool_map: dict[str, str] = Field(default_factory=dict)
    # An artifact's alias (or source definition name) -> the build definition / repository id on this side.
    artifact_map: dict[str, str] = Field(default_factory=dict)


class PipelinesOptions(ScenarioOptions):
    """The options a pipelines connection adds to an Azure DevOps connection's (the pool and artifact maps
    may be set here too, for every scenario of the connection)."""

    project: str = Field(min_length=1)
    release_url: str | None = None


PIPELINES_KEYS = frozenset(PipelinesOptions.model_fields)
SCENARIO_OPTIONS = frozenset(ScenarioOptions.model_fields)


def split_options(options: dict[str, Any]) -> tuple[PipelinesOptions, dict[str, Any]]:
    """(the pipelines options, the ADO connection options)."""
    own = PipelinesOptions.model_validate({k: v for k, v in options.items() if k in PIPELINES_KEYS})
    return own, {k: v for k, v in options.items() if k not in PIPELINES_KEYS}


def options_problems(options: dict[str, Any]) -> list[str]:
    """What is wrong with a pipelines connection's own options, each naming its field."""
    try:
        split_options(options)
    except ValidationError as exc:
        return [f"options.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return []


def scenario_options_problems(options: dict[str, Any]) -> list[str]:
    """What is wrong with the options a scenario gives a pipelines connection, each naming its key."""
    try:
        ScenarioOptions.model_validate(options)
    except ValidationError as exc:
        return [
            f"{'.'.join(str(p) for p in e['loc'])}: "
            + (
                f"not a per-scenario option (a scenario may set {', '.join(sorted(SCENARIO_OPTIONS))})"
                if e["type"] == "extra_forbidden"
                else e["msg"]
            )
            for e in exc.errors()
        ]
    return []


def build(name: str, config: Any, secrets: Any, **extra: Any) -> PipelinesConnector:
    own, ado_options = split_options(dict(config.options or {}))
    ado = build_ado(name, config.model_copy(update={"options": ado_options}), secrets, **extra)
    return PipelinesConnector(
        ado, own.project, release_url=own.release_url, pool_map=own.pool_map, artifact_map=own.artifact_map
    )
