"""Member Entitlement Management endpoints (vsaex on Services): user entitlements paged 100 at a time with
continuation tokens, group entitlements (group rules, not paged) and their members. Refusals are HTTP 200
bodies with ``isSuccess: false``, as ADO sends them."""

from __future__ import annotations

import base64
import re
from typing import Any

from starlette.responses import Response

from emulators.ado import errors
from emulators.ado.app import ApiRoute, Ctx, route
from emulators.ado.directory import GROUP_TYPES, Directory, EntitlementRefused, GroupRule, Member
from emulators.ado.values import format_date

PAGE_SIZE = 100
_FILTER_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_NEVER = "0001-01-01T00:00:00Z"
_NO_ID = "00000000-0000-0000-0000-000000000000"


def directory_of(ctx: Ctx) -> Directory:
    directory = ctx.env.directory
    if directory is None or ctx.env.config.flavor != "services":
        # Azure DevOps Server has no Member Entitlement Management (licences live in its admin console).
        raise errors.not_found_route(ctx.request.url.path)
    return directory


def _graph_subject(ctx: Ctx, kind: str, descriptor: str, **fields: Any) -> dict[str, Any]:
    """A GraphUser/GraphGroup: `fields` first (in ADO's order), then the domain, links, url, descriptor."""
    base = ctx.env.base_url()
    url = f"{base}/_apis/graph/{kind}/{descriptor}"
    links = {
        "self": {"href": url},
        "memberships": {"href": f"{base}/_apis/graph/memberships/{descriptor}"},
        "membershipState": {"href": f"{base}/_apis/graph/membershipstates/{descriptor}"},
        "storageKey": {"href": f"{base}/_apis/graph/storagekeys/{descriptor}"},
    }
    return {
        **fields,
        "domain": directory_of(ctx).domain,
        "_links": links,
        "url": url,
        "descriptor": descriptor,
    }


def group_json(ctx: Ctx, group: GroupRule) -> dict[str, Any]:
    return {
        "id": group.id,
        "group": _graph_subject(
            ctx,
            "groups",
            group.descriptor,
            subjectKind="group",
            description=group.description,
            principalName=group.display_name,
            mailAddress="",
            origin=group.origin,
            originId=group.origin_id,
            displayName=group.display_name,
        ),
        "licenseRule": dict(group.license_rule),
        "projectEntitlements": list(group.project_entitlements),
        "lastExecuted": format_date(group.created),
        "status": "applied",
    }


def member_json(ctx: Ctx, member: Member) -> dict[str, Any]:
    directory = directory_of(ctx)
    return {
        "id": member.id,
        "user": _graph_subject(
            ctx,
            "users",
            member.descriptor,
            subjectKind="user",
            metaType="member",
            directoryAlias=member.principal_name.split("@")[0],
            principalName=member.principal_name,
            mailAddress=member.mail,
            origin="aad",
            originId=member.origin_id,
            displayName=member.display_name,
        ),
        "accessLevel": dict(member.access),
        "lastAccessedDate": _NEVER,
        "dateCreated": format_date(member.created),
        "projectEntitlements": list(member.project_entitlements),
        "groupAssignments": [group_json(ctx, g) for g in directory.groups_of(member.id)],
    }


def _refusal(exc: EntitlementRefused) -> list[dict[str, Any]]:
    return [{"key": exc.code, "value": exc.message}]


def _project_entitlements(ctx: Ctx, raw: Any) -> list[dict[str, Any]]:
    out = []
    for entry in raw or []:
        if not isinstance(entry, dict):
            raise EntitlementRefused("VS403283: A project entitlement is not an object.")
        project_id = str((entry.get("projectRef") or {}).get("id") or "")
        project = ctx.state.find_project(project_id) if project_id else None
        if project is None:
            raise EntitlementRefused(f"VS403283: The project '{project_id}' does not exist.")
        group_type = str((entry.get("group") or {}).get("groupType") or "projectContributor")
        known = GROUP_TYPES.get(group_type.lower())
        if known is None:
            raise EntitlementRefused(f"VS403283: '{group_type}' is not a valid project group type.")
        out.append(
            {
                "projectRef": {"id": project.id, "name": project.name},
                "group": {"groupType": known[0], "displayName": known[1]},
                "projectPermissionInherited": "notSet",
                "teamRefs": [],
                "assignmentSource": "unknown",
            }
        )
    return out


# --- user entitlements -------------------------------------------------------------------------------


def _matches(member: Member, clauses: list[tuple[str, str]]) -> bool:
    for name, value in clauses:
        lowered = value.lower()
        if name == "name":  # display name or e-mail contains the text, as the portal's search does
            if lowered not in member.display_name.lower() and lowered not in member.mail.lower():
                return False
        elif name == "licenseid":  # e.g. Account-Express, Msdn-Eligible
            source, _, kind = lowered.partition("-")
            level = member.access
            actual = level["msdnLicenseType"] if source == "msdn" else level["accountLicenseType"]
            if level["licensingSource"] != source or actual.lower() != kind:
                return False
        elif name == "licensestatus":
            if str(member.access.get("status", "")).lower() != lowered:
                return False
        elif name == "usertype":
            if lowered != "member":
                return False
        else:
            raise errors.bad_request(f"The filter field '{name}' is not supported.")
    return True


def _filter_clauses(text: str | None) -> list[tuple[str, str]]:
    if not text:
        return []
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _FILTER_CLAUSE.match(part)
        if match is None:
            raise errors.bad_request(f"The filter '{text}' is not valid.")
        clauses.append((match.group(1).lower(), match.group(2).replace("''", "'")))
    return clauses


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "offset":
            raise ValueError(kind)
        return int(value)
    except ValueError as exc:
        raise errors.bad_request(f"The continuation token '{token}' is not valid.") from exc


async def search_users(ctx: Ctx) -> dict[str, Any]:
    directory = directory_of(ctx)
    clauses = _filter_clauses(ctx.param("$filter"))
    members = [m for m in directory.live_members() if _matches(m, clauses)]
    start = page_offset(ctx.param("continuationToken"))
    page = members[start : start + PAGE_SIZE]
    body: dict[str, Any] = {"items": [member_json(ctx, m) for m in page], "totalCount": len(members)}
    if start + PAGE_SIZE < len(members):
        body["continuationToken"] = page_token(start + PAGE_SIZE)
        ctx.extra_headers["x-ms-continuationtoken"] = body["continuationToken"]
    return body


async def add_user(ctx: Ctx) -> dict[str, Any]:
    directory = directory_of(ctx)
    body = await ctx.body()
    if not isinstance(body, dict):
        raise errors.invalid_body()
    user = body.get("user") or {}
    principal = str(user.get("principalName") or "") if isinstance(user, dict) else ""
    try:
        projects = _project_entitlements(ctx, body.get("projectEntitlements"))
        member = directory.add_member(
            principal,
            body.get("accessLevel") or {"licensingSource": "account", "accountLicenseType": "express"},
            ctx.state.now(),
            display_name=str(user.get("displayName") or "") or None,
            project_entitlements=projects,
            extensions=[e for e in body.get("extensions") or [] if isinstance(e, dict)],
        )
    except EntitlementRefused as exc:
        result = {"isSuccess": False, "errors": _refusal(exc), "userId": _NO_ID}
        return {"isSuccess": False, "operationResult": result}
    ctx.env.counters.record_write("userentitlement")
    entitlement = member_json(ctx, member)
    result = {"isSuccess": True, "errors": [], "userId": member.id, "result": entitlement}
    return {"isSuccess": True, "operationResult": result, "userEntitlement": entitlement}


def _member(ctx: Ctx) -> Member:
    member = directory_of(ctx).member(ctx.params["userId"])
    if member is None:
        raise errors.member_not_found(ctx.params["userId"])
    return member


async def get_user(ctx: Ctx) -> dict[str, Any]:
    return member_json(ctx, _member(ctx))


def _apply_user_op(ctx: Ctx, member: Member, op: Any) -> None:
    if not isinstance(op, dict):
        raise EntitlementRefused("VS403283: A patch operation is not an object.")
    kind = str(op.get("op") or "").lower()
    path = str(op.get("path") or "").strip("/")
    head, _, rest = path.partition("/")
    directory = directory_of(ctx)
    if head.lower() == "accesslevel" and kind in ("replace", "add"):
        directory.set_access(member, op.get("value"))
    elif head.lower() == "projectentitlements":
        if kind == "remove":
            member.project_entitlements = [
                e for e in member.project_entitlements if e["projectRef"]["id"].lower() != rest.lower()
            ]
        else:
            added = _project_entitlements(ctx, [op.get("value")])
            ids = {e["projectRef"]["id"] for e in added}
            kept = [e for e in member.project_entitlements if e["projectRef"]["id"] not in ids]
            member.project_entitlements = kept + added
    elif head.lower() == "extensions":
        value = op.get("value") or {}
        if kind == "remove":
            member.extensions = [e for e in member.extensions if e.get("id") != rest]
        elif isinstance(value, dict) and value.get("id"):
            member.extensions = [e for e in member.extensions if e.get("id") != value["id"]] + [value]
    else:
        raise EntitlementRefused(f"VS403283: The path '/{path}' cannot be changed with '{kind}'.")


async def update_user(ctx: Ctx) -> dict[str, Any]:
    member = _member(ctx)
    ops = await ctx.body()
    if not isinstance(ops, list):
        raise errors.invalid_patch_document()
    results = []
    ok = True
    for op in ops:
        try:
            _apply_user_op(ctx, member, op)
            results.append({"isSuccess": True, "errors": [], "userId": member.id})
        except EntitlementRefused as exc:
            ok = False
            results.append({"isSuccess": False, "errors": _refusal(exc), "userId": member.id})
    if ok:
        ctx.env.counters.record_write("userentitlement")
    entitlement = member_json(ctx, member)
    if results:
        results[0]["result"] = entitlement
    return {"isSuccess": ok, "operationResults": results, "userEntitlement": entitlement}


async def delete_user(ctx: Ctx) -> Response:
    member = _member(ctx)
    directory_of(ctx).remove_member(member.id)
    ctx.env.counters.record_write("userentitlement.delete")
    return Response(status_code=204)


# --- group entitlements ------------------------------------------------------------------------------


def _group(ctx: Ctx) -> GroupRule:
    group = directory_of(ctx).group(ctx.params["groupId"])
    if group is None:
        raise errors.group_not_found(ctx.params["groupId"])
    return group


def _group_reference(
    ctx: Ctx, group_id: str, results: list[dict[str, Any]], *, completed: bool = True
) -> dict[str, Any]:
    ok = all(r["isSuccess"] for r in results)
    return {
        "id": group_id,
        "status": "succeeded" if ok else "failed",
        "url": f"{ctx.env.base_url()}/_apis/LicensingRule/GroupLicensingRulesApplicationStatus/{group_id}",
        "completed": completed,
        "haveResultsSucceeded": ok,
        "results": results,
    }


async def list_groups(ctx: Ctx) -> dict[str, Any]:
    value = [group_json(ctx, g) for g in directory_of(ctx).live_groups()]
    return {"count": len(value), "value": value}


async def add_group(ctx: Ctx) -> Response:
    directory = directory_of(ctx)
    body = await ctx.body()
    if not isinstance(body, dict):
        raise errors.invalid_body()
    try:
        projects = _project_entitlements(ctx, body.get("projectEntitlements"))
        group = directory.add_group(body.get("group"), body.get("licenseRule"), ctx.state.now())
        if projects:
            group.project_entitlements = projects
    except EntitlementRefused as exc:
        failed = {"isSuccess": False, "errors": _refusal(exc)}
        reference = _group_reference(ctx, _NO_ID, [failed])
        return _json(ctx, reference, 201)
    ctx.env.counters.record_write("groupentitlement")
    done = {"isSuccess": True, "errors": [], "groupId": group.id, "result": group_json(ctx, group)}
    return _json(ctx, _group_reference(ctx, group.id, [done]), 201)


def _json(ctx: Ctx, body: Any, status: int) -> Response:
    from emulators.common import json_response

    response = json_response(body, status)
    response.headers["Content-Type"] = f"application/json; charset=utf-8; api-version={ctx.api_version_text}"
    return response


async def get_group(ctx: Ctx) -> dict[str, Any]:
    return group_json(ctx, _group(ctx))


async def update_group(ctx: Ctx) -> dict[str, Any]:
    group = _group(ctx)
    ops = await ctx.body()
    if not isinstance(ops, list):
        raise errors.invalid_patch_document()
    results = []
    for op in ops:
        try:
            if not isinstance(op, dict):
                raise EntitlementRefused("VS403283: A patch operation is not an object.")
            path = str(op.get("path") or "").strip("/").lower()
            if path in ("licenserule", "accesslevel") and str(op.get("op")).lower() in ("replace", "add"):
                from emulators.ado.directory import access_level

                group.license_rule = access_level(op.get("value"), assignment="groupRule")
            elif path.startswith("projectentitlements"):
                if str(op.get("op")).lower() == "remove":
                    gone = path.partition("/")[2]
                    group.project_entitlements = [
                        e for e in group.project_entitlements if e["projectRef"]["id"].lower() != gone
                    ]
                else:
                    group.project_entitlements += _project_entitlements(ctx, [op.get("value")])
            else:
                raise EntitlementRefused(f"VS403283: The path '/{path}' cannot be changed.")
            results.append({"isSuccess": True, "errors": [], "groupId": group.id})
        except EntitlementRefused as exc:
            results.append({"isSuccess": False, "errors": _refusal(exc), "groupId": group.id})
    if all(r["isSuccess"] for r in results):
        ctx.env.counters.record_write("groupentitlement")
    return _group_reference(ctx, group.id, results)


async def delete_group(ctx: Ctx) -> dict[str, Any]:
    group = _group(ctx)
    directory_of(ctx).remove_group(group.id)
    ctx.env.counters.record_write("groupentitlement.delete")
    done = {"isSuccess": True, "errors": [], "groupId": group.id}
    return _group_reference(ctx, group.id, [done])


async def list_members(ctx: Ctx) -> dict[str, Any]:
    group = _group(ctx)
    directory = directory_of(ctx)
    members = [m for m in (directory.member(i) for i in list(group.members)) if m is not None]
    start = page_offset(ctx.param("pagingToken"))
    limit = ctx.int_param("maxResults", PAGE_SIZE) or PAGE_SIZE
    page = members[start : start + limit]
    body: dict[str, Any] = {"members": [member_json(ctx, m) for m in page], "totalCount": len(members)}
    if start + limit < len(members):
        body["continuationToken"] = page_token(start + limit)
    return body


async def add_member(ctx: Ctx) -> Response:
    group = _group(ctx)
    member = directory_of(ctx).member(ctx.params["memberId"])
    if member is None:
        raise errors.member_not_found(ctx.params["memberId"])
    directory_of(ctx).add_group_member(group, member)
    ctx.env.counters.record_write("groupentitlement.member")
    return Response(status_code=200)


async def remove_member(ctx: Ctx) -> Response:
    group = _group(ctx)
    directory_of(ctx).remove_group_member(group, ctx.params["memberId"])
    ctx.env.counters.record_write("groupentitlement.member")
    return Response(status_code=200)


_ID = r"(?P<{}>[0-9a-fA-F-]{{36}})"

ROUTES: list[ApiRoute] = [
    route("mem.userentitlements.search", "GET", r"/_apis/userentitlements", search_users),
    route("mem.userentitlements.add", "POST", r"/_apis/userentitlements", add_user),
    route("mem.userentitlements.get", "GET", r"/_apis/userentitlements/" + _ID.format("userId"), get_user),
    route(
        "mem.userentitlements.update",
        "PATCH",
        r"/_apis/userentitlements/" + _ID.format("userId"),
        update_user,
    ),
    route(
        "mem.userentitlements.delete",
        "DELETE",
        r"/_apis/userentitlements/" + _ID.format("userId"),
        delete_user,
    ),
    route("mem.groupentitlements.list", "GET", r"/_apis/groupentitlements", list_groups),
    route("mem.groupentitlements.add", "POST", r"/_apis/groupentitlements", add_group),
    route(
        "mem.groupentitlements.get", "GET", r"/_apis/groupentitlements/" + _ID.format("groupId"), get_group
    ),
    route(
        "mem.groupentitlements.update",
        "PATCH",
        r"/_apis/groupentitlements/" + _ID.format("groupId"),
        update_group,
    ),
    route(
        "mem.groupentitlements.delete",
        "DELETE",
        r"/_apis/groupentitlements/" + _ID.format("groupId"),
        delete_group,
    ),
    route(
        "mem.groupentitlements.members.list",
        "GET",
        r"/_apis/groupentitlements/" + _ID.format("groupId") + "/members",
        list_members,
    ),
    route(
        "mem.groupentitlements.members.add",
        "PUT",
        r"/_apis/groupentitlements/" + _ID.format("groupId") + "/members/" + _ID.format("memberId"),
        add_member,
    ),
    route(
        "mem.groupentitlements.members.remove",
        "DELETE",
        r"/_apis/groupentitlements/" + _ID.format("groupId") + "/members/" + _ID.format("memberId"),
        remove_member,
    ),
]
