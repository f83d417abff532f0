"""Work item tracking endpoints: work items (create, read, update, delete, list, batch), their updates and
revisions, the recycle bin, fields and work item types."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from emulators.ado import errors
from emulators.ado.app import ApiRoute, Ctx, json_patch_body, route
from emulators.ado.patch import parse_ops
from emulators.ado.processes import FieldDef, parse_field_kind
from emulators.ado.render import Expand
from emulators.ado.store import Project, WorkItem, WriteContext
from emulators.ado.values import format_date, parse_date

_EXPANDS = ("none", "relations", "fields", "links", "all")


def _project(ctx: Ctx) -> Project | None:
    key = ctx.params.get("project")
    return ctx.state.project(key) if key else None


def _expand(ctx: Ctx, raw: str | None) -> Expand:
    value = (raw or "none").strip().lower()
    if value not in _EXPANDS:
        raise errors.bad_request(f"The value '{raw}' is not valid for $expand.")
    return value  # type: ignore[return-value]


def _select(ctx: Ctx, names: list[str] | None) -> list[FieldDef] | None:
    if not names:
        return None
    out = []
    for name in names:
        definition = ctx.state.fields.find(name)
        if definition is None:
            raise errors.field_not_found(name)
        out.append(definition)
    return out


def _split(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def _as_of(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        return parse_date(raw).timestamp()
    except ValueError as exc:
        raise errors.bad_request(f"The value '{raw}' is not a valid date for asOf.") from exc


def _item_json(
    ctx: Ctx,
    item: WorkItem,
    *,
    select: list[FieldDef] | None,
    expand: Expand,
    as_of: float | None,
    links: bool,
) -> dict[str, Any]:
    revision = item.current if as_of is None else item.revision_at(as_of)
    if revision is None:
        raise errors.work_item_not_found(item.id)
    return ctx.r.work_item(item, revision, select=select, expand=expand, links=links, style=ctx.style)


# --- single work item -------------------------------------------------------------------------------


async def get_work_item(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    fields = _split(ctx.param("fields"))
    expand_raw = ctx.param("$expand")
    if fields and expand_raw and expand_raw.lower() != "none":
        raise errors.expand_with_fields()
    item = ctx.state.get(int(ctx.params["id"]))
    return _item_json(
        ctx,
        item,
        select=_select(ctx, fields),
        expand=_expand(ctx, expand_raw),
        as_of=_as_of(ctx.param("asOf")),
        links=True,
    )


def _write_context(ctx: Ctx) -> WriteContext:
    return WriteContext(
        user=ctx.user,
        bypass_rules=ctx.flag("bypassRules"),
        validate_only=ctx.flag("validateOnly"),
        suppress_notifications=ctx.flag("suppressNotifications"),
    )


def _written(ctx: Ctx, item: WorkItem, expand: Expand) -> dict[str, Any]:
    body = ctx.r.work_item(item, expand=expand, links=True, relations=True, style=ctx.style)
    if item.id == 0:  # validateOnly create: nothing was stored
        for key in ("id", "url", "_links"):
            body.pop(key, None)
    return body


async def create_work_item(ctx: Ctx) -> dict[str, Any]:
    project = _project(ctx)
    assert project is not None
    ops = parse_ops(await json_patch_body(ctx))
    expand = _expand(ctx, ctx.param("$expand"))
    write = _write_context(ctx)
    item = ctx.state.create(project.id, ctx.params["type"], ops, write)
    if not write.validate_only:
        ctx.env.counters.record_write("create")
    return _written(ctx, item, expand)


async def update_work_item(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    ops = parse_ops(await json_patch_body(ctx))
    expand = _expand(ctx, ctx.param("$expand"))
    write = _write_context(ctx)
    item_id = int(ctx.params["id"])
    before = ctx.state.get(item_id).rev
    item = ctx.state.update(item_id, ops, write)
    if not write.validate_only:
        ctx.env.counters.record_write("update" if item.rev != before else "update_noop")
    return _written(ctx, item, expand)


def _delete_json(ctx: Ctx, item: WorkItem, *, url: str | None = None) -> dict[str, Any]:
    fields = item.fields
    body: dict[str, Any] = {
        "id": item.id,
        "code": 200,
        "type": fields.get("System.WorkItemType"),
        "name": fields.get("System.Title"),
        "project": fields.get("System.TeamProject"),
    }
    if item.deleted is not None:
        body["deletedDate"] = format_date(item.deleted.at)
        body["deletedBy"] = item.deleted.by.wire_string
    body["url"] = url or f"{ctx.r.base}/_apis/wit/recycleBin/{item.id}"
    body["resource"] = ctx.r.work_item(item, links=True, relations=True, style=ctx.style)
    return body


async def delete_work_item(ctx: Ctx) -> dict[str, Any] | Response:
    _project(ctx)
    destroy = ctx.flag("destroy")
    item = ctx.state.delete(int(ctx.params["id"]), WriteContext(user=ctx.user), destroy=destroy)
    ctx.env.counters.record_write("destroy" if destroy else "delete")
    if destroy:
        return Response(status_code=204)
    return _delete_json(ctx, item)


# --- many work items --------------------------------------------------------------------------------


def _many(
    ctx: Ctx,
    ids: list[int],
    *,
    fields: list[str],
    expand_raw: str | None,
    as_of_raw: str | None,
    error_policy: str | None,
) -> dict[str, Any]:
    limit = ctx.env.config.batch_limit
    if len(ids) > limit:
        raise errors.batch_limit(len(ids), limit)
    if fields and expand_raw and expand_raw.lower() != "none":
        raise errors.expand_with_fields()
    policy = (error_policy or "fail").strip().lower()
    if policy not in ("fail", "omit"):
        raise errors.bad_request(f"The value '{error_policy}' is not valid for errorPolicy.")
    select = _select(ctx, fields)
    expand = _expand(ctx, expand_raw)
    as_of = _as_of(as_of_raw)
    value: list[dict[str, Any] | None] = []
    for item_id in ids:
        try:
            item = ctx.state.get(item_id)
            value.append(_item_json(ctx, item, select=select, expand=expand, as_of=as_of, links=False))
        except errors.AdoError:
            if policy == "fail":
                raise
            value.append(None)
    return {"count": len(value), "value": value}


async def list_work_items(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    raw = ctx.param("ids")
    if not raw:
        raise errors.bad_request("Value cannot be null.\r\nParameter name: ids", "ArgumentNullException")
    try:
        ids = [int(part) for part in _split(raw)]
    except ValueError as exc:
        raise errors.bad_request(f"The value '{raw}' is not valid for ids.") from exc
    return _many(
        ctx,
        ids,
        fields=_split(ctx.param("fields")),
        expand_raw=ctx.param("$expand"),
        as_of_raw=ctx.param("asOf"),
        error_policy=ctx.param("errorPolicy"),
    )


class BatchRequest(BaseModel):
    """WorkItemBatchGetRequest."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    ids: list[int] = Field(default_factory=list)
    fields: list[str] | None = None
    expand: str | None = Field(default=None, alias="$expand")
    asOf: str | None = None
    errorPolicy: str | None = None


async def work_items_batch(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    body = await ctx.body()
    try:
        request = BatchRequest.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise errors.invalid_body(
            f"The request body is not a valid WorkItemBatchGetRequest: {exc.errors()[0]['msg']}"
        ) from exc
    if not request.ids:
        raise errors.bad_request("Value cannot be null.\r\nParameter name: ids", "ArgumentNullException")
    return _many(
        ctx,
        request.ids,
        fields=request.fields or [],
        expand_raw=request.expand,
        as_of_raw=request.asOf,
        error_policy=request.errorPolicy,
    )


# --- history ----------------------------------------------------------------------------------------


def _page(ctx: Ctx, values: list[Any]) -> dict[str, Any]:
    skip = ctx.int_param("$skip", 0) or 0
    top = ctx.int_param("$top")
    page = values[skip:] if top is None else values[skip : skip + top]
    return {"count": len(page), "value": page}


async def list_updates(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    item = ctx.state.get(int(ctx.params["id"]))
    return _page(ctx, [ctx.r.update(item, i, style=ctx.style) for i in range(len(item.revisions))])


async def get_update(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    item = ctx.state.get(int(ctx.params["id"]))
    number = int(ctx.params["number"])
    if not 1 <= number <= len(item.revisions):
        raise errors.revision_not_found(item.id, number)
    return ctx.r.update(item, number - 1, style=ctx.style)


async def list_revisions(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    item = ctx.state.get(int(ctx.params["id"]))
    expand = _expand(ctx, ctx.param("$expand"))
    return _page(
        ctx, [ctx.r.revision_resource(item, rev, expand=expand, style=ctx.style) for rev in item.revisions]
    )


async def get_revision(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    item = ctx.state.get(int(ctx.params["id"]))
    number = int(ctx.params["number"])
    if not 1 <= number <= len(item.revisions):
        raise errors.revision_not_found(item.id, number)
    expand = _expand(ctx, ctx.param("$expand"))
    return ctx.r.revision_resource(item, item.revisions[number - 1], expand=expand, style=ctx.style)


# --- recycle bin ------------------------------------------------------------------------------------


async def list_recycle_bin(ctx: Ctx) -> dict[str, Any]:
    project = _project(ctx)
    items = [i for i in ctx.state.deleted_items() if project is None or i.project_name == project.name]
    value = [{"id": i.id, "url": f"{ctx.r.base}/_apis/wit/recycleBin/{i.id}"} for i in items]
    return {"count": len(value), "value": value}


async def get_recycled(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    item_id = int(ctx.params["id"])
    item = ctx.state.get(item_id, include_deleted=True)
    if item.deleted is None:
        raise errors.work_item_not_found(item_id)
    return _delete_json(ctx, item)


async def restore_recycled(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    body = await ctx.body()
    if not isinstance(body, dict) or body.get("isDeleted") is not False:
        raise errors.invalid_body('The body must be {"isDeleted": false}.')
    item = ctx.state.restore(int(ctx.params["id"]), WriteContext(user=ctx.user))
    ctx.env.counters.record_write("restore")
    return _delete_json(ctx, item, url=ctx.r.item_url(item.id))


async def destroy_recycled(ctx: Ctx) -> Response:
    _project(ctx)
    item_id = int(ctx.params["id"])
    item = ctx.state.get(item_id, include_deleted=True)
    if item.deleted is None:
        raise errors.work_item_not_found(item_id)
    ctx.state.delete(item_id, WriteContext(user=ctx.user), destroy=True)
    ctx.env.counters.record_write("destroy")
    return Response(status_code=204)


# --- fields and types -------------------------------------------------------------------------------


async def list_fields(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    value = [ctx.r.field(d) for d in ctx.state.fields.all()]
    return {"count": len(value), "value": value}


async def get_field(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    definition = ctx.state.fields.find(ctx.params["field"])
    if definition is None:
        error = errors.field_not_found(ctx.params["field"])
        error.status = 404
        raise error
    return ctx.r.field(definition)


class FieldInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    referenceName: str
    type: str = "string"
    description: str = ""
    isIdentity: bool = False


async def create_field(ctx: Ctx) -> dict[str, Any]:
    _project(ctx)
    try:
        body = FieldInput.model_validate(await ctx.body() or {})
    except ValidationError as exc:
        raise errors.invalid_body(
            f"The request body is not a valid WorkItemField2: {exc.errors()[0]['msg']}"
        ) from exc
    try:
        kind = "identity" if body.isIdentity else parse_field_kind(body.type)
    except ValueError as exc:
        raise errors.bad_request(f"The field type '{body.type}' is not supported.") from exc
    if ctx.state.fields.find(body.referenceName) is not None or ctx.state.fields.find(body.name) is not None:
        raise errors.AdoError(
            409,
            f"TF26177: The field {body.referenceName} cannot be created because a field with that name or "
            "reference name already exists.",
            "WorkItemTrackingFieldDefinitionAlreadyExistsException",
        )
    definition = ctx.state.add_field(
        body.referenceName, body.name, kind, description=body.description, scoped=True
    )
    return ctx.r.field(definition)


async def list_types(ctx: Ctx) -> dict[str, Any]:
    project = _project(ctx)
    assert project is not None
    value = [ctx.r.work_item_type(project, wit) for wit in project.types.values()]
    return {"count": len(value), "value": value}


def _type(ctx: Ctx) -> tuple[Project, Any]:
    project = _project(ctx)
    assert project is not None
    wit = project.find_type(ctx.params["type"])
    if wit is None:
        raise errors.work_item_type_not_found(ctx.params["type"], project.id)
    return project, wit


async def get_type(ctx: Ctx) -> dict[str, Any]:
    project, wit = _type(ctx)
    return ctx.r.work_item_type(project, wit)


async def list_type_states(ctx: Ctx) -> dict[str, Any]:
    _, wit = _type(ctx)
    value = [{"name": s.name, "color": s.color, "category": s.category} for s in wit.states]
    return {"count": len(value), "value": value}


ROUTES: list[ApiRoute] = [
    route("wit.fields.list", "GET", r"{P}/_apis/wit/fields", list_fields),
    route("wit.fields.create", "POST", r"{P}/_apis/wit/fields", create_field),
    route("wit.fields.get", "GET", r"{P}/_apis/wit/fields/(?P<field>[^/]+)", get_field),
    route("wit.workitemtypes.list", "GET", r"{P!}/_apis/wit/workitemtypes", list_types),
    route("wit.workitemtypes.get", "GET", r"{P!}/_apis/wit/workitemtypes/(?P<type>[^/]+)", get_type),
    route(
        "wit.workitemtypes.states",
        "GET",
        r"{P!}/_apis/wit/workitemtypes/(?P<type>[^/]+)/states",
        list_type_states,
    ),
    route("wit.workitems.create", "POST", r"{P!}/_apis/wit/workitems/\$(?P<type>[^/]+)", create_work_item),
    # PATCH on the type URL also creates (older clients and $batch entries use it)
    route("wit.workitems.create", "PATCH", r"{P!}/_apis/wit/workitems/\$(?P<type>[^/]+)", create_work_item),
    route("wit.workitems.list", "GET", r"{P}/_apis/wit/workitems", list_work_items),
    route("wit.workitems.get", "GET", r"{P}/_apis/wit/workitems/(?P<id>\d+)", get_work_item),
    route("wit.workitems.update", "PATCH", r"{P}/_apis/wit/workitems/(?P<id>\d+)", update_work_item),
    route("wit.workitems.delete", "DELETE", r"{P}/_apis/wit/workitems/(?P<id>\d+)", delete_work_item),
    route("wit.workitemsbatch", "POST", r"{P}/_apis/wit/workitemsbatch", work_items_batch),
    route("wit.updates.list", "GET", r"{P}/_apis/wit/workitems/(?P<id>\d+)/updates", list_updates),
    route(
        "wit.updates.get", "GET", r"{P}/_apis/wit/workitems/(?P<id>\d+)/updates/(?P<number>\d+)", get_update
    ),
    route("wit.revisions.list", "GET", r"{P}/_apis/wit/workitems/(?P<id>\d+)/revisions", list_revisions),
    route(
        "wit.revisions.get",
        "GET",
        r"{P}/_apis/wit/workitems/(?P<id>\d+)/revisions/(?P<number>\d+)",
        get_revision,
    ),
    route("wit.recyclebin.list", "GET", r"{P}/_apis/wit/recyclebin", list_recycle_bin),
    route("wit.recyclebin.get", "GET", r"{P}/_apis/wit/recyclebin/(?P<id>\d+)", get_recycled),
    route("wit.recyclebin.restore", "PATCH", r"{P}/_apis/wit/recyclebin/(?P<id>\d+)", restore_recycled),
    route("wit.recyclebin.destroy", "DELETE", r"{P}/_apis/wit/recyclebin/(?P<id>\d+)", destroy_recycled),
]
