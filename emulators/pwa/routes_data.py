"""``/_api/ProjectData``: the read-only OData v3 reporting feed (Projects, Tasks, Assignments, Resources)
with ``$filter``/``$select``/``$orderby``/``$top``/``$skip`` and server paging by ``$skiptoken``; it shows
published data only, after the reporting lag."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from emulators.pwa import errors
from emulators.pwa.app import ApiRoute, Ctx, key, route
from emulators.pwa.odata import parse_filter, parse_int, parse_orderby, parse_paths, sort_rows
from emulators.pwa.render import row_json

PD = "/_api/ProjectData"
_SETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Projects": ("ReportingData.Project", ("ProjectId",)),
    "Tasks": ("ReportingData.Task", ("ProjectId", "TaskId")),
    "Assignments": ("ReportingData.Assignment", ("AssignmentId", "ProjectId")),
    "Resources": ("ReportingData.Resource", ("ResourceId",)),
}
_TOKEN_GUID = re.compile(r"guid'([0-9a-fA-F-]{36})'")


def _rows(ctx: Ctx, set_name: str) -> list[dict[str, Any]]:
    state = ctx.state
    if set_name == "Resources":
        return state.resource_rows()
    snapshots = state.reporting.current(state.clock.timestamp())
    rows: list[dict[str, Any]] = []
    for snapshot in snapshots.values():
        if set_name == "Projects":
            rows.append(snapshot.project)
        elif set_name == "Tasks":
            rows.extend(snapshot.tasks)
        else:
            rows.extend(snapshot.assignments)
    return rows


def _path(set_name: str, row: dict[str, Any]) -> str:
    keys = _SETS[set_name][1]
    if len(keys) == 1:
        return f"ProjectData/{set_name}(guid'{row[keys[0]]}')"
    inner = ",".join(f"{k}=guid'{row[k]}'" for k in keys)
    return f"ProjectData/{set_name}({inner})"


def _key(set_name: str, row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in _SETS[set_name][1])


def _feed(ctx: Ctx, set_name: str, rows: list[dict[str, Any]], base_path: str) -> Any:
    type_name = _SETS[set_name][0]
    predicate = parse_filter(ctx.option("$filter"))
    if predicate is not None:
        rows = [r for r in rows if predicate(r)]
    orderby = parse_orderby(ctx.option("$orderby"))
    if orderby:
        rows = sort_rows(sorted(rows, key=lambda r: _key(set_name, r)), orderby)
    else:
        rows = sorted(rows, key=lambda r: _key(set_name, r))
    token = ctx.option("$skiptoken")
    if token:
        if orderby:
            rows = rows[parse_int(token, "$skiptoken") or 0 :]
        else:
            after = tuple(g.lower() for g in _TOKEN_GUID.findall(token))
            if len(after) != len(_SETS[set_name][1]):
                raise errors.bad_request(f"Invalid $skiptoken '{token}'.")
            rows = [r for r in rows if _key(set_name, r) > after]
    skip = parse_int(ctx.option("$skip"), "$skip") or 0
    top = parse_int(ctx.option("$top"), "$top")
    rows = rows[skip:]
    if top is not None:
        rows = rows[:top]
    page_size = ctx.state.config.project_data_page_size
    next_url = None
    if len(rows) > page_size:
        page = rows[:page_size]
        last = page[-1]
        if orderby:
            offset = (parse_int(token, "$skiptoken") or 0) if token else 0
            new_token = str(offset + skip + page_size)
        else:
            new_token = ",".join(f"guid'{v}'" for v in _key(set_name, last))
        params = {
            k: v
            for k, v in ctx.request.query_params.items()
            if k.lower() not in ("$skip", "$top", "$skiptoken")
        }
        if top is not None:
            params["$top"] = str(top - page_size)
        params["$skiptoken"] = new_token
        query = "&".join(f"{k}={quote(v, safe=chr(39) + '(),:$')}" for k, v in params.items())
        next_url = f"{ctx.env.api_root}{base_path}?{query}"
        rows = page
    select = parse_paths(ctx.option("$select"))
    items = [row_json(r, ctx.fmt, type_name, _path(set_name, r), select) for r in rows]
    if ctx.fmt.verbose:
        body: dict[str, Any] = {"results": items}
        if next_url:
            body["__next"] = next_url
        return {"d": body}
    out: dict[str, Any] = {}
    if ctx.fmt.kind == "minimal":
        out["odata.metadata"] = f"{ctx.env.api_root}ProjectData/$metadata#{set_name}"
    out["value"] = items
    if next_url:
        out["odata.nextLink"] = next_url
    return out


def _collection(set_name: str) -> Any:
    def handler(ctx: Ctx) -> Any:
        return _feed(ctx, set_name, _rows(ctx, set_name), f"ProjectData/{set_name}")

    return handler


def project_row(ctx: Ctx) -> Any:
    pid = ctx.params["pid"]
    row = next((r for r in _rows(ctx, "Projects") if r["ProjectId"] == pid), None)
    if row is None:
        raise errors.not_found(f"Projects(guid'{pid}')")
    obj = row_json(
        row, ctx.fmt, "ReportingData.Project", _path("Projects", row), parse_paths(ctx.option("$select"))
    )
    if ctx.fmt.verbose:
        return {"d": obj}
    if ctx.fmt.kind == "minimal":
        return {"odata.metadata": f"{ctx.env.api_root}ProjectData/$metadata#Projects/@Element", **obj}
    return obj


def project_tasks(ctx: Ctx) -> Any:
    pid = ctx.params["pid"]
    if not any(r["ProjectId"] == pid for r in _rows(ctx, "Projects")):
        raise errors.not_found(f"Projects(guid'{pid}')")
    rows = [r for r in _rows(ctx, "Tasks") if r["ProjectId"] == pid]
    return _feed(ctx, "Tasks", rows, f"ProjectData/Projects(guid'{pid}')/Tasks")


ROUTES: list[ApiRoute] = [
    route("pd.projects", "GET", PD + "/Projects", _collection("Projects"), report=True),
    route("pd.projects", "GET", PD + "/Projects" + key("pid"), project_row, report=True),
    route("pd.tasks", "GET", PD + "/Projects" + key("pid") + "/Tasks", project_tasks, report=True),
    route("pd.tasks", "GET", PD + "/Tasks", _collection("Tasks"), report=True),
    route("pd.assignments", "GET", PD + "/Assignments", _collection("Assignments"), report=True),
    route("pd.resources", "GET", PD + "/Resources", _collection("Resources"), report=True),
]
