"""The PWA emulator's own control routes under ``/_emulator/`` (no authentication): configuration, people
editing and holding check-outs, queue job failures, token revocation, plus the seed body. The kit
(`emulators.common.Emulator`) adds seed, state, reset and the shared faults/counters/clock routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.common import json_response, request_json
from emulators.pwa.errors import PwaError

if TYPE_CHECKING:
    from emulators.pwa.emulator import PwaEmulator


class SeedUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str
    displayName: str
    password: str | None = None
    admin: bool = False
    canWrite: bool = True
    canReport: bool = True


class SeedResource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    email: str
    generic: bool = False


class SeedLookupTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    entries: list[str]


class SeedCustomField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: str | int = "text"
    entity: str = "task"
    lookupTable: str | None = None


class SeedTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    parent: str | None = None
    start: str | None = None
    finish: str | None = None
    duration: str | None = None
    work: str | None = None
    actualWork: str | None = None
    percentComplete: int | None = None
    isManual: bool = False
    notes: str = ""
    customFields: dict[str, Any] = Field(default_factory=dict)
    assignments: list[str] = Field(default_factory=list)


class SeedProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    start: str | None = None
    customFields: dict[str, Any] = Field(default_factory=dict)
    master: bool = False
    subprojects: list[str] = Field(default_factory=list)
    tasks: list[SeedTask] = Field(default_factory=list)


class Seed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[SeedUser] = Field(default_factory=list)
    resources: list[SeedResource] = Field(default_factory=list)
    lookupTables: list[SeedLookupTable] = Field(default_factory=list)
    customFields: list[SeedCustomField] = Field(default_factory=list)
    projects: list[SeedProject] = Field(default_factory=list)


class ConfigChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queueDelay: float | None = Field(default=None, ge=0)
    reportingDelay: float | None = Field(default=None, ge=0)
    projectDataPageSize: int | None = Field(default=None, ge=1)
    psPageSize: int | None = Field(default=None, ge=0)
    digestRequiredWithBearer: bool | None = None
    rateLimitPerMinute: int | None = Field(default=None, ge=0)
    maxRequestBytes: int | None = Field(default=None, ge=1)
    tokenLifetime: int | None = Field(default=None, ge=1)


class Edit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    customFields: dict[str, Any] = Field(default_factory=dict)
    by: str | None = None
    publish: bool = True


class CheckoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str


class FailNext(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projectId: str | None = None
    messageType: int | None = None
    times: int = Field(default=1, ge=1)


class Revoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refreshToken: str | None = None
    accessToken: str | None = None


_CONFIG_NAMES = {
    "queueDelay": "queue_delay",
    "reportingDelay": "reporting_delay",
    "projectDataPageSize": "project_data_page_size",
    "psPageSize": "ps_page_size",
    "digestRequiredWithBearer": "digest_required_with_bearer",
    "rateLimitPerMinute": "rate_limit_per_minute",
    "maxRequestBytes": "max_request_bytes",
    "tokenLifetime": "token_lifetime",
}


def control_error(exc: Exception) -> Response:
    if isinstance(exc, PwaError):
        return json_response(exc.body(verbose=True), exc.status)
    return json_response({"message": str(exc)}, 400)


def vendor_routes(emu: PwaEmulator, prefix: str) -> list[Route]:
    async def config(request: Request) -> Response:
        try:
            change = ConfigChange.model_validate(await request_json(request))
            settings = {_CONFIG_NAMES[k]: v for k, v in change.model_dump(exclude_none=True).items()}
            if settings.get("ps_page_size") == 0:
                settings["ps_page_size"] = None
            emu.configure(**settings)
        except (ValidationError, ValueError) as exc:
            return control_error(exc)
        return json_response(emu.describe()["config"])

    async def edit(request: Request) -> Response:
        try:
            change = Edit.model_validate(await request_json(request))
            emu.edit_project(
                request.path_params["pid"],
                change.tasks,
                custom_fields=change.customFields,
                by=change.by,
                publish=change.publish,
            )
        except (ValidationError, ValueError, PwaError) as exc:
            return control_error(exc)
        return json_response({"ok": True})

    async def checkout(request: Request) -> Response:
        try:
            if request.method == "DELETE":
                emu.release_checkout(request.path_params["pid"])
            else:
                body = CheckoutBody.model_validate(await request_json(request))
                emu.set_checkout(request.path_params["pid"], body.user)
        except (ValidationError, ValueError) as exc:
            return control_error(exc)
        return json_response({"ok": True})

    async def queue(_: Request) -> Response:
        emu.run_queue()
        with emu.state.lock:
            jobs = [j.describe() for j in emu.state.queue.jobs]
        return json_response({"count": len(jobs), "value": jobs})

    async def fail_next(request: Request) -> Response:
        try:
            body = FailNext.model_validate(await request_json(request))
            emu.fail_next_job(body.projectId, message_type=body.messageType, times=body.times)
        except (ValidationError, ValueError) as exc:
            return control_error(exc)
        return json_response({"ok": True})

    async def job_action(request: Request) -> Response:
        action = request.path_params["action"]
        job_id = request.path_params["jid"]
        with emu.state.lock:
            now = emu.clock.timestamp()
            queue = emu.state.queue
            if action == "cancel":
                job = queue.cancel(job_id, now)
            elif action == "retry":
                job = queue.retry(job_id, now)
            else:
                return json_response({"message": f"unknown queue action {action!r}"}, 404)
            if job is None:
                return json_response({"message": f"no queue job {job_id}"}, 404)
            return json_response(job.describe())

    async def revoke(request: Request) -> Response:
        try:
            body = Revoke.model_validate(await request_json(request))
        except (ValidationError, ValueError) as exc:
            return control_error(exc)
        revoked = False
        with emu.state.lock:
            for token in (body.refreshToken, body.accessToken):
                if token:
                    revoked = emu.auth.revoke(token) or revoked
        return json_response({"revoked": revoked})

    return [
        Route(f"{prefix}/config", config, methods=["POST"]),
        Route(f"{prefix}/projects/{{pid}}/edit", edit, methods=["POST"]),
        Route(f"{prefix}/projects/{{pid}}/checkout", checkout, methods=["POST", "DELETE"]),
        Route(f"{prefix}/queue", queue, methods=["GET"]),
        Route(f"{prefix}/queue/fail-next", fail_next, methods=["POST"]),
        Route(f"{prefix}/queue/{{jid}}/{{action}}", job_action, methods=["POST"]),
        Route(f"{prefix}/tokens/revoke", revoke, methods=["POST"]),
    ]
