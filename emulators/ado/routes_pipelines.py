"""What release pipelines depend on, on the organization/collection host: agent pools (organization level)
and queues (project level), service endpoints, task groups (every version), variable groups, task
definitions, installed extensions, the pipelines organization settings (read and set through the web UI's
contribution data provider, as the service exposes them) and resource areas (where the release host is)."""

from __future__ import annotations

import copy
from typing import Any

from starlette.responses import Response

from emulators.ado import errors
from emulators.ado.app import ApiRoute, Ctx, route
from emulators.ado.pipelines_store import PipelinesState, masked_endpoint, masked_variables

RELEASE_AREA_ID = "efc2f575-36ef-48e9-b672-0c6fb4a48ac5"
SETTINGS_PROVIDER = "ms.vss-build-web.pipelines-org-settings-data-provider"
_GUID = r"[0-9a-fA-F-]{36}"


def _p(ctx: Ctx) -> PipelinesState:
    return ctx.env.pipelines


def _by(ctx: Ctx) -> dict[str, Any]:
    return ctx.state.identities.identity_ref(ctx.user)


async def _object(ctx: Ctx) -> dict[str, Any]:
    body = await ctx.body()
    if not isinstance(body, dict):
        raise errors.invalid_body()
    return body


def _listing(ctx: Ctx, items: list[Any]) -> dict[str, Any]:
    """`$top` + `continuationToken` paging (the token is the offset of the next page)."""
    token = ctx.param("continuationToken")
    try:
        skip = int(token) if token else 0
    except ValueError as exc:
        raise errors.bad_request(f"The continuation token '{token}' is not valid.") from exc
    top = ctx.int_param("$top")
    page = items[skip:] if top is None else items[skip : skip + top]
    if top is not None and skip + top < len(items):
        ctx.extra_headers["x-ms-continuationtoken"] = str(skip + top)
    return {"count": len(page), "value": page}


def _id_list(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


# --- resource areas -------------------------------------------------------------------------------------


async def resource_area(ctx: Ctx) -> dict[str, Any]:
    area = ctx.params["areaId"].lower()
    if area not in (RELEASE_AREA_ID, "release"):
        raise errors.AdoError(404, f"Resource area {area} was not found.", "ResourceAreaNotFoundException")
    location = (ctx.env.release_url or ctx.env.base_url)()
    return {"id": RELEASE_AREA_ID, "name": "Release", "locationUrl": location.rstrip("/") + "/"}


# --- pools and queues -----------------------------------------------------------------------------------


async def list_pools(ctx: Ctx) -> dict[str, Any]:
    pools = sorted(_p(ctx).pools.values(), key=lambda p: p["id"])
    name = ctx.param("poolName")
    if name:
        pools = [p for p in pools if p["name"].lower() == name.lower()]
    ids = _id_list(ctx.param("poolIds"))
    if ids:
        pools = [p for p in pools if str(p["id"]) in ids]
    return {"count": len(pools), "value": pools}


async def get_pool(ctx: Ctx) -> dict[str, Any]:
    return _p(ctx).pool(int(ctx.params["poolId"]))


async def add_pool(ctx: Ctx) -> dict[str, Any]:
    body = await _object(ctx)
    name = str(body.get("name") or "").strip()
    if not name:
        raise errors.bad_request("Value cannot be null.\r\nParameter name: pool.Name")
    if body.get("isHosted"):
        raise errors.bad_request("Hosted agent pools cannot be created.", "InvalidOperationException")
    ctx.env.counters.record_write("pool.create")
    return _p(ctx).add_pool(name, pool_type=body.get("poolType") or "automation")


async def list_queues(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["project"])
    queues = [q for q in _p(ctx).queues.values() if q["projectId"] == project.id]
    name = ctx.param("queueName")
    if name:
        queues = [q for q in queues if q["name"].lower() == name.lower()]
    pool_ids = _id_list(ctx.param("poolIds"))
    if pool_ids:
        queues = [q for q in queues if str(q["pool"]["id"]) in pool_ids]
    queues.sort(key=lambda q: q["id"])
    return {"count": len(queues), "value": queues}


async def get_queue(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["project"])
    return _p(ctx).queue(project.id, int(ctx.params["queueId"]))


async def add_queue(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["project"])
    body = await _object(ctx)
    pool_id = (body.get("pool") or {}).get("id")
    name = str(body.get("name") or "").strip()
    if not name or pool_id is None:
        raise errors.bad_request("Value cannot be null.\r\nParameter name: queue.Name, queue.Pool.Id")
    ctx.env.counters.record_write("queue.create")
    return _p(ctx).add_queue(project.id, name, int(pool_id))


# --- service endpoints ----------------------------------------------------------------------------------


def _endpoint_json(endpoint: Any, include_details: bool = True) -> dict[str, Any]:
    return masked_endpoint(endpoint)


async def list_endpoints(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["project"])
    found = []
    for endpoint in _p(ctx).endpoints.values():
        refs = endpoint.body.get("serviceEndpointProjectReferences") or []
        if any(str((r.get("projectReference") or {}).get("id", "")).lower() == project.id for r in refs):
            found.append(endpoint)
    names = [n.lower() for n in _id_list(ctx.param("endpointNames"))]
    if names:
        found = [e for e in found if e.body["name"].lower() in names]
    kind = ctx.param("type")
    if kind:
        found = [e for e in found if str(e.body.get("type", "")).lower() == kind.lower()]
    ids = [i.lower() for i in _id_list(ctx.param("endpointIds"))]
    if ids:
        found = [e for e in found if e.body["id"] in ids]
    value = [_endpoint_json(e) for e in sorted(found, key=lambda e: e.body["name"].lower())]
    return {"count": len(value), "value": value}


async def get_endpoint(ctx: Ctx) -> dict[str, Any]:
    ctx.state.project(ctx.params["project"])
    return _endpoint_json(_p(ctx).endpoint(ctx.params["endpointId"]))


async def create_endpoint(ctx: Ctx) -> dict[str, Any]:
    body = await _object(ctx)
    endpoint = _p(ctx).create_endpoint(body, _by(ctx))
    ctx.env.counters.record_write("endpoint.create")
    return _endpoint_json(endpoint)


async def update_endpoint(ctx: Ctx) -> dict[str, Any]:
    body = await _object(ctx)
    endpoint = _p(ctx).update_endpoint(ctx.params["endpointId"], body)
    ctx.env.counters.record_write("endpoint.update")
    return _endpoint_json(endpoint)


# --- task groups ----------------------------------------------------------------------------------------


def _task_group_json(version: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in version.items() if not k.startswith("_")}


async def list_task_groups(ctx: Ctx) -> dict[str, Any]:
    """Every version of every task group (one entry per version, as ListAllTaskGroups shows)."""
    project = ctx.state.project(ctx.params["project"])
    state = _p(ctx)
    group_id = ctx.params.get("taskGroupId")
    if group_id:
        groups = {group_id.lower(): state.task_group_versions(project.id, group_id)}
    else:
        groups = {
            gid: versions
            for gid, versions in state.task_groups.items()
            if next(iter(versions.values()))["_projectId"] == project.id
        }
    value = [
        _task_group_json(versions[major])
        for _, versions in sorted(groups.items(), key=lambda kv: kv[1][max(kv[1])]["name"].lower())
        for major in sorted(versions)
    ]
    return _listing(ctx, value)


async def add_task_group(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["project"])
    body = await _object(ctx)
    ctx.env.counters.record_write("taskgroup.create")
    return _task_group_json(_p(ctx).create_task_group(project.id, body, _by(ctx)))


async def update_task_group(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["project"])
    body = await _object(ctx)
    version = _p(ctx).update_task_group(project.id, ctx.params["taskGroupId"], body, _by(ctx))
    ctx.env.counters.record_write("taskgroup.update")
    return _task_group_json(version)


# --- variable groups ------------------------------------------------------------------------------------


def _group_json(group: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(group)
    body["variables"] = masked_variables(group["variables"])
    return body


def _in_project(group: dict[str, Any], project_id: str) -> bool:
    refs = group.get("variableGroupProjectReferences") or []
    return any(str((r.get("projectReference") or {}).get("id", "")).lower() == project_id for r in refs)


async def list_variable_groups(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["project"])
    groups = [g for g in _p(ctx).variable_groups.values() if _in_project(g, project.id)]
    name = ctx.param("groupName")
    if name:
        groups = [g for g in groups if g["name"].lower() == name.lower()]
    ids = _id_list(ctx.param("groupIds"))
    if ids:
        groups = [g for g in groups if str(g["id"]) in ids]
    groups.sort(key=lambda g: g["id"])
    return _listing(ctx, [_group_json(g) for g in groups])


async def get_variable_group(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["project"])
    group = _p(ctx).variable_group(int(ctx.params["groupId"]))
    if not _in_project(group, project.id):
        _p(ctx).variable_group(-1)
    return _group_json(group)


async def add_variable_group(ctx: Ctx) -> dict[str, Any]:
    body = await _object(ctx)
    ctx.env.counters.record_write("variablegroup.create")
    return _group_json(_p(ctx).create_variable_group(body, _by(ctx)))


async def update_variable_group(ctx: Ctx) -> dict[str, Any]:
    body = await _object(ctx)
    group = _p(ctx).update_variable_group(int(ctx.params["groupId"]), body, _by(ctx))
    ctx.env.counters.record_write("variablegroup.update")
    return _group_json(group)


# --- task definitions, extensions, settings -------------------------------------------------------------


async def list_tasks(ctx: Ctx) -> dict[str, Any]:
    tasks = _p(ctx).tasks
    task_id = ctx.params.get("taskId")
    if task_id:
        tasks = [t for t in tasks if t["id"].lower() == task_id.lower()]
    return {"count": len(tasks), "value": copy.deepcopy(tasks)}


async def list_extensions(ctx: Ctx) -> dict[str, Any]:
    extensions = copy.deepcopy(_p(ctx).extensions)
    return {"count": len(extensions), "value": extensions}


async def hierarchy_query(ctx: Ctx) -> dict[str, Any]:
    """`POST _apis/Contribution/HierarchyQuery` for the pipelines settings page: the only way the service
    exposes "Disable creation of classic release pipelines" (not in the REST specs). Properties sent in the
    data provider context change the settings, as the settings page does; an empty context only reads."""
    body = await _object(ctx)
    ids = [str(c) for c in body.get("contributionIds") or []]
    providers: dict[str, Any] = {}
    state = _p(ctx)
    if SETTINGS_PROVIDER in ids:
        properties = (body.get("dataProviderContext") or {}).get("properties") or {}
        for key in list(state.settings):
            if key in properties:
                state.settings[key] = str(properties[key]).strip().lower() == "true"
        providers[SETTINGS_PROVIDER] = {
            "statusBadgesArePrivate": True,
            "enforceJobAuthScope": True,
            **state.settings,
        }
    return {"dataProviderSharedData": {}, "dataProviders": providers}


async def no_content(_: Ctx) -> Response:
    return Response(status_code=204)


_DT = "/_apis/distributedtask"

ROUTES: list[ApiRoute] = [
    route("location.resourceAreas.get", "GET", r"/_apis/resourceAreas/(?P<areaId>[^/]+)", resource_area),
    route("distributedtask.pools.list", "GET", rf"{_DT}/pools", list_pools),
    route("distributedtask.pools.add", "POST", rf"{_DT}/pools", add_pool),
    route("distributedtask.pools.get", "GET", rf"{_DT}/pools/(?P<poolId>\d+)", get_pool),
    route("distributedtask.queues.list", "GET", rf"{{P!}}{_DT}/queues", list_queues),
    route("distributedtask.queues.add", "POST", rf"{{P!}}{_DT}/queues", add_queue),
    route("distributedtask.queues.get", "GET", rf"{{P!}}{_DT}/queues/(?P<queueId>\d+)", get_queue),
    route("distributedtask.taskgroups.list", "GET", rf"{{P!}}{_DT}/taskgroups", list_task_groups),
    route("distributedtask.taskgroups.add", "POST", rf"{{P!}}{_DT}/taskgroups", add_task_group),
    route(
        "distributedtask.taskgroups.get",
        "GET",
        rf"{{P!}}{_DT}/taskgroups/(?P<taskGroupId>{_GUID})",
        list_task_groups,
    ),
    route(
        "distributedtask.taskgroups.update",
        "PUT",
        rf"{{P!}}{_DT}/taskgroups/(?P<taskGroupId>{_GUID})",
        update_task_group,
    ),
    route("distributedtask.variablegroups.list", "GET", rf"{{P!}}{_DT}/variablegroups", list_variable_groups),
    route(
        "distributedtask.variablegroups.get",
        "GET",
        rf"{{P!}}{_DT}/variablegroups/(?P<groupId>\d+)",
        get_variable_group,
    ),
    route("distributedtask.variablegroups.add", "POST", rf"{_DT}/variablegroups", add_variable_group),
    route(
        "distributedtask.variablegroups.update",
        "PUT",
        rf"{_DT}/variablegroups/(?P<groupId>\d+)",
        update_variable_group,
    ),
    route("distributedtask.tasks.list", "GET", rf"{_DT}/tasks", list_tasks),
    route("distributedtask.tasks.get", "GET", rf"{_DT}/tasks/(?P<taskId>{_GUID})", list_tasks),
    route("serviceendpoint.endpoints.list", "GET", r"{P!}/_apis/serviceendpoint/endpoints", list_endpoints),
    route(
        "serviceendpoint.endpoints.get",
        "GET",
        rf"{{P!}}/_apis/serviceendpoint/endpoints/(?P<endpointId>{_GUID})",
        get_endpoint,
    ),
    route("serviceendpoint.endpoints.create", "POST", r"/_apis/serviceendpoint/endpoints", create_endpoint),
    route(
        "serviceendpoint.endpoints.update",
        "PUT",
        rf"/_apis/serviceendpoint/endpoints/(?P<endpointId>{_GUID})",
        update_endpoint,
    ),
    route(
        "extensionmanagement.installedextensions.list",
        "GET",
        r"/_apis/extensionmanagement/installedextensions",
        list_extensions,
    ),
    route("contribution.hierarchyQuery", "POST", r"/_apis/Contribution/HierarchyQuery", hierarchy_query),
]
