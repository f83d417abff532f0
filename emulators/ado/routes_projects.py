"""Project creation, update and deletion, which ADO runs asynchronously (202 + an operation reference), and
the operations endpoint clients poll until the operation has succeeded or failed."""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.responses import Response

from emulators.ado import errors
from emulators.ado.app import ApiRoute, Ctx, route
from emulators.ado.errors import AdoError
from emulators.ado.operations import Operation
from emulators.common import json_response

_SOURCE_CONTROL = {"git": "Git", "tfvc": "Tfvc"}
_VISIBILITY = {"private": "private", "public": "public"}


def _reference(ctx: Ctx, op: Operation) -> Response:
    body = {
        "id": op.id,
        "status": op.status,
        "url": f"{ctx.env.base_url()}/_apis/operations/{op.id}",
    }
    response = json_response(body, 202)
    response.headers["Content-Type"] = f"application/json; charset=utf-8; api-version={ctx.api_version_text}"
    return response


def _invalid(message: str) -> AdoError:
    return AdoError(400, message, "ProjectWorkPolicyViolationException")


async def create_project(ctx: Ctx) -> Response:
    body = await ctx.body()
    if not isinstance(body, dict):
        raise errors.invalid_body()
    name = str(body.get("name") or "").strip()
    if not name:
        raise _invalid("TF200001: The project name is missing.")
    capabilities = body.get("capabilities") or {}
    template = str(((capabilities.get("processTemplate") or {}).get("templateTypeId")) or "")
    source = str(((capabilities.get("versioncontrol") or {}).get("sourceControlType")) or "")
    process = ctx.state.find_process(template) if template else None
    if process is None:
        raise _invalid(f"VS402361: The process template '{template or '(none)'}' does not exist.")
    if source.lower() not in _SOURCE_CONTROL:
        raise _invalid(f"VS402362: The version control type '{source or '(none)'}' is not Git or Tfvc.")
    visibility = _VISIBILITY.get(str(body.get("visibility") or "private").lower())
    if visibility is None:
        raise _invalid(f"The visibility '{body.get('visibility')}' is not private or public.")
    if ctx.state.find_project(name) is not None:
        raise AdoError(
            409,
            f"TF200019: The following project already exists on the Azure DevOps Server: {name}. "
            "You cannot create a new project with the same name as an existing project. "
            "Provide a different name, and then try again.",
            "ProjectAlreadyExistsException",
        )
    description = str(body.get("description") or "")

    def complete() -> str | None:
        try:
            ctx.state.seed_project(
                name,
                process.name,
                description=description,
                source_control=_SOURCE_CONTROL[source.lower()],
                visibility=visibility,
            )
        except ValueError as exc:  # created meanwhile by another request
            return str(exc)
        ctx.env.counters.record_write("project")
        return None

    return _reference(ctx, ctx.env.operations.start(complete))


async def update_project(ctx: Ctx) -> Response:
    project = ctx.state.project(ctx.params["projectId"])
    body = await ctx.body()
    if not isinstance(body, dict):
        raise errors.invalid_body()
    name = body.get("name")
    if name is not None:
        other = ctx.state.find_project(str(name))
        if other is not None and other.id != project.id:
            raise AdoError(
                409, f"TF200019: The project {name} already exists.", "ProjectAlreadyExistsException"
            )
    visibility = body.get("visibility")
    if visibility is not None and str(visibility).lower() not in _VISIBILITY:
        raise _invalid(f"The visibility '{visibility}' is not private or public.")

    def complete() -> str | None:
        with ctx.state.lock:
            if name is not None:
                project.name = str(name)
            if body.get("description") is not None:
                project.description = str(body["description"])
            if visibility is not None:
                project.visibility = _VISIBILITY[str(visibility).lower()]
            project.revision += 1
        ctx.env.counters.record_write("project")
        return None

    return _reference(ctx, ctx.env.operations.start(complete))


async def delete_project(ctx: Ctx) -> Response:
    project = ctx.state.project(ctx.params["projectId"])

    def complete() -> str | None:
        with ctx.state.lock, contextlib.suppress(KeyError):
            del ctx.state.projects[project.id]
        ctx.env.counters.record_write("project.delete")
        return None

    return _reference(ctx, ctx.env.operations.start(complete))


async def get_operation(ctx: Ctx) -> dict[str, Any]:
    op = ctx.env.operations.poll(ctx.params["operationId"])
    if op is None:
        raise errors.operation_not_found(ctx.params["operationId"])
    url = f"{ctx.env.base_url()}/_apis/operations/{op.id}"
    body: dict[str, Any] = {
        "id": op.id,
        "status": op.status,
        "url": url,
        "pluginId": op.plugin_id,
        "_links": {"self": {"href": url}},
    }
    if op.result_message:
        body["resultMessage"] = op.result_message
    return body


ROUTES: list[ApiRoute] = [
    route("core.projects.create", "POST", r"/_apis/projects", create_project),
    route("core.projects.update", "PATCH", r"/_apis/projects/(?P<projectId>[^/]+)", update_project),
    route("core.projects.delete", "DELETE", r"/_apis/projects/(?P<projectId>[^/]+)", delete_project),
    route("operations.get", "GET", r"/_apis/operations/(?P<operationId>[^/]+)", get_operation),
]
