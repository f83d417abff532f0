"""Classification nodes (read-only): a project's area and iteration trees, as
``GET {project}/_apis/wit/classificationnodes[/{Areas|Iterations}[/{path}]]?$depth=N``."""

from __future__ import annotations

import uuid
import zlib
from typing import Any
from urllib.parse import quote

from emulators.ado import errors
from emulators.ado.app import ApiRoute, Ctx, route
from emulators.ado.store import Project

_GROUPS = {"areas": ("Areas", "area", "Area"), "iterations": ("Iterations", "iteration", "Iteration")}


def _node(
    ctx: Ctx, project: Project, group: str, full_path: str, nodes: dict[str, str], depth: int
) -> dict[str, Any]:
    segment, structure, label = _GROUPS[group]
    parts = full_path.split("\\")
    relative = parts[1:]
    prefix = full_path.lower() + "\\"
    children = sorted(
        (path for key, path in nodes.items() if key.startswith(prefix) and "\\" not in key[len(prefix) :]),
        key=str.lower,
    )
    url = f"{ctx.r.base}/{project.id}/_apis/wit/classificationNodes/{segment}"
    if relative:
        url += "/" + "/".join(quote(p) for p in relative)
    body: dict[str, Any] = {
        "id": zlib.crc32(f"{project.id}:{group}:{full_path.lower()}".encode()) & 0x7FFFFFFF,
        "identifier": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project.id}:{group}:{full_path.lower()}")),
        "name": parts[-1],
        "structureType": structure,
        "hasChildren": bool(children),
        "path": "\\" + "\\".join([parts[0], label, *relative]),
    }
    if depth > 0 and children:
        body["children"] = [_node(ctx, project, group, child, nodes, depth - 1) for child in children]
    body["url"] = url
    return body


def _depth(ctx: Ctx) -> int:
    return max(ctx.int_param("$depth", 0) or 0, 0)


async def root_nodes(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["project"])
    value = [
        _node(ctx, project, "areas", project.name, project.areas, _depth(ctx)),
        _node(ctx, project, "iterations", project.name, project.iterations, _depth(ctx)),
    ]
    return {"count": len(value), "value": value}


async def get_node(ctx: Ctx) -> dict[str, Any]:
    project = ctx.state.project(ctx.params["project"])
    group = ctx.params["group"].lower()
    nodes = project.areas if group == "areas" else project.iterations
    path = ctx.params.get("path", "").strip("/").replace("/", "\\")
    full = project.name + ("\\" + path if path else "")
    canonical = nodes.get(full.lower())
    if canonical is None:
        raise errors.AdoError(
            404,
            f"VS402485: The node {path or group} does not exist under {project.name}.",
            "WorkItemTrackingTreeNodeNotFoundException",
        )
    return _node(ctx, project, group, canonical, nodes, _depth(ctx))


ROUTES: list[ApiRoute] = [
    route("wit.classificationnodes.list", "GET", r"{P!}/_apis/wit/classificationnodes", root_nodes),
    route(
        "wit.classificationnodes.get",
        "GET",
        r"{P!}/_apis/wit/classificationnodes/(?P<group>areas|iterations)(?:/(?P<path>.+?))?",
        get_node,
    ),
]
