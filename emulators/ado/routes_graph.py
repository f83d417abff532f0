"""Graph endpoints (vssps on Services), read-only views of the organization's members and group rules:
users paged with `X-MS-ContinuationToken`, groups, memberships up and down, storage keys and descriptors.
They make the `_links` entitlements carry resolvable."""

from __future__ import annotations

from typing import Any

from emulators.ado import errors
from emulators.ado.app import ApiRoute, Ctx, route
from emulators.ado.directory import GroupRule, Member
from emulators.ado.routes_entitlements import (
    PAGE_SIZE,
    directory_of,
    group_json,
    member_json,
    page_offset,
    page_token,
)


def _user(ctx: Ctx, member: Member) -> dict[str, Any]:
    return member_json(ctx, member)["user"]


def _group(ctx: Ctx, group: GroupRule) -> dict[str, Any]:
    return group_json(ctx, group)["group"]


def _subject(ctx: Ctx, descriptor: str) -> Member | GroupRule:
    directory = directory_of(ctx)
    wanted = descriptor.strip()
    found: Member | GroupRule | None = next(
        (m for m in directory.live_members() if m.descriptor == wanted), None
    ) or next((g for g in directory.live_groups() if g.descriptor == wanted), None)
    if found is None:
        raise errors.subject_not_found(descriptor)
    return found


async def list_users(ctx: Ctx) -> dict[str, Any]:
    members = directory_of(ctx).live_members()
    start = page_offset(ctx.param("continuationToken"))
    page = members[start : start + PAGE_SIZE]
    if start + PAGE_SIZE < len(members):
        ctx.extra_headers["X-MS-ContinuationToken"] = page_token(start + PAGE_SIZE)
    value = [_user(ctx, m) for m in page]
    return {"count": len(value), "value": value}


async def get_user(ctx: Ctx) -> dict[str, Any]:
    subject = _subject(ctx, ctx.params["descriptor"])
    if not isinstance(subject, Member):
        raise errors.bad_request(f"'{ctx.params['descriptor']}' is not a user descriptor.")
    return _user(ctx, subject)


async def list_groups(ctx: Ctx) -> dict[str, Any]:
    value = [_group(ctx, g) for g in directory_of(ctx).live_groups()]
    return {"count": len(value), "value": value}


async def get_group(ctx: Ctx) -> dict[str, Any]:
    subject = _subject(ctx, ctx.params["descriptor"])
    if not isinstance(subject, GroupRule):
        raise errors.bad_request(f"'{ctx.params['descriptor']}' is not a group descriptor.")
    return _group(ctx, subject)


def _membership(ctx: Ctx, member: str, container: str) -> dict[str, Any]:
    base = ctx.env.base_url()
    return {
        "_links": {
            "self": {"href": f"{base}/_apis/graph/memberships/{member}/{container}"},
            "member": {"href": f"{base}/_apis/graph/subjects/{member}"},
            "container": {"href": f"{base}/_apis/graph/subjects/{container}"},
        },
        "containerDescriptor": container,
        "memberDescriptor": member,
    }


async def list_memberships(ctx: Ctx) -> dict[str, Any]:
    subject = _subject(ctx, ctx.params["descriptor"])
    directory = directory_of(ctx)
    down = (ctx.param("direction") or "up").lower() == "down"
    value: list[dict[str, Any]] = []
    if isinstance(subject, Member) and not down:
        value = [_membership(ctx, subject.descriptor, g.descriptor) for g in directory.groups_of(subject.id)]
    elif isinstance(subject, GroupRule) and down:
        members = [directory.member(i) for i in list(subject.members)]
        value = [_membership(ctx, m.descriptor, subject.descriptor) for m in members if m is not None]
    return {"count": len(value), "value": value}


async def storage_key(ctx: Ctx) -> dict[str, Any]:
    subject = _subject(ctx, ctx.params["descriptor"])
    return {
        "value": subject.id,
        "_links": {"descriptor": {"href": f"{ctx.env.base_url()}/_apis/graph/descriptors/{subject.id}"}},
    }


async def descriptor(ctx: Ctx) -> dict[str, Any]:
    directory = directory_of(ctx)
    key = ctx.params["storageKey"]
    subject: Member | GroupRule | None = directory.member(key) or directory.group(key)
    if subject is None:
        raise errors.subject_not_found(key)
    return {
        "value": subject.descriptor,
        "_links": {
            "storageKey": {"href": f"{ctx.env.base_url()}/_apis/graph/storagekeys/{subject.descriptor}"}
        },
    }


async def read_identities(ctx: Ctx) -> dict[str, Any]:
    """Identities - Read Identities with `searchFilter=General`: the people whose account, e-mail or display
    name is `filterValue` (the release API's identity ids)."""
    if (ctx.param("searchFilter") or "").lower() != "general":
        raise errors.bad_request("searchFilter must be General (the only filter this emulator serves).")
    wanted = (ctx.param("filterValue") or "").strip()
    user = ctx.state.identities.resolve(wanted) if wanted else None
    value = []
    if user is not None:
        account = {"$type": "System.String", "$value": user.unique_name}
        mail = {"$type": "System.String", "$value": user.email or user.unique_name}
        value.append(
            {
                "id": user.id,
                "descriptor": user.descriptor,
                "providerDisplayName": user.display_name,
                "isActive": True,
                "isContainer": False,
                "properties": {"Account": account, "Mail": mail},
            }
        )
    return {"count": len(value), "value": value}


_DESCRIPTOR = r"(?P<descriptor>[A-Za-z]+\.[A-Za-z0-9_-]+)"

ROUTES: list[ApiRoute] = [
    route("identities.read", "GET", r"/_apis/identities", read_identities),
    route("graph.users.list", "GET", r"/_apis/graph/users", list_users),
    route("graph.users.get", "GET", r"/_apis/graph/users/" + _DESCRIPTOR, get_user),
    route("graph.groups.list", "GET", r"/_apis/graph/groups", list_groups),
    route("graph.groups.get", "GET", r"/_apis/graph/groups/" + _DESCRIPTOR, get_group),
    route("graph.memberships.list", "GET", r"/_apis/graph/memberships/" + _DESCRIPTOR, list_memberships),
    route("graph.storagekeys.get", "GET", r"/_apis/graph/storagekeys/" + _DESCRIPTOR, storage_key),
    route(
        "graph.descriptors.get",
        "GET",
        r"/_apis/graph/descriptors/(?P<storageKey>[0-9a-fA-F-]{36})",
        descriptor,
    ),
]
