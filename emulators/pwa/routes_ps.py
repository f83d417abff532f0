"""``/_api/ProjectServer`` (and ``/_api/contextinfo``, ``/_api/web/currentuser``): projects, published
and draft tasks, assignments, team, check-out/publish/check-in and queue jobs, custom fields, lookup
tables, entity types and enterprise resources."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from emulators.pwa import errors
from emulators.pwa.app import ApiRoute, Ctx, key, route
from emulators.pwa.model import FIELD_TYPES, ZERO_GUID, Project, norm_guid
from emulators.pwa.odata import parse_filter, parse_int, parse_orderby, parse_paths, sort_rows
from emulators.pwa.render import Entity, PsBuilder, collection_body, entity_body
from emulators.pwa.schema import PROPERTIES
from emulators.pwa.values import parse_date

PS = "/_api/ProjectServer"
PROJECT = PS + "/Projects(?:" + key("pid") + r"|/GetByGuid" + key("pid2") + ")"
DRAFT = PROJECT + "/Draft"
_FLAG = r"\(\s*(?:\w+\s*=\s*)?(?P<flag>true|false)?\s*\)"


def _builder(ctx: Ctx) -> PsBuilder:
    return PsBuilder(ctx.state)


def _project(ctx: Ctx) -> Project:
    return ctx.state.project(ctx.params.get("pid") or ctx.params["pid2"])


def _one(ctx: Ctx, entity: Entity | None, set_name: str) -> Any:
    if entity is None:
        return {"d": None} if ctx.fmt.verbose else {"odata.null": True}
    return entity_body(
        entity, ctx.fmt, parse_paths(ctx.option("$select")), parse_paths(ctx.option("$expand")), set_name
    )


def _many(ctx: Ctx, entities: list[Entity], set_name: str) -> Any:
    predicate = parse_filter(ctx.option("$filter"))
    if predicate is not None:
        entities = [e for e in entities if predicate(e.props)]
    orderby = parse_orderby(ctx.option("$orderby"))
    if orderby:
        order = {id(e): i for i, e in enumerate(entities)}
        rows = sort_rows([{**e.props, "__i": order[id(e)]} for e in entities], orderby)
        by_index = {order[id(e)]: e for e in entities}
        entities = [by_index[r["__i"]] for r in rows]
    skip = parse_int(ctx.option("$skip"), "$skip") or 0
    top = parse_int(ctx.option("$top"), "$top")
    entities = entities[skip:]
    if top is not None:
        entities = entities[:top]
    next_url = None
    page = ctx.state.config.ps_page_size
    if page and len(entities) > page:
        entities = entities[:page]
        params = {k: v for k, v in ctx.request.query_params.items() if k.lower() not in ("$skip", "$top")}
        params["$skip"] = str(skip + page)
        if top is not None:
            params["$top"] = str(top - page)
        query = "&".join(f"{k}={quote(v, safe=chr(39) + '(),:$')}" for k, v in params.items())
        next_url = f"{str(ctx.request.url).split('?')[0]}?{query}"
    return collection_body(
        entities,
        ctx.fmt,
        parse_paths(ctx.option("$select")),
        parse_paths(ctx.option("$expand")),
        set_name,
        next_url,
    )


def _parameters(ctx: Ctx, type_name: str, wrapper: str = "parameters") -> dict[str, Any]:
    body = ctx.body
    if not isinstance(body, dict) or not isinstance(body.get(wrapper), dict):
        raise errors.bad_request(f'The request body must be {{"{wrapper}": {{...{type_name}...}}}}.')
    params = {k: v for k, v in body[wrapper].items() if k != "__metadata"}
    known = {name for name, _ in PROPERTIES.get(type_name, ())}
    if known:
        for name in params:
            if name not in known and type_name != "PS.TaskCreationInformation":
                raise errors.unknown_property(name, type_name)
    return params


def _void(ctx: Ctx, name: str) -> Any:
    return {"d": {name: None}} if ctx.fmt.verbose else {"odata.null": True}


def _flag(ctx: Ctx, body_name: str) -> bool:
    flag = ctx.params.get("flag")
    if flag is not None:
        return flag == "true"
    if isinstance(ctx.body, dict) and body_name in ctx.body:
        return bool(ctx.body[body_name])
    return False


# --- site ----------------------------------------------------------------------------------------


def contextinfo(ctx: Ctx) -> Any:
    config = ctx.state.config
    value = ctx.env.auth.issue_digest(ctx.user, config.digest_timeout)
    site = ctx.env.site_url
    info = {
        "FormDigestTimeoutSeconds": config.digest_timeout,
        "FormDigestValue": value,
        "LibraryVersion": "16.0.25520.12000",
        "SiteFullUrl": site,
        "SupportedSchemaVersions": ["14.0.0.0", "15.0.0.0"],
        "WebFullUrl": site,
    }
    if ctx.fmt.verbose:
        versions = {
            "__metadata": {"type": "Collection(Edm.String)"},
            "results": info["SupportedSchemaVersions"],
        }
        return {
            "d": {
                "GetContextWebInformation": {
                    "__metadata": {"type": "SP.ContextWebInformation"},
                    **info,
                    "SupportedSchemaVersions": versions,
                }
            }
        }
    if ctx.fmt.kind == "minimal":
        return {"odata.metadata": f"{ctx.env.api_root}$metadata#SP.ContextWebInformation", **info}
    return info


def current_user(ctx: Ctx) -> Any:
    return _one(ctx, _builder(ctx).user(ctx.user), "SP.Data.UserInfoItem")


def ps_root(ctx: Ctx) -> Any:
    props = {
        "EngagementsTimephasedPageSize": 100,
        "EnterpriseResourcesPageSize": 100,
        "IsDelegate": False,
        "IsReadOnly": False,
        "ProjectsPageSize": 100,
    }
    names = (
        "Calendars",
        "CustomFields",
        "EnterpriseProjectTypes",
        "EnterpriseResources",
        "EntityTypes",
        "LookupTables",
        "Projects",
    )
    return _one(ctx, Entity("PS.ProjectServer", "ProjectServer", props, nav_names=names), "ProjectServer")


# --- projects ------------------------------------------------------------------------------------


def projects_list(ctx: Ctx) -> Any:
    b = _builder(ctx)
    return _many(ctx, [b.project(p) for p in ctx.state.projects.values()], "Projects")


def project_get(ctx: Ctx) -> Any:
    return _one(ctx, _builder(ctx).project(_project(ctx)), "Projects")


def project_custom(ctx: Ctx) -> Any:
    return _one(ctx, _builder(ctx).project(_project(ctx), with_custom=True), "Projects")


def project_add(ctx: Ctx) -> Any:
    params = _parameters(ctx, "PS.ProjectCreationInformation")
    name = params.get("Name")
    if not isinstance(name, str) or not name.strip():
        raise errors.bad_request("ProjectCreationInformation.Name is required.")
    try:
        project = ctx.state.create_project(
            name,
            ctx.user,
            project_id=params.get("Id") if params.get("Id") not in (None, ZERO_GUID) else None,
            description=str(params.get("Description") or ""),
            start=parse_date(params.get("Start"), ctx.state.config.zone),
        )
    except ValueError as exc:
        raise errors.ps_error("GeneralItemAlreadyExists", str(exc)) from exc
    return _one(ctx, _builder(ctx).project(project), "Projects")


def checked_out_by(ctx: Ctx) -> Any:
    project = _project(ctx)
    return _one(ctx, _builder(ctx).user(project.checkout.user) if project.checkout else None, "SP.User")


def summary_task(ctx: Ctx) -> Any:
    project = _project(ctx)
    return _one(ctx, _builder(ctx).summary_task(project, project.published), "ProjectSummaryTask")


def check_out(ctx: Ctx) -> Any:
    project = _project(ctx)
    ctx.state.check_out(project, ctx.user)
    return _one(ctx, _builder(ctx).project(project, draft=True), "DraftProjects")


# --- published tasks, assignments and team ----------------------------------------------------------


def tasks_list(ctx: Ctx) -> Any:
    project = _project(ctx)
    return _many(ctx, _builder(ctx).tasks(project, project.published, draft=False), "Tasks")


def task_get(ctx: Ctx) -> Any:
    project = _project(ctx)
    state = project.published
    task = state.task(ctx.params["tid"])
    if task is None:
        raise errors.not_found(f"Tasks('{ctx.params['tid']}')")
    return _one(ctx, _builder(ctx).task(project, state, task, state.outline()[task.id], draft=False), "Tasks")


def assignments_list(ctx: Ctx) -> Any:
    project = _project(ctx)
    entities = _builder(ctx).assignments(project, project.published, draft=False)
    tid = ctx.params.get("tid")
    if tid:
        if project.published.task(tid) is None:
            raise errors.not_found(f"Tasks('{tid}')")
        wanted = {a.id for a in project.published.assignments_of(tid)}
        entities = [e for e in entities if e.props["Id"] in wanted]
    return _many(ctx, entities, "Assignments")


def team_list(ctx: Ctx) -> Any:
    project = _project(ctx)
    b = _builder(ctx)
    resources = ctx.state.resources
    members = [b.team_member(project, resources[r], False) for r in project.published.team if r in resources]
    return _many(ctx, members, "ProjectResources")


# --- draft ---------------------------------------------------------------------------------------


def draft_get(ctx: Ctx) -> Any:
    return _one(ctx, _builder(ctx).project(_project(ctx), draft=True), "DraftProjects")


def draft_custom(ctx: Ctx) -> Any:
    return _one(ctx, _builder(ctx).project(_project(ctx), draft=True, with_custom=True), "DraftProjects")


def draft_tasks(ctx: Ctx) -> Any:
    project = _project(ctx)
    return _many(ctx, _builder(ctx).tasks(project, project.draft(), draft=True), "DraftTasks")


def draft_task_get(ctx: Ctx) -> Any:
    project = _project(ctx)
    state = project.draft()
    task = state.task(ctx.params["tid"])
    if task is None:
        raise errors.not_found(f"Draft/Tasks('{ctx.params['tid']}')")
    return _one(
        ctx, _builder(ctx).task(project, state, task, state.outline()[task.id], draft=True), "DraftTasks"
    )


def draft_task_add(ctx: Ctx) -> Any:
    project = _project(ctx)
    params = _parameters(ctx, "PS.TaskCreationInformation")
    task = ctx.state.add_task(project, ctx.user, params)
    state = project.draft()
    return _one(
        ctx, _builder(ctx).task(project, state, task, state.outline()[task.id], draft=True), "DraftTasks"
    )


def draft_task_write(ctx: Ctx) -> Any:
    project = _project(ctx)
    if ctx.method == "DELETE":
        ctx.state.delete_task(project, ctx.user, ctx.params["tid"])
        return Response(status_code=200)
    if not isinstance(ctx.body, dict):
        raise errors.bad_request("The request body must be a JSON object of DraftTask properties.")
    ctx.state.update_task(project, ctx.user, ctx.params["tid"], ctx.body)
    return None


def draft_task_delete_object(ctx: Ctx) -> Any:
    ctx.state.delete_task(_project(ctx), ctx.user, ctx.params["tid"])
    return _void(ctx, "DeleteObject")


def draft_task_set_custom(ctx: Ctx) -> Any:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    name = body.get("FieldName") or body.get("fieldName")
    if not isinstance(name, str):
        raise errors.bad_request("SetCustomFieldValue needs FieldName (the field's InternalName) and Value.")
    value = body.get("Value", body.get("value"))
    ctx.state.set_task_custom_field(_project(ctx), ctx.user, ctx.params["tid"], name, value)
    return _void(ctx, "SetCustomFieldValue")


def draft_assignments(ctx: Ctx) -> Any:
    project = _project(ctx)
    return _many(ctx, _builder(ctx).assignments(project, project.draft(), draft=True), "DraftAssignments")


def draft_assignment_add(ctx: Ctx) -> Any:
    project = _project(ctx)
    params = _parameters(ctx, "PS.AssignmentCreationInformation")
    assignment = ctx.state.add_assignment(project, ctx.user, params)
    return _one(
        ctx, _builder(ctx).assignment(project, project.draft(), assignment, draft=True), "DraftAssignments"
    )


def draft_assignment_get(ctx: Ctx) -> Any:
    project = _project(ctx)
    state = project.draft()
    match = next((a for a in state.assignments if a.id == ctx.params["aid"]), None)
    if match is None:
        raise errors.not_found(f"Draft/Assignments('{ctx.params['aid']}')")
    return _one(ctx, _builder(ctx).assignment(project, state, match, draft=True), "DraftAssignments")


def draft_assignment_delete(ctx: Ctx) -> Any:
    ctx.state.delete_assignment(_project(ctx), ctx.user, ctx.params["aid"])
    if ctx.method == "DELETE":
        return Response(status_code=200)
    return _void(ctx, "DeleteObject")


def draft_team(ctx: Ctx) -> Any:
    project = _project(ctx)
    b = _builder(ctx)
    resources = ctx.state.resources
    members = [b.team_member(project, resources[r], True) for r in project.draft().team if r in resources]
    return _many(ctx, members, "DraftProjectResources")


def draft_team_add(ctx: Ctx) -> Any:
    project = _project(ctx)
    job = ctx.state.add_team_member(project, ctx.user, ctx.params["rid"])
    return _one(ctx, _builder(ctx).queue_job(project, job), "QueueJobs")


def draft_custom_fields(ctx: Ctx) -> Any:
    project = _project(ctx)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    entries = body.get("customFieldDictionary")
    if isinstance(entries, dict) and "results" in entries:
        entries = entries["results"]
    job = ctx.state.update_project_custom_fields(project, ctx.user, entries)
    return _one(ctx, _builder(ctx).queue_job(project, job), "QueueJobs")


def draft_update(ctx: Ctx) -> Any:
    project = _project(ctx)
    job = ctx.state.submit_save(project, ctx.user)
    return _one(ctx, _builder(ctx).queue_job(project, job), "QueueJobs")


def draft_publish(ctx: Ctx) -> Any:
    project = _project(ctx)
    job = ctx.state.submit_publish(project, ctx.user, _flag(ctx, "checkIn"))
    return _one(ctx, _builder(ctx).queue_job(project, job), "QueueJobs")


def draft_check_in(ctx: Ctx) -> Any:
    project = _project(ctx)
    job = ctx.state.submit_check_in(project, ctx.user, _flag(ctx, "force"))
    return _one(ctx, _builder(ctx).queue_job(project, job), "QueueJobs")


# --- queue jobs ----------------------------------------------------------------------------------


def queue_jobs(ctx: Ctx) -> Any:
    project = _project(ctx)
    b = _builder(ctx)
    return _many(ctx, [b.queue_job(project, j) for j in ctx.state.queue.of_project(project.id)], "QueueJobs")


def queue_job(ctx: Ctx) -> Any:
    project = _project(ctx)
    job = ctx.state.queue.get(ctx.params["jid"])
    if job is None or job.project_id != project.id:
        raise errors.not_found(f"QueueJobs('{ctx.params['jid']}')")
    return _one(ctx, _builder(ctx).queue_job(project, job), "QueueJobs")


def queue_job_cancel(ctx: Ctx) -> Any:
    project = _project(ctx)
    job = ctx.state.queue.get(ctx.params["jid"])
    if job is None or job.project_id != project.id:
        raise errors.not_found(f"QueueJobs('{ctx.params['jid']}')")
    if not ctx.user.admin:
        raise errors.access_denied()
    ctx.state.queue.cancel(job.id, ctx.state.clock.timestamp())
    return _void(ctx, "Cancel")


# --- custom fields, lookup tables, entity types --------------------------------------------------------


def custom_fields(ctx: Ctx) -> Any:
    b = _builder(ctx)
    return _many(ctx, [b.custom_field(cf) for cf in ctx.state.custom_fields.values()], "CustomFields")


def custom_field(ctx: Ctx) -> Any:
    return _one(ctx, _builder(ctx).custom_field(ctx.state.custom_field(ctx.params["cid"])), "CustomFields")


def custom_field_nav(ctx: Ctx) -> Any:
    cf = ctx.state.custom_field(ctx.params["cid"])
    entity = _builder(ctx).custom_field(cf)
    nav = ctx.request.url.path.rstrip("/").rsplit("/", 1)[-1]
    name = next(n for n in entity.navs if n.lower() == nav.lower())
    target = entity.navs[name]()
    if isinstance(target, list):
        return _many(ctx, target, name)
    return _one(ctx, target, name)


def custom_field_add(ctx: Ctx) -> Any:
    from emulators.pwa.emulator import ENTITY_TYPE_IDS

    params = _parameters(ctx, "PS.CustomFieldCreationInformation")
    name = params.get("Name")
    if not isinstance(name, str) or not name.strip():
        raise errors.ps_error(
            "CustomFieldNameAlreadyExists" if name else "CustomFieldInvalidTypeColumnFilledIn"
        )
    field_type = params.get("FieldType")
    if not isinstance(field_type, int) or field_type not in FIELD_TYPES.values():
        raise errors.ps_error("CustomFieldInvalidType", repr(field_type))
    try:
        entity_type = norm_guid(str(params.get("EntityTypeId", "")))
    except ValueError as exc:
        raise errors.ps_error("CustomFieldInvalidEntity", str(params.get("EntityTypeId"))) from exc
    by_id = {v: k for k, v in ENTITY_TYPE_IDS.items()}
    if entity_type not in by_id:
        raise errors.ps_error("CustomFieldInvalidEntity", entity_type)
    cf = ctx.state.add_custom_field(
        name,
        field_type,
        by_id[entity_type],
        lookup_table_id=params.get("LookupTableId") or None,
        field_id=params.get("Id") if params.get("Id") not in (None, ZERO_GUID) else None,
        description=str(params.get("Description") or ""),
        is_required=bool(params.get("IsRequired", False)),
        is_multiline=bool(params.get("IsMultilineText", False)),
        formula=params.get("Formula"),
    )
    return _one(ctx, _builder(ctx).custom_field(cf), "CustomFields")


def lookup_tables(ctx: Ctx) -> Any:
    b = _builder(ctx)
    return _many(ctx, [b.lookup_table(t) for t in ctx.state.lookup_tables.values()], "LookupTables")


def lookup_table(ctx: Ctx) -> Any:
    return _one(ctx, _builder(ctx).lookup_table(ctx.state.lookup_table(ctx.params["lid"])), "LookupTables")


def lookup_entries(ctx: Ctx) -> Any:
    table = ctx.state.lookup_table(ctx.params["lid"])
    b = _builder(ctx)
    return _many(ctx, [b.lookup_entry(table, e) for e in table.entries], "LookupEntries")


def lookup_table_add(ctx: Ctx) -> Any:
    params = _parameters(ctx, "PS.LookupTableCreationInformation")
    name = params.get("Name")
    if not isinstance(name, str) or not name.strip():
        raise errors.bad_request("LookupTableCreationInformation.Name is required.")
    raw = params.get("Entries") or []
    if isinstance(raw, dict):
        raw = raw.get("results", [])
    entries = []
    for item in raw:
        if not isinstance(item, dict):
            raise errors.bad_request("Entries must be LookupEntryCreationInformation objects.")
        value = item.get("Value")
        text = value.get("TextValue") if isinstance(value, dict) else value
        if not isinstance(text, str) or not text:
            raise errors.bad_request("Each lookup entry needs Value.TextValue.")
        entry_id = item.get("Id") if item.get("Id") not in (None, ZERO_GUID) else None
        entries.append((entry_id, text, str(item.get("Description") or ""), item.get("SortIndex")))
    texts = [e[1] for e in entries]
    if len(set(texts)) != len(texts):
        raise errors.ps_error("LookupTableDuplicateName", "duplicate entries")
    table = ctx.state.add_lookup_table(
        name,
        entries,
        table_id=params.get("Id") if params.get("Id") not in (None, ZERO_GUID) else None,
        sort_order=int(params.get("SortOrder") or 0),
    )
    return _one(ctx, _builder(ctx).lookup_table(table), "LookupTables")


def entity_types(ctx: Ctx) -> Any:
    from emulators.pwa.emulator import ENTITY_TYPE_IDS

    names = ("AssignmentEntity", "ProjectEntity", "ResourceEntity", "TaskEntity")
    b = _builder(ctx)
    entity = Entity(
        "PS.EntityTypes",
        "ProjectServer/EntityTypes",
        {},
        navs={f"{n.capitalize()}Entity": (lambda n=n: b.entity_type(n)) for n in ENTITY_TYPE_IDS},
        nav_names=names,
    )
    return _one(ctx, entity, "EntityTypes")


def entity_type(ctx: Ctx) -> Any:
    name = ctx.params["ename"].lower().removesuffix("entity")
    return _one(ctx, _builder(ctx).entity_type(name), "EntityTypes")


# --- enterprise resources ------------------------------------------------------------------------


def resources_list(ctx: Ctx) -> Any:
    b = _builder(ctx)
    return _many(ctx, [b.resource(r) for r in ctx.state.resources.values()], "EnterpriseResources")


def resource_get(ctx: Ctx) -> Any:
    return _one(ctx, _builder(ctx).resource(ctx.state.resource(ctx.params["rid"])), "EnterpriseResources")


def resource_add(ctx: Ctx) -> Any:
    params = _parameters(ctx, "PS.EnterpriseResourceCreationInformation")
    name = params.get("Name")
    if not isinstance(name, str) or not name.strip():
        raise errors.bad_request("EnterpriseResourceCreationInformation.Name is required.")
    resource = ctx.state.add_resource(
        name,
        "",
        resource_id=params.get("Id") if params.get("Id") not in (None, ZERO_GUID) else None,
        generic=bool(params.get("IsGeneric", False)),
    )
    return _one(ctx, _builder(ctx).resource(resource), "EnterpriseResources")


def resource_update(ctx: Ctx) -> Any:
    resource = ctx.state.resource(ctx.params["rid"])
    body = ctx.body if isinstance(ctx.body, dict) else {}
    for name, value in body.items():
        if name == "__metadata":
            continue
        if name == "Email":
            resource.email = str(value or "")
        elif name == "Name":
            resource.name = str(value)
        elif name == "IsActive":
            resource.is_active = bool(value)
        else:
            raise errors.unknown_property(name, "PS.EnterpriseResource")
    resource.modified = ctx.state.now()
    return None


ROUTES: list[ApiRoute] = [
    route("contextinfo", "POST", r"/_api/contextinfo", contextinfo),
    route("web.currentuser", "GET", r"/_api/web/currentuser", current_user),
    route("ps.root", "GET", PS, ps_root),
    route("ps.projects.list", "GET", PS + "/Projects", projects_list),
    route("ps.projects.add", "POST", PS + "/Projects/Add", project_add),
    route("ps.projects.get", "GET", PROJECT, project_get),
    route("ps.projects.customfields", "GET", PROJECT + "/IncludeCustomFields", project_custom),
    route("ps.projects.checkedoutby", "GET", PROJECT + "/CheckedOutBy", checked_out_by),
    route("ps.projects.summarytask", "GET", PROJECT + "/ProjectSummaryTask", summary_task),
    route("ps.projects.checkout", "POST", PROJECT + r"/checkOut\(\s*\)", check_out),
    route("ps.tasks.list", "GET", PROJECT + "/Tasks", tasks_list),
    route("ps.tasks.get", "GET", PROJECT + "/Tasks" + key("tid"), task_get),
    route("ps.assignments.list", "GET", PROJECT + "/Assignments", assignments_list),
    route("ps.assignments.list", "GET", PROJECT + "/Tasks" + key("tid") + "/Assignments", assignments_list),
    route("ps.projectresources.list", "GET", PROJECT + "/ProjectResources", team_list),
    route("ps.queuejobs.list", "GET", PROJECT + "/QueueJobs", queue_jobs),
    route("ps.queuejobs.get", "GET", PROJECT + "/QueueJobs" + key("jid"), queue_job),
    route(
        "ps.queuejobs.cancel",
        "POST",
        PROJECT + "/QueueJobs" + key("jid") + r"/Cancel\(\s*\)",
        queue_job_cancel,
    ),
    route("ps.draft.get", "GET", DRAFT, draft_get),
    route("ps.draft.customfields", "GET", DRAFT + "/IncludeCustomFields", draft_custom),
    route("ps.draft.tasks.list", "GET", DRAFT + "/Tasks", draft_tasks),
    route("ps.draft.tasks.add", "POST", DRAFT + "/Tasks/Add", draft_task_add),
    route("ps.draft.tasks.get", "GET", DRAFT + "/Tasks" + key("tid"), draft_task_get),
    route("ps.draft.tasks.update", "PATCH|MERGE|PUT", DRAFT + "/Tasks" + key("tid"), draft_task_write),
    route("ps.draft.tasks.delete", "DELETE", DRAFT + "/Tasks" + key("tid"), draft_task_write),
    route(
        "ps.draft.tasks.delete",
        "POST",
        DRAFT + "/Tasks" + key("tid") + r"/DeleteObject\(\s*\)",
        draft_task_delete_object,
    ),
    route(
        "ps.draft.tasks.setcustomfieldvalue",
        "POST",
        DRAFT + "/Tasks" + key("tid") + r"/SetCustomFieldValue(?:\(\s*\))?",
        draft_task_set_custom,
    ),
    route("ps.draft.assignments.list", "GET", DRAFT + "/Assignments", draft_assignments),
    route("ps.draft.assignments.add", "POST", DRAFT + "/Assignments/Add", draft_assignment_add),
    route("ps.draft.assignments.get", "GET", DRAFT + "/Assignments" + key("aid"), draft_assignment_get),
    route(
        "ps.draft.assignments.delete", "DELETE", DRAFT + "/Assignments" + key("aid"), draft_assignment_delete
    ),
    route(
        "ps.draft.assignments.delete",
        "POST",
        DRAFT + "/Assignments" + key("aid") + r"/DeleteObject\(\s*\)",
        draft_assignment_delete,
    ),
    route("ps.draft.projectresources.list", "GET", DRAFT + "/ProjectResources", draft_team),
    route(
        "ps.draft.projectresources.add",
        "POST",
        DRAFT + r"/ProjectResources/AddEnterpriseResourceById\(\s*(?:resourceId\s*=\s*)?(?:guid)?'?(?P<rid>"
        r"[0-9a-fA-F-]{36})'?\s*\)",
        draft_team_add,
    ),
    route(
        "ps.draft.updatecustomfields", "POST", DRAFT + r"/UpdateCustomFields(?:\(\s*\))?", draft_custom_fields
    ),
    route("ps.draft.update", "POST", DRAFT + r"/update\(\s*\)", draft_update),
    route("ps.draft.publish", "POST", DRAFT + "/publish" + _FLAG, draft_publish),
    route("ps.draft.checkin", "POST", DRAFT + "/checkIn" + _FLAG, draft_check_in),
    route("ps.customfields.list", "GET", PS + "/CustomFields", custom_fields),
    route("ps.customfields.add", "POST", PS + "/CustomFields/Add", custom_field_add),
    route("ps.customfields.get", "GET", PS + "/CustomFields" + key("cid"), custom_field),
    route(
        "ps.customfields.nav",
        "GET",
        PS + "/CustomFields" + key("cid") + "/(?:LookupEntries|LookupTable|EntityType)",
        custom_field_nav,
    ),
    route("ps.lookuptables.list", "GET", PS + "/LookupTables", lookup_tables),
    route("ps.lookuptables.add", "POST", PS + "/LookupTables/Add", lookup_table_add),
    route("ps.lookuptables.get", "GET", PS + "/LookupTables" + key("lid"), lookup_table),
    route("ps.lookuptables.entries", "GET", PS + "/LookupTables" + key("lid") + "/Entries", lookup_entries),
    route("ps.entitytypes.get", "GET", PS + "/EntityTypes", entity_types),
    route(
        "ps.entitytypes.get",
        "GET",
        PS + "/EntityTypes/(?P<ename>ProjectEntity|TaskEntity|ResourceEntity|AssignmentEntity)",
        entity_type,
    ),
    route("ps.resources.list", "GET", PS + "/EnterpriseResources", resources_list),
    route("ps.resources.add", "POST", PS + "/EnterpriseResources/Add", resource_add),
    route("ps.resources.get", "GET", PS + "/EnterpriseResources" + key("rid"), resource_get),
    route("ps.resources.update", "PATCH|MERGE", PS + "/EnterpriseResources" + key("rid"), resource_update),
]
