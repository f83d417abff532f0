"""Core and service hook endpoints: connection data, projects, and web hook subscriptions with their
notification history."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

from emulators.ado import errors
from emulators.ado.app import ApiRoute, Ctx, route
from emulators.ado.hooks import SubscriptionInput


async def connection_data(ctx: Ctx) -> dict[str, Any]:
    user = ctx.user
    identity = {
        "id": user.id,
        "descriptor": user.descriptor,
        "subjectDescriptor": user.descriptor,
        "providerDisplayName": user.display_name,
        "isActive": True,
        "properties": {"Account": {"$type": "System.String", "$value": user.unique_name}},
        "resourceVersion": 2,
        "metaTypeId": 0,
    }
    services = ctx.env.config.flavor == "services"
    return {
        "authenticatedUser": identity,
        "authorizedUser": identity,
        "instanceId": ctx.state.collection_id,
        "deploymentId": ctx.env.hooks.account_id,
        "deploymentType": "hosted" if services else "onPremises",
        "locationServiceData": {
            "serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7",
            "defaultAccessMappingMoniker": "PublicAccessMapping",
            "lastChangeId": 1,
            "lastChangeId64": 1,
            "accessMappings": [
                {
                    "displayName": "Public Access Mapping",
                    "moniker": "PublicAccessMapping",
                    "accessPoint": ctx.r.base,
                }
            ],
        },
    }


async def list_projects(ctx: Ctx) -> dict[str, Any]:
    projects = sorted(ctx.state.projects.values(), key=lambda p: p.name.lower())
    state_filter = (ctx.param("stateFilter") or "wellFormed").lower()
    if state_filter not in ("wellformed", "all"):
        projects = []
    token = ctx.param("continuationToken")
    try:
        skip = int(token) if token else (ctx.int_param("$skip", 0) or 0)
    except ValueError as exc:
        raise errors.bad_request(f"The continuation token '{token}' is not valid.") from exc
    top = ctx.int_param("$top")
    page = projects[skip:] if top is None else projects[skip : skip + top]
    if top is not None and skip + top < len(projects):
        ctx.extra_headers["x-ms-continuationtoken"] = str(skip + top)
    value = [ctx.r.project(p) for p in page]
    return {"count": len(value), "value": value}


async def get_project(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["projectId"])
    body = ctx.r.project(project, full=True)
    if ctx.flag("includeCapabilities"):
        body["capabilities"] = ctx.r.project_capabilities(project)
    return body


# --- service hooks -----------------------------------------------------------------------------------


async def _subscription_body(ctx: Ctx) -> SubscriptionInput:
    body = await ctx.body()
    if not isinstance(body, dict):
        raise errors.invalid_body()
    try:
        return SubscriptionInput.model_validate(body)
    except ValidationError as exc:
        raise errors.subscription_invalid(f"The subscription is not valid: {exc.errors()[0]['msg']}") from exc


async def list_subscriptions(ctx: Ctx) -> dict[str, Any]:
    hooks = ctx.env.hooks
    filters = {
        "publisherId": ctx.param("publisherId"),
        "eventType": ctx.param("eventType"),
        "consumerId": ctx.param("consumerId"),
        "consumerActionId": ctx.param("consumerActionId"),
    }
    value = []
    for sub in hooks.list():
        body = hooks.subscription_json(sub)
        if all(
            not wanted or str(body.get(key, "")).lower() == wanted.lower() for key, wanted in filters.items()
        ):
            value.append(body)
    return {"count": len(value), "value": value}


async def create_subscription(ctx: Ctx) -> dict[str, Any]:
    hooks = ctx.env.hooks
    sub = hooks.create(await _subscription_body(ctx), ctx.user)
    return hooks.subscription_json(sub)


async def get_subscription(ctx: Ctx) -> dict[str, Any]:
    hooks = ctx.env.hooks
    return hooks.subscription_json(hooks.get(ctx.params["sid"]))


async def replace_subscription(ctx: Ctx) -> dict[str, Any]:
    hooks = ctx.env.hooks
    sub = hooks.replace(ctx.params["sid"], await _subscription_body(ctx), ctx.user)
    return hooks.subscription_json(sub)


async def delete_subscription(ctx: Ctx) -> Response:
    ctx.env.hooks.delete(ctx.params["sid"])
    return Response(status_code=204)


async def list_notifications(ctx: Ctx) -> dict[str, Any]:
    hooks = ctx.env.hooks
    hooks.get(ctx.params["sid"])
    status = (ctx.param("status") or "").lower()
    result = (ctx.param("result") or "").lower()
    items = [
        n
        for n in reversed(hooks.notifications(ctx.params["sid"]))
        if (not status or n.status.lower() == status) and (not result or n.result.lower() == result)
    ]
    limit = ctx.int_param("maxResults", 100) or 100
    value = [hooks.notification_json(n) for n in items[:limit]]
    return {"count": len(value), "value": value}


ROUTES: list[ApiRoute] = [
    route("core.connectionData", "GET", r"/_apis/connectionData", connection_data),
    route("core.projects.list", "GET", r"/_apis/projects", list_projects),
    route("core.projects.get", "GET", r"/_apis/projects/(?P<projectId>[^/]+)", get_project),
    route("hooks.subscriptions.list", "GET", r"/_apis/hooks/subscriptions", list_subscriptions),
    route("hooks.subscriptions.create", "POST", r"/_apis/hooks/subscriptions", create_subscription),
    route("hooks.subscriptions.get", "GET", r"/_apis/hooks/subscriptions/(?P<sid>[^/]+)", get_subscription),
    route(
        "hooks.subscriptions.replace",
        "PUT",
        r"/_apis/hooks/subscriptions/(?P<sid>[^/]+)",
        replace_subscription,
    ),
    route(
        "hooks.subscriptions.delete",
        "DELETE",
        r"/_apis/hooks/subscriptions/(?P<sid>[^/]+)",
        delete_subscription,
    ),
    route(
        "hooks.notifications.list",
        "GET",
        r"/_apis/hooks/subscriptions/(?P<sid>[^/]+)/notifications",
        list_notifications,
    ),
]
