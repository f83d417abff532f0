"""The Planner emulator's control API under ``/_emulator/`` (no authentication): seeding, state,
configuration, a raced details update (409), person edits, token revocation, reset, plus the shared
faults/counters/clock routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.common import common_control_routes, json_response
from emulators.planner.store import GraphError

if TYPE_CHECKING:
    from emulators.planner.emulator import PlannerEmulator


class SeedUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    displayName: str
    mail: str | None = None
    userPrincipalName: str | None = None


class SeedTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    bucket: str | None = None  # bucket name
    percentComplete: int = 0
    startDateTime: str | None = None
    dueDateTime: str | None = None
    priority: int = 5
    appliedCategories: list[str] = Field(default_factory=list)
    assignees: list[str] = Field(default_factory=list)  # e-mail or UPN
    description: str = ""


class SeedPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    group: str = "Project Team"
    buckets: list[str] = Field(default_factory=list)
    categoryDescriptions: dict[str, str | None] = Field(default_factory=dict)
    tasks: list[SeedTask] = Field(default_factory=list)
    generatedTasks: int = Field(0, ge=0)  # extra tasks "Task 1".."Task N" (benchmarks)


class Seed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[SeedUser] = Field(default_factory=list)
    plans: list[SeedPlan] = Field(default_factory=list)


class ConfigChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pageSize: int | None = Field(default=None, ge=1)
    tokenLifetime: int | None = Field(default=None, ge=1)
    rateLimitPerMinute: int | None = Field(default=None, ge=0)  # 0 turns the limit off


class PersonEdit(BaseModel):
    """A person changing a task in Planner (no ETag needed: the UI always holds the latest)."""

    model_config = ConfigDict(extra="forbid")

    task: dict[str, Any] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)


class ConflictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    times: int = Field(1, ge=1)


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refreshToken: str | None = None
    accessToken: str | None = None


def _problem(exc: Exception) -> Response:
    if isinstance(exc, GraphError):
        return json_response({"message": exc.message, "code": exc.code}, exc.status)
    return json_response({"message": str(exc)}, 400)


def control_routes(emulator: PlannerEmulator, prefix: str = "/_emulator") -> list[Route]:
    async def body_of(request: Request, model: type[BaseModel]) -> Any:
        raw = await request.body()
        return model.model_validate_json(raw or b"{}")

    async def seed(request: Request) -> Response:
        try:
            parsed = await body_of(request, Seed)
            return json_response(emulator.apply_seed(parsed))
        except (ValidationError, ValueError, GraphError) as exc:
            return _problem(exc)

    async def state(_: Request) -> Response:
        with emulator.state.lock:
            return json_response(emulator.state.describe())

    async def config(request: Request) -> Response:
        try:
            change = await body_of(request, ConfigChange)
        except (ValidationError, ValueError) as exc:
            return _problem(exc)
        emulator.configure(
            page_size=change.pageSize,
            token_lifetime=change.tokenLifetime,
            rate_limit_per_minute=change.rateLimitPerMinute,
        )
        return json_response(emulator.state.describe()["config"])

    async def edit(request: Request) -> Response:
        try:
            change = await body_of(request, PersonEdit)
            task = emulator.edit_task(request.path_params["task_id"], change.task, change.details)
        except (ValidationError, ValueError, GraphError) as exc:
            return _problem(exc)
        return json_response(task)

    async def conflict(request: Request) -> Response:
        try:
            change = await body_of(request, ConflictBody)
            emulator.conflict_next_details(request.path_params["task_id"], change.times)
        except (ValidationError, ValueError, GraphError) as exc:
            return _problem(exc)
        return json_response({"ok": True})

    async def revoke(request: Request) -> Response:
        try:
            change = await body_of(request, RevokeBody)
        except (ValidationError, ValueError) as exc:
            return _problem(exc)
        with emulator.state.lock:
            gone = emulator.tokens.refresh.pop(change.refreshToken or "", None) is not None
            gone = emulator.tokens.access.pop(change.accessToken or "", None) is not None or gone
        return json_response({"revoked": gone})

    async def reset(_: Request) -> Response:
        emulator.reset()
        return json_response({"ok": True})

    return [
        *common_control_routes(emulator.faults, emulator.counters, emulator.clock, prefix),
        Route(f"{prefix}/seed", seed, methods=["POST"]),
        Route(f"{prefix}/state", state, methods=["GET"]),
        Route(f"{prefix}/config", config, methods=["POST"]),
        Route(f"{prefix}/tasks/{{task_id}}/edit", edit, methods=["POST"]),
        Route(f"{prefix}/tasks/{{task_id}}/conflict-next-details", conflict, methods=["POST"]),
        Route(f"{prefix}/tokens/revoke", revoke, methods=["POST"]),
        Route(f"{prefix}/reset", reset, methods=["POST"]),
    ]
