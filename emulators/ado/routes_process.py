"""Inherited-process customization (`_apis/work/processes`, reference §5): the organization's processes,
their work item types (a system type is customized by deriving an inherited type from it) and the fields
on each type. System processes are read-only: any change is refused as ADO refuses it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, ValidationError

from emulators.ado import errors
from emulators.ado.app import ApiRoute, Ctx, route
from emulators.ado.processes import CORE_TYPE_FIELDS, PROCESSES, FieldDef, ProcessDef, WorkItemTypeDef


def _process(ctx: Ctx) -> ProcessDef:
    key = ctx.params["processId"]
    found = ctx.state.processes.get(key.lower())
    if found is None:
        raise errors.AdoError(
            404, f"VS402362: Process with id '{key}' does not exist.", "ProcessNotFoundByTypeIdException"
        )
    return found


def _writable(process: ProcessDef) -> None:
    if process.is_system:
        raise errors.AdoError(
            403,
            "VS402356: You do not have the permissions required to perform the attempted operation on "
            "this process.",
            "ProcessPermissionException",
        )


def _wit(ctx: Ctx, process: ProcessDef) -> WorkItemTypeDef:
    key = ctx.params["wit"]
    wit = process.find_wit(key)
    if wit is None:
        raise errors.AdoError(
            404,
            f"VS402805: Cannot find work item type with reference name '{key}' in process named "
            f"'{process.name}'.",
            "WorkItemTypeDoesNotExistException",
        )
    return wit


def _process_json(process: ProcessDef) -> dict[str, Any]:
    body: dict[str, Any] = {
        "typeId": process.type_id,
        "name": process.name,
        "description": process.description,
        "parentProcessTypeId": process.parent_type_id,
        "isEnabled": True,
        "isDefault": process.name == "Agile",
        "customizationType": process.customization,
    }
    if process.reference_name:
        body["referenceName"] = process.reference_name
    return body


def _base(ctx: Ctx, process: ProcessDef) -> str:
    return f"{ctx.env.base_url()}/_apis/work/processes/{process.type_id}"


def _wit_json(ctx: Ctx, process: ProcessDef, wit: WorkItemTypeDef) -> dict[str, Any]:
    ref = process.wit_reference(wit)
    body: dict[str, Any] = {
        "referenceName": ref,
        "name": wit.name,
        "description": wit.description,
        "url": f"{_base(ctx, process)}/workItemTypes/{quote(ref)}",
        "customization": "inherited" if wit.name in process.derived else "system",
        "color": wit.color,
        "icon": wit.icon,
        "isDisabled": False,
    }
    if wit.name in process.derived:
        body["inherits"] = wit.reference_name
    return body


def _field_json(
    ctx: Ctx, process: ProcessDef, definition: FieldDef, customization: str, *, required: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "referenceName": definition.ref,
        "name": definition.name,
        "type": definition.kind,
        "url": f"{_base(ctx, process)}/behaviors",
        "customization": customization,
        "required": required,
        "readOnly": definition.system or definition.rules_read_only,
        "allowGroups": False,
    }
    if definition.description:
        body["description"] = definition.description
    return body


def _type_fields(ctx: Ctx, process: ProcessDef, wit: WorkItemTypeDef) -> list[dict[str, Any]]:
    out = []
    for ref in (*CORE_TYPE_FIELDS, *wit.extra_fields):
        definition = ctx.state.fields.find(ref)
        if definition is None:
            continue
        customization = "system" if ref.startswith("System.") else "inherited"
        out.append(
            _field_json(
                ctx, process, definition, customization, required=ref in ("System.Title", "System.State")
            )
        )
    for ref in process.type_fields.get(wit.name, []):
        definition = ctx.state.fields.find(ref)
        if definition is not None:
            out.append(_field_json(ctx, process, definition, "custom"))
    return out


async def list_processes(ctx: Ctx) -> dict[str, Any]:
    with ctx.state.lock:
        value = [_process_json(p) for p in ctx.state.processes.values()]
    return {"count": len(value), "value": value}


async def get_process(ctx: Ctx) -> dict[str, Any]:
    return _process_json(_process(ctx))


async def list_wits(ctx: Ctx) -> dict[str, Any]:
    process = _process(ctx)
    value = [_wit_json(ctx, process, wit) for wit in PROCESSES[process.parent].values()]
    return {"count": len(value), "value": value}


async def get_wit(ctx: Ctx) -> dict[str, Any]:
    process = _process(ctx)
    return _wit_json(ctx, process, _wit(ctx, process))


class CreateWitInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    inheritsFrom: str | None = None
    description: str | None = None
    color: str | None = None
    icon: str | None = None
    isDisabled: bool = False


async def create_wit(ctx: Ctx) -> dict[str, Any]:
    process = _process(ctx)
    _writable(process)
    try:
        body = CreateWitInput.model_validate(await ctx.body() or {})
    except ValidationError as exc:
        raise errors.invalid_body(f"The request body is not valid: {exc.errors()[0]['msg']}") from exc
    if not body.inheritsFrom:
        # Wholly custom types are not emulated; the hub only derives system types.
        raise errors.bad_request("The emulator only creates work item types that inherit from a system type.")
    wit = process.find_wit(body.inheritsFrom)
    if wit is None or wit.reference_name.lower() != body.inheritsFrom.strip().lower():
        raise errors.AdoError(
            404,
            f"VS402805: Cannot find work item type with reference name '{body.inheritsFrom}' in process "
            f"named '{process.name}'.",
            "WorkItemTypeDoesNotExistException",
        )
    with ctx.state.lock:
        if wit.name in process.derived:
            raise errors.AdoError(
                409,
                f"VS402802: A work item type inheriting from '{wit.reference_name}' already exists in "
                f"process '{process.name}'.",
                "WorkItemTypeAlreadyExistsException",
            )
        prefix = re.sub(r"[^A-Za-z0-9]", "", process.name)
        process.derived[wit.name] = f"{prefix}.{wit.name.replace(' ', '')}"
    return _wit_json(ctx, process, wit)


async def list_wit_fields(ctx: Ctx) -> dict[str, Any]:
    process = _process(ctx)
    value = _type_fields(ctx, process, _wit(ctx, process))
    return {"count": len(value), "value": value}


class AddFieldInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referenceName: str
    required: bool = False
    readOnly: bool = False
    allowGroups: bool = False
    defaultValue: Any = None


async def add_wit_field(ctx: Ctx) -> dict[str, Any]:
    process = _process(ctx)
    _writable(process)
    wit = _wit(ctx, process)
    if wit.name not in process.derived:
        raise errors.AdoError(
            400,
            f"VS402806: Work item type '{wit.reference_name}' is a system type; create an inherited work "
            "item type from it before customizing it.",
            "WorkItemTypeNotInheritedException",
        )
    try:
        body = AddFieldInput.model_validate(await ctx.body() or {})
    except ValidationError as exc:
        raise errors.invalid_body(f"The request body is not valid: {exc.errors()[0]['msg']}") from exc
    definition = ctx.state.fields.find(body.referenceName)
    if definition is None:
        raise errors.field_not_found(body.referenceName)
    with ctx.state.lock:
        refs = process.type_fields.setdefault(wit.name, [])
        if definition.ref not in refs:
            refs.append(definition.ref)
    return _field_json(ctx, process, definition, "custom", required=body.required)


_P = r"/_apis/work/processes/(?P<processId>[^/]+)"
_W = _P + r"/workItemTypes/(?P<wit>[^/]+)"

ROUTES: list[ApiRoute] = [
    route("work.processes.list", "GET", r"/_apis/work/processes", list_processes),
    route("work.processes.get", "GET", _P, get_process),
    route("work.processes.workitemtypes.list", "GET", _P + r"/workItemTypes", list_wits),
    route("work.processes.workitemtypes.create", "POST", _P + r"/workItemTypes", create_wit),
    route("work.processes.workitemtypes.get", "GET", _W, get_wit),
    route("work.processes.fields.list", "GET", _W + r"/fields", list_wit_fields),
    route("work.processes.fields.add", "POST", _W + r"/fields", add_wit_field),
]
