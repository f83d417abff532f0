"""Release definitions (classic release pipelines): list, get, create, update with `revision`
(a stale revision is refused), revision history. Served on the release host: ``vsrm`` on Services,
the collection URL on Server."""

from __future__ import annotations

import copy
import json
from typing import Any

from starlette.responses import Response

from emulators.ado import errors
from emulators.ado.app import ApiRoute, Ctx, route
from emulators.ado.pipelines_store import PipelinesState, ReleaseDefinition, masked_variables

_LIST_EXPANDS = {"environments", "artifacts", "triggers", "variables", "tags", "lastrelease"}


def _p(ctx: Ctx) -> PipelinesState:
    return ctx.env.pipelines


def _project(ctx: Ctx) -> dict[str, str]:
    project = ctx.state.project(ctx.params["project"])
    return {"id": project.id, "name": project.name}


def render_definition(
    ctx: Ctx, definition: ReleaseDefinition, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = copy.deepcopy(body if body is not None else definition.body)
    body["variables"] = masked_variables(body.get("variables") or {})
    for env in body.get("environments") or []:
        env["variables"] = masked_variables(env.get("variables") or {})
    base = ctx.r.base if ctx.env.release_url is None else ctx.env.release_url()
    web = ctx.r.base
    url = f"{base}/{definition.project_id}/_apis/Release/definitions/{body['id']}"
    body["url"] = url
    body["_links"] = {
        "self": {"href": url},
        "web": {"href": f"{web}/{definition.project_id}/_release?definitionId={body['id']}"},
    }
    return body


def _summary(ctx: Ctx, definition: ReleaseDefinition, expands: set[str]) -> dict[str, Any]:
    body = render_definition(ctx, definition)
    if "environments" not in expands:
        body.pop("environments", None)
    if "artifacts" not in expands:
        body.pop("artifacts", None)
    if "triggers" not in expands:
        body.pop("triggers", None)
    if "variables" not in expands:
        body.pop("variables", None)
        body.pop("variableGroups", None)
    return body


async def list_definitions(ctx: Ctx) -> dict[str, Any]:
    project = _project(ctx)
    expands = {e.strip().lower() for e in (ctx.param("$expand") or "").split(",") if e.strip()}
    unknown = expands - _LIST_EXPANDS - {"none"}
    if unknown:
        raise errors.bad_request(f"The value '{', '.join(sorted(unknown))}' is not valid for $expand.")
    found = [d for d in _p(ctx).definitions.values() if d.project_id == project["id"]]
    search = (ctx.param("searchText") or "").lower()
    if search:
        exact = ctx.flag("isExactNameMatch")
        found = [
            d
            for d in found
            if (d.body["name"].lower() == search if exact else search in d.body["name"].lower())
        ]
    ids = {i.strip() for i in (ctx.param("definitionIdFilter") or "").split(",") if i.strip()}
    if ids:
        found = [d for d in found if str(d.body["id"]) in ids]
    order = (ctx.param("queryOrder") or "idAscending").lower()
    if order.startswith("name"):
        found.sort(key=lambda d: d.body["name"].lower(), reverse=order == "namedescending")
    else:
        found.sort(key=lambda d: d.body["id"], reverse=order == "iddescending")
    token = ctx.param("continuationToken")
    if token:
        # The release service's token is the id to continue from (ids ascending).
        try:
            start = int(token)
        except ValueError as exc:
            raise errors.bad_request(f"The continuation token '{token}' is not valid.") from exc
        found = [d for d in found if d.body["id"] >= start]
    top = ctx.int_param("$top")
    if top is not None and len(found) > top:
        ctx.extra_headers["x-ms-continuationtoken"] = str(found[top].body["id"])
        found = found[:top]
    value = [_summary(ctx, d, expands) for d in found]
    return {"count": len(value), "value": value}


async def get_definition(ctx: Ctx) -> dict[str, Any]:
    project = _project(ctx)
    return render_definition(ctx, _p(ctx).definition(project["id"], int(ctx.params["definitionId"])))


async def _body(ctx: Ctx) -> dict[str, Any]:
    body = await ctx.body()
    if not isinstance(body, dict):
        raise errors.invalid_body("Value cannot be null.\r\nParameter name: releaseDefinition")
    return body


async def create_definition(ctx: Ctx) -> dict[str, Any]:
    project = _project(ctx)
    body = await _body(ctx)
    definition = _p(ctx).create_definition(project, body, ctx.state.identities.identity_ref(ctx.user))
    ctx.env.counters.record_write("releasedefinition.create")
    return render_definition(ctx, definition)


async def update_definition(ctx: Ctx) -> dict[str, Any]:
    project = _project(ctx)
    body = await _body(ctx)
    definition = _p(ctx).update_definition(project, body, ctx.state.identities.identity_ref(ctx.user))
    ctx.env.counters.record_write("releasedefinition.update")
    return render_definition(ctx, definition)


async def list_revisions(ctx: Ctx) -> dict[str, Any]:
    project = _project(ctx)
    definition = _p(ctx).definition(project["id"], int(ctx.params["definitionId"]))
    base = ctx.r.base if ctx.env.release_url is None else ctx.env.release_url()
    value = [
        {
            **copy.deepcopy(entry),
            "definitionUrl": f"{base}/{project['id']}/_apis/Release/definitions/{entry['definitionId']}"
            f"?Revision={entry['revision']}",
            "apiVersion": ctx.api_version_text,
        }
        for entry in definition.history
    ]
    return {"count": len(value), "value": value}


async def get_revision(ctx: Ctx) -> Response:
    """The definition as it was at one revision; the service streams it as a JSON document."""
    project = _project(ctx)
    definition = _p(ctx).definition(project["id"], int(ctx.params["definitionId"]))
    revision = int(ctx.params["revision"])
    snapshot = definition.snapshots.get(revision)
    if snapshot is None:
        raise errors.AdoError(
            404,
            f"VS402882: Revision {revision} of release pipeline {definition.body['id']} does not exist.",
            "ReleaseDefinitionRevisionNotFoundException",
        )
    text = json.dumps(render_definition(ctx, definition, snapshot), separators=(",", ":"))
    return Response(text, media_type="text/plain; charset=utf-8")


_DEF = r"{P!}/_apis/release/definitions"

ROUTES: list[ApiRoute] = [
    route("release.definitions.list", "GET", _DEF, list_definitions),
    route("release.definitions.create", "POST", _DEF, create_definition),
    route("release.definitions.update", "PUT", _DEF, update_definition),
    route("release.definitions.get", "GET", rf"{_DEF}/(?P<definitionId>\d+)", get_definition),
    route("release.revisions.list", "GET", rf"{_DEF}/(?P<definitionId>\d+)/revisions", list_revisions),
    route(
        "release.revisions.get",
        "GET",
        rf"{_DEF}/(?P<definitionId>\d+)/revisions/(?P<revision>\d+)",
        get_revision,
    ),
]
