"""The ADO emulator's own control routes under ``/_emulator/`` (no authentication): configuration,
simulated user edits and hook delivery control, plus the seed body. The kit (`emulators.common.Emulator`)
adds seed, state, reset and the shared faults/counters/clock routes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.ado.errors import AdoError
from emulators.ado.hooks import DeliveryChaos
from emulators.common import json_response, request_json

if TYPE_CHECKING:
    from emulators.ado.emulator import AdoEmulator


class SeedProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    process: str = "Agile"
    description: str = ""
    areas: list[str] = Field(default_factory=list)
    iterations: list[str] | None = None


class SeedProcess(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    parent: str = "Agile"


class SeedUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    displayName: str
    uniqueName: str
    email: str | None = None
    pat: str | None = None


class SeedField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    referenceName: str
    name: str | None = None
    type: str = "string"


class SeedWorkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str
    type: str
    fields: dict[str, Any] = Field(default_factory=dict)
    parent: int | None = None
    by: str | None = None
    notify: bool = False


class Seed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[SeedUser] = Field(default_factory=list)
    fields: list[SeedField] = Field(default_factory=list)
    processes: list[SeedProcess] = Field(default_factory=list)
    projects: list[SeedProject] = Field(default_factory=list)
    workItems: list[SeedWorkItem] = Field(default_factory=list)


class ConfigChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    maxApiVersion: str | None = None
    previewApiVersion: str | None = None
    wiqlMaxResults: int | None = Field(default=None, ge=1)
    batchLimit: int | None = Field(default=None, ge=1)


class Edit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: dict[str, Any]
    by: str | None = None
    notify: bool = True


def control_error(exc: Exception) -> Response:
    if isinstance(exc, AdoError):
        return json_response(exc.body(), exc.status)
    return json_response({"message": str(exc)}, 400)


def vendor_routes(emu: AdoEmulator, prefix: str) -> list[Route]:
    async def config(request: Request) -> Response:
        try:
            change = ConfigChange.model_validate(await request_json(request))
            emu.configure(
                max_api_version=change.maxApiVersion,
                preview_api_version=change.previewApiVersion,
                wiql_max_results=change.wiqlMaxResults,
                batch_limit=change.batchLimit,
            )
        except (ValidationError, ValueError) as exc:
            return control_error(exc)
        return json_response(emu.describe()["config"])

    async def edit(request: Request) -> Response:
        try:
            change = Edit.model_validate(await request_json(request))
            item = emu.state.update_work_item(
                int(request.path_params["id"]), change.fields, by=change.by, notify=change.notify
            )
        except (ValidationError, ValueError, AdoError) as exc:
            return control_error(exc)
        return json_response({"id": item.id, "rev": item.rev})

    async def deliveries(_: Request) -> Response:
        log = emu.hooks.delivery_log()
        return json_response(
            {"count": len(log), "value": log, "paused": emu.hooks.paused, "pending": emu.hooks.pending()}
        )

    async def hooks_action(request: Request) -> Response:
        action = request.path_params["action"]
        hooks = emu.hooks
        if action == "pause":
            hooks.pause()
        elif action == "resume":
            hooks.resume()
        elif action == "flush":
            hooks.flush()
        elif action == "chaos":
            try:
                hooks.set_chaos(DeliveryChaos.model_validate(await request_json(request)))
            except (ValidationError, ValueError) as exc:
                return control_error(exc)
            return json_response(hooks.chaos.model_dump())
        elif action == "wait-idle":
            body = await request_json(request)
            timeout = float(body.get("timeout", 5)) if isinstance(body, dict) else 5.0
            idle = await asyncio.to_thread(hooks.wait_idle, timeout)
            return json_response({"idle": idle, "pending": hooks.pending()})
        else:
            return json_response({"message": f"unknown hooks action {action!r}"}, 404)
        return json_response({"paused": hooks.paused, "pending": hooks.pending()})

    return [
        Route(f"{prefix}/config", config, methods=["POST"]),
        Route(f"{prefix}/work-items/{{id:int}}", edit, methods=["POST"]),
        Route(f"{prefix}/hooks/deliveries", deliveries, methods=["GET"]),
        Route(f"{prefix}/hooks/{{action}}", hooks_action, methods=["POST"]),
    ]
