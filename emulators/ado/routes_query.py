"""Query endpoints: WIQL (``POST [{project}[/{team}]]/_apis/wit/wiql``) and the reporting work item
revisions change feed (``[{project}]/_apis/wit/reporting/workitemrevisions``, GET and POST)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from emulators.ado import errors, wiql
from emulators.ado.app import ApiRoute, Ctx, route
from emulators.ado.values import format_date, parse_date

DEFAULT_REVISIONS_PAGE = 1000
_LONG_TEXT = ("html", "plainText", "history")


async def run_wiql(ctx: Ctx) -> dict[str, Any]:
    project_key = ctx.params.get("project")
    project = ctx.state.project(project_key) if project_key else None
    body = await ctx.body()
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
        raise errors.invalid_body('The query text must be supplied in the body: {"query": "SELECT …"}.')
    top = ctx.int_param("$top")
    query_ctx = wiql.QueryContext(
        project=project.name if project else None,
        user=ctx.user,
        now=ctx.env.clock.now(),
        time_precision=ctx.flag("timePrecision"),
    )
    outcome = wiql.execute(ctx.state, body["query"], query_ctx)
    ids = outcome.ids
    cap = ctx.env.config.wiql_max_results
    if top is not None:
        ids = ids[: max(top, 0)]
    elif len(ids) > cap:
        raise errors.wiql_too_many(cap)
    r = ctx.r
    ctx.extra_headers["X-Emulator-Wiql-Plan"] = outcome.stats.get("plan", "")
    return {
        "queryType": "flat",
        "queryResultType": "workItem",
        "asOf": format_date(outcome.as_of),
        "columns": [r.field_reference(d) for d in outcome.query.columns],
        "sortColumns": [
            {"field": r.field_reference(d), "descending": desc} for d, desc in outcome.query.order
        ],
        "workItems": [{"id": item_id, "url": r.item_url(item_id)} for item_id in ids],
    }


class RevisionsFilter(BaseModel):
    """ReportingWorkItemRevisionsFilter (POST body)."""

    model_config = ConfigDict(extra="ignore")

    fields: list[str] | None = None
    types: list[str] | None = None
    includeDeleted: bool = False
    includeIdentityRef: bool = False
    includeLatestOnly: bool = False
    includeTagRef: bool = False


def _csv(raw: str | None) -> list[str] | None:
    parts = [p.strip() for p in (raw or "").split(",") if p.strip()]
    return parts or None


async def reporting_revisions(ctx: Ctx) -> dict[str, Any]:
    project_key = ctx.params.get("project")
    project = ctx.state.project(project_key) if project_key else None
    if ctx.request.method == "POST":
        try:
            flt = RevisionsFilter.model_validate(await ctx.body() or {})
        except ValidationError as exc:
            raise errors.invalid_body(
                f"Invalid ReportingWorkItemRevisionsFilter: {exc.errors()[0]['msg']}"
            ) from exc
    else:
        flt = RevisionsFilter(
            fields=_csv(ctx.param("fields")),
            types=_csv(ctx.param("types")),
            includeDeleted=ctx.flag("includeDeleted"),
            includeIdentityRef=ctx.flag("includeIdentityRef"),
            includeLatestOnly=ctx.flag("includeLatestOnly"),
        )
    token = ctx.param("continuationToken")
    start_raw = ctx.param("startDateTime")
    if token and start_raw:
        raise errors.bad_request("startDateTime cannot be combined with continuationToken.")
    page_size = min(
        ctx.int_param("$maxPageSize", DEFAULT_REVISIONS_PAGE) or DEFAULT_REVISIONS_PAGE,
        DEFAULT_REVISIONS_PAGE,
    )
    expand_fields = (ctx.param("$expand") or "").lower() == "fields"
    select = None
    if flt.fields:
        select = []
        for name in flt.fields:
            definition = ctx.state.fields.find(name)
            if definition is None:
                raise errors.field_not_found(name)
            select.append(definition)
    types = {t.lower() for t in flt.types or []}
    style = "ref" if flt.includeIdentityRef else "string"
    state = ctx.state
    values: list[dict[str, Any]] = []
    with state.lock:
        log = state.revision_log
        if token:
            try:
                position = int(token)
            except ValueError as exc:
                raise errors.bad_request(f"The continuation token '{token}' is not valid.") from exc
        elif start_raw:
            try:
                start_ts = parse_date(start_raw).timestamp()
            except ValueError as exc:
                raise errors.bad_request(f"The value '{start_raw}' is not a valid startDateTime.") from exc
            position = next(
                (i for i, (item_id, rev) in enumerate(log) if _ts(state, item_id, rev) >= start_ts), len(log)
            )
        else:
            position = 0
        while position < len(log) and len(values) < page_size:
            item_id, rev = log[position]
            position += 1
            item = state.items.get(item_id)
            if item is None or rev > len(item.revisions):
                continue
            if item.deleted is not None and not flt.includeDeleted:
                continue
            if flt.includeLatestOnly and rev != item.rev:
                continue
            revision = item.revisions[rev - 1]
            fields = revision.fields
            if (
                project is not None
                and str(fields.get("System.TeamProject", "")).lower() != project.name.lower()
            ):
                continue
            if types and str(fields.get("System.WorkItemType", "")).lower() not in types:
                continue
            rendered = ctx.r.fields(revision, select=select, include_hidden=True, style=style)  # type: ignore[arg-type]
            if select is None and not expand_fields:
                for ref in list(rendered):
                    definition = state.fields.find(ref)
                    if definition is not None and definition.kind in _LONG_TEXT:
                        del rendered[ref]
            if select is None or any(d.ref == "System.RevisedDate" for d in select):
                later = item.revisions[rev] if rev < len(item.revisions) else None
                rendered["System.RevisedDate"] = (
                    format_date(datetime.fromtimestamp(later.changed_ts, tz=UTC))
                    if later
                    else "9999-01-01T00:00:00Z"
                )
            if item.deleted is not None:
                rendered["System.IsDeleted"] = True
            values.append({"id": item_id, "rev": rev, "fields": rendered})
        last = position >= len(log)
    prefix = f"/{project.id}" if project else ""
    next_token = str(position)
    return {
        "values": values,
        "nextLink": f"{ctx.r.base}{prefix}/_apis/wit/reporting/workItemRevisions"
        f"?continuationToken={next_token}&api-version={ctx.api_version_text}",
        "continuationToken": next_token,
        "isLastBatch": last,
    }


def _ts(state: Any, item_id: int, rev: int) -> float:
    item = state.items.get(item_id)
    if item is None or rev > len(item.revisions):
        return float("-inf")
    return float(item.revisions[rev - 1].changed_ts)


ROUTES: list[ApiRoute] = [
    route(
        "wit.wiql",
        "POST",
        r"(?:/(?P<project>[^/_][^/]*)(?:/(?P<team>[^/_][^/]*))?)?/_apis/wit/wiql",
        run_wiql,
    ),
    route(
        "wit.reporting.revisions", "GET", r"{P}/_apis/wit/reporting/workitemrevisions", reporting_revisions
    ),
    route(
        "wit.reporting.revisions", "POST", r"{P}/_apis/wit/reporting/workitemrevisions", reporting_revisions
    ),
]
