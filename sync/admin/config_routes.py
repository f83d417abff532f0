"""The admin API's configuration routes (FastAPI): instances, integrations, field maps, auto-map, history,
rollback, export and import, under /api/config.

Every write takes `If-Match` with the configuration version (the `ETag` every answer carries) and answers
412 naming the conflict for a stale one; every 4xx is `{"error": …, "field": …}` naming the offending field;
nothing is stored unless the whole new configuration is valid. Include with `app.include_router(router)`;
the services come from `get_services` (the function app's, `sync.triggers.services`), which tests and the
local stack may override through `app.dependency_overrides`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from mapping.fieldmap import FieldRule
from state.config_diff import Change
from sync.config import ConnectionConfig, ScenarioConfig, parse_config
from sync.config_admin import AutoMapProposal, ConfigAdmin, ConfigEditError, Kind
from sync.services import Services


class ErrorBody(BaseModel):
    error: str
    field: str = ""


class NamingErrorsRoute(APIRoute):
    """Request validation and refused edits answer `{"error", "field"}` (the field path, dotted)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = list(exc.errors())
                first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
                prefix = _body_prefix(request)

                def where(error: Any) -> str:
                    loc = [str(p) for p in error.get("loc", ())]
                    if loc and loc[0] == "body":
                        return ".".join([prefix, *loc[1:]] if prefix else loc[1:]) or "body"
                    return ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc)

                message = "; ".join(
                    f"{where(e)}: {str(e.get('msg', '')).removeprefix('Value error, ')}" for e in errors
                )
                return JSONResponse({"error": message, "field": where(first)}, status_code=400)
            except ConfigEditError as exc:
                return JSONResponse({"error": exc.message, "field": exc.field}, status_code=exc.status)

        return route


def _body_prefix(request: Request) -> str:
    """Where a body sits in the configuration: PUT /field-maps/x → field_maps.x (errors name that path)."""
    name = request.path_params.get("name")
    for segment, kind in (
        ("/field-maps/", "field_maps"),
        ("/instances/", "instances"),
        ("/integrations/", "integrations"),
    ):
        if name and segment in request.url.path and request.method == "PUT":
            return f"{kind}.{name}"
    return ""


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 404, 409, 412, 422, 428)
}
router = APIRouter(
    prefix="/api/config", tags=["configuration"], route_class=NamingErrorsRoute, responses=ERRORS
)


Name = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", description="letters, digits, _ . - (at most 63)")
]


def get_services() -> Services:
    from sync.triggers import services

    return services()


ServicesDep = Annotated[Services, Depends(get_services)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="the configuration version (ETag)")]
Author = Annotated[
    str | None,
    Header(alias="X-Tandem-User", description="who makes the change (recorded in the history)"),
]
Principal = Annotated[str | None, Header(alias="X-MS-CLIENT-PRINCIPAL-NAME", include_in_schema=False)]
Verify = Annotated[
    bool, Query(description="check the instance's credentials and fields through its connector (false: skip)")
]


def _expected(if_match: str | None) -> int | None:
    """The version from If-Match; '*' is any version. Writes without one are refused (428)."""
    if if_match is None:
        raise ConfigEditError(
            "writes need If-Match with the configuration version (the ETag of GET /api/config/...)",
            "If-Match",
            428,
        )
    value = if_match.strip().removeprefix("W/").strip('"')
    if value == "*":
        return None
    if not value.isdigit():
        raise ConfigEditError(f"If-Match '{if_match}' is not a configuration version", "If-Match", 400)
    return int(value)


def _author(user: str | None, principal: str | None) -> str:
    return (principal or user or "admin-api").strip()[:120] or "admin-api"


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


class Saved(BaseModel):
    version: int = Field(description="the configuration version this change created (the new ETag)")


class Instance(BaseModel):
    name: str
    instance: ConnectionConfig


class Integration(BaseModel):
    name: str
    integration: ScenarioConfig


class FieldMap(BaseModel):
    name: str
    rules: list[FieldRule]
    used_by: list[str] = Field(default_factory=list, description="integrations that use this map")


class CopyRequest(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", description="the new map's name")


class AutoMapRequest(BaseModel):
    left: str = Field(description="left instance")
    left_entity: str = "workitem"
    right: str = Field(description="right instance")
    right_entity: str = "workitem"


class VersionSummary(BaseModel):
    number: int
    author: str
    at: str
    note: str
    changes: list[Change]


class History(BaseModel):
    current: int
    versions: list[VersionSummary]


class ImportRequest(BaseModel):
    format: Literal["yaml", "json", "xml"]
    text: str = Field(max_length=2_000_000, description="the file's content")


def _admin(services: Services) -> ConfigAdmin:
    return ConfigAdmin(services)


def _used_by(document: dict[str, Any], name: str) -> list[str]:
    from sync.config_admin import _uses_map

    return [s["name"] for s in document["scenarios"] if _uses_map(s, name)]


# -- the whole configuration ------------------------------------------------------------------------
class ConfigApplied(Saved):
    scenarios: list[str] = Field(description="the integrations of the stored configuration")


@router.put("", response_model=ConfigApplied)
def put_config(
    document: Annotated[dict[str, Any], Body(description="the whole configuration document (as export's)")],
    services: ServicesDep,
    response: Response,
    if_match: IfMatch = None,
    user: Author = None,
    principal: Principal = None,
    verify: Verify = True,
) -> ConfigApplied:
    """Replace the whole configuration (`tandem config apply`): validated whole, stored as one version."""
    number = _admin(services).save(
        document,
        author=_author(user, principal),
        expected=_expected(if_match),
        note="put configuration",
        verify=verify,
    )
    _etag(response, number)
    return ConfigApplied(version=number, scenarios=[s.name for s in parse_config(document).scenarios])


def _delete(
    kind: Kind, name: str, services: Services, response: Response, if_match: str | None, user: str | None
) -> Saved:
    """Delete one named entry of the configuration (a new version; nothing on either system)."""
    number = _admin(services).delete(kind, name, author=_author(user, None), expected=_expected(if_match))
    _etag(response, number)
    return Saved(version=number)


# -- instances --------------------------------------------------------------------------------------
@router.get("/instances", response_model=list[Instance])
def list_instances(services: ServicesDep, response: Response) -> list[Instance]:
    document, version = _admin(services).document()
    _etag(response, version)
    return [
        Instance(name=n, instance=ConnectionConfig.model_validate(b))
        for n, b in document["connections"].items()
    ]


@router.get("/instances/{name}", response_model=Instance)
def get_instance(name: Name, services: ServicesDep, response: Response) -> Instance:
    admin = _admin(services)
    _etag(response, admin.store.version())
    return Instance(name=name, instance=ConnectionConfig.model_validate(admin.get("connections", name)))


def _put(
    kind: Kind, name: str, body: Any, services: Services, if_match: str | None, author: str, verify: bool
) -> tuple[Saved, int]:
    number = _admin(services).put(
        kind, name, body, author=author, expected=_expected(if_match), verify=verify
    )
    return Saved(version=number), number


@router.put("/instances/{name}", response_model=Saved)
def put_instance(
    name: Name,
    instance: Annotated[ConnectionConfig, Body()],
    services: ServicesDep,
    response: Response,
    if_match: IfMatch = None,
    user: Author = None,
    principal: Principal = None,
    verify: Verify = True,
) -> Saved:
    body = instance.model_dump(mode="json", exclude_none=True)
    saved, number = _put("connections", name, body, services, if_match, _author(user, principal), verify)
    _etag(response, number)
    return saved


@router.delete("/instances/{name}", response_model=Saved)
def delete_instance(
    name: Name, services: ServicesDep, response: Response, if_match: IfMatch = None, user: Author = None
) -> Saved:
    return _delete("connections", name, services, response, if_match, user)


# -- integrations -----------------------------------------------------------------------------------
@router.get("/integrations", response_model=list[Integration])
def list_integrations(services: ServicesDep, response: Response) -> list[Integration]:
    document, version = _admin(services).document()
    _etag(response, version)
    return [
        Integration(name=s["name"], integration=ScenarioConfig.model_validate(s))
        for s in document["scenarios"]
    ]


@router.get("/integrations/{name}", response_model=Integration)
def get_integration(name: Name, services: ServicesDep, response: Response) -> Integration:
    admin = _admin(services)
    _etag(response, admin.store.version())
    return Integration(name=name, integration=ScenarioConfig.model_validate(admin.get("scenarios", name)))


@router.put("/integrations/{name}", response_model=Saved)
def put_integration(
    name: Name,
    integration: Annotated[ScenarioConfig, Body()],
    services: ServicesDep,
    response: Response,
    if_match: IfMatch = None,
    user: Author = None,
    principal: Principal = None,
    verify: Verify = True,
) -> Saved:
    if integration.name != name:
        raise ConfigEditError(
            f"the body names integration '{integration.name}', the URL '{name}'", "name", 400
        )
    body = integration.model_dump(mode="json", exclude_none=True)
    saved, number = _put("scenarios", name, body, services, if_match, _author(user, principal), verify)
    _etag(response, number)
    return saved


@router.delete("/integrations/{name}", response_model=Saved)
def delete_integration(
    name: Name, services: ServicesDep, response: Response, if_match: IfMatch = None, user: Author = None
) -> Saved:
    """Stops the integration's synchronization; deletes no data on either system."""
    return _delete("scenarios", name, services, response, if_match, user)


# -- field maps -------------------------------------------------------------------------------------
@router.get("/field-maps", response_model=list[FieldMap])
def list_field_maps(services: ServicesDep, response: Response) -> list[FieldMap]:
    document, version = _admin(services).document()
    _etag(response, version)
    return [
        FieldMap(name=n, rules=[FieldRule.model_validate(r) for r in rules], used_by=_used_by(document, n))
        for n, rules in document["field_maps"].items()
    ]


@router.get("/field-maps/{name}", response_model=FieldMap)
def get_field_map(name: Name, services: ServicesDep, response: Response) -> FieldMap:
    admin = _admin(services)
    document, version = admin.document()
    _etag(response, version)
    rules = admin.get("field_maps", name)
    return FieldMap(
        name=name, rules=[FieldRule.model_validate(r) for r in rules], used_by=_used_by(document, name)
    )


@router.put("/field-maps/{name}", response_model=Saved)
def put_field_map(
    name: Name,
    rules: Annotated[list[FieldRule], Body()],
    services: ServicesDep,
    response: Response,
    if_match: IfMatch = None,
    user: Author = None,
    principal: Principal = None,
    verify: Verify = True,
) -> Saved:
    """Replaces the map's rules: every integration that uses this (shared) map follows the new rules."""
    body = [_rule_document(r) for r in rules]
    saved, number = _put("field_maps", name, body, services, if_match, _author(user, principal), verify)
    _etag(response, number)
    return saved


def _rule_document(rule: FieldRule) -> dict[str, Any]:
    """A rule as stored: defaults left out, except inside its transform, whose `kind` says which it is."""
    document = rule.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    if rule.transform is not None:
        document["transform"] = rule.transform.model_dump(mode="json", exclude_none=True)
    return document


@router.delete("/field-maps/{name}", response_model=Saved)
def delete_field_map(
    name: Name, services: ServicesDep, response: Response, if_match: IfMatch = None, user: Author = None
) -> Saved:
    return _delete("field_maps", name, services, response, if_match, user)


@router.post("/field-maps/{name}/copy", response_model=Saved)
def copy_field_map(
    name: Name,
    request: CopyRequest,
    services: ServicesDep,
    response: Response,
    if_match: IfMatch = None,
    user: Author = None,
) -> Saved:
    """An independent copy: edits of either map leave the other as it is."""
    number = _admin(services).copy_map(
        name, request.name, author=_author(user, None), expected=_expected(if_match)
    )
    _etag(response, number)
    return Saved(version=number)


# -- auto-map, history, rollback, export, import ----------------------------------------------------
@router.post("/mappings/auto", response_model=AutoMapProposal)
def auto_map(request: AutoMapRequest, services: ServicesDep) -> AutoMapProposal:
    """Proposed rules for fields of the same name and compatible types; nothing is saved."""
    return _admin(services).auto_map(request.left, request.left_entity, request.right, request.right_entity)


@router.get("/history", response_model=History)
def history(
    services: ServicesDep, response: Response, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> History:
    admin = _admin(services)
    current = admin.store.version()
    _etag(response, current)
    versions = [
        VersionSummary(number=v.number, author=v.author, at=v.at.isoformat(), note=v.note, changes=v.changes)
        for v in admin.history(limit)
    ]
    return History(current=current, versions=versions)


@router.post("/rollback/{version}", response_model=Saved)
def rollback(
    version: int, services: ServicesDep, response: Response, if_match: IfMatch = None, user: Author = None
) -> Saved:
    """Restores version N's configuration as a new version."""
    number = _admin(services).rollback(version, author=_author(user, None), expected=_expected(if_match))
    _etag(response, number)
    return Saved(version=number)


@router.get("/export", response_class=Response, responses={200: {"content": {"application/yaml": {}}}})
def export(services: ServicesDep, format: Annotated[Literal["yaml", "json"], Query()] = "yaml") -> Response:
    admin = _admin(services)
    text = admin.export(format)
    media = "application/json" if format == "json" else "application/yaml"
    return Response(text, media_type=media, headers={"ETag": f'"{admin.store.version()}"'})


@router.post("/import", response_model=Saved)
def import_config(
    request: ImportRequest,
    services: ServicesDep,
    response: Response,
    if_match: IfMatch = None,
    user: Author = None,
    verify: Verify = True,
) -> Saved:
    """YAML/JSON: the whole configuration. XML: field maps (README, "Mapping XML"), added or replaced."""
    number = _admin(services).import_text(
        request.text, request.format, author=_author(user, None), expected=_expected(if_match), verify=verify
    )
    _etag(response, number)
    return Saved(version=number)
