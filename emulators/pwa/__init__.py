"""Project Web App emulator: one Project Online site (``flavor="online"``) or Project Server
Subscription Edition / 2019 instance (``flavor="server"``) over real HTTP, speaking the PWA REST wire
format (``/_api/ProjectServer``, ``/_api/ProjectData``, ``/_api/contextinfo``).

Base URL: ``http://127.0.0.1:PORT/sites/pwa`` (online) or ``http://127.0.0.1:PORT/pwa`` (server).

Authentication
--------------
- online: ``Authorization: Bearer <token>``. Accepted: ``emulator.access_token`` (never expires) and the
  access tokens issued by the Entra stand-in ``POST {root_url}/{tenant}/oauth2/v2.0/token`` (form body,
  ``emulator.token_url``): ``grant_type=refresh_token`` (``refresh_token``, ``client_id``, ``scope``) or
  ``grant_type=password`` (``username`` = e-mail, ``password``; the "user credentials" flow). Answers
  ``{"token_type": "Bearer", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token"}``;
  every refresh returns a NEW refresh token (rotation; the old one stays valid unless revoked through
  the control API, as in Entra). Issued access tokens expire after ``token_lifetime`` seconds (emulator
  clock) → 401. Bad grants → 400 ``{"error": "invalid_grant", "error_description": "AADSTS70000: …",
  "error_codes": [70000]}``. No app-only: ``client_credentials`` → 400 ``unsupported_grant_type``.
- server: Windows authentication. NTLM (``Authorization: NTLM|Negotiate <token>``, a real handshake through
  pyspnego: type 1 → 401 with the challenge → type 3) for ``CONTOSO\\tandem``; as with IIS the TCP
  connection stays authenticated afterwards. HTTP Basic with the same account (``CONTOSO\\tandem``,
  ``tandem`` or its e-mail) and password is accepted too, as a simpler stand-in. 401s advertise
  ``WWW-Authenticate: NTLM``, ``Negotiate`` and ``Basic realm="PWA"``. Kerberos is not emulated.
- Missing/unknown credentials → 401 (online: ``WWW-Authenticate: Bearer realm="…",
  client_id="00000003-0000-0ff1-ce00-000000000000"`` and body ``{"error_description": "Invalid JWT
  token. …"}``). A user without write permission → 403 ``-2147024891, System.UnauthorizedAccessException``;
  without reporting permission the same on ``/_api/ProjectData``.
- ``emulator.credentials()`` → ``{"username", "password", "access_token", "refresh_token", "tenant",
  "client_id", "token_url"}`` (online) / ``{"username", "password"}`` (server). Unless given separately,
  the password is also the service account's never-expiring access token and its first refresh token, so
  one secret serves every connection option. People added with ``add_user(..., password=…)`` can call
  the API too (``emulator.auth_header("ann.chen@contoso.com")``).

Form digest
-----------
``POST /_api/contextinfo`` → ``FormDigestValue`` (``0x<hex>,<date> -0000``), ``FormDigestTimeoutSeconds``
(1800, emulator clock), ``WebFullUrl``, ``SiteFullUrl``, ``LibraryVersion``, ``SupportedSchemaVersions``.
Every POST/PATCH/MERGE/PUT/DELETE except contextinfo needs ``X-RequestDigest`` with a live digest of the
same user, else 403 ``{"error": {"code": "-2130575251, Microsoft.SharePoint.SPException", "message":
{"lang": "en-US", "value": "The security validation for this page is invalid and might be corrupted.
Please use your web browser's Back button to try your operation again."}}}``. Real SharePoint Online
skips the digest for bearer requests; the emulator requires it unless ``digest_required_with_bearer=False``.

JSON shapes (``Accept`` header)
------------------------------
- ``application/json;odata=verbose``: ``{"d": {...entity, "__metadata": {"id", "uri", "type"}, "Nav":
  {"__deferred": {"uri"}}}}``, collections ``{"d": {"results": [...], "__next"?: url}}``, collection
  values ``{"__metadata": {"type": "Collection(Edm.String)"}, "results": [...]}``.
- ``application/json;odata=nometadata``: entity objects, collections ``{"value": [...],
  "odata.nextLink"?: url}``, no navigation properties.
- ``application/json`` or ``;odata=minimal``: as nometadata plus ``odata.metadata`` and per-entity
  ``odata.type``/``odata.id``/``odata.editLink``.
- anything else (Atom) → 406. Request bodies may be verbose (``__metadata`` is ignored) or plain JSON.
  ``X-HTTP-Method: MERGE|PATCH|PUT|DELETE`` tunnels through POST; ``If-Match: *`` is accepted.
- Errors: verbose ``{"error": {"code": "<number>, <ExceptionType>", "message": {"lang": "en-US",
  "value": …}}}``, otherwise ``{"odata.error": {...same...}}``. Not found → 404
  ``-1, Microsoft.SharePoint.Client.ResourceNotFoundException``; bad property/body/query → 400
  ``-1, Microsoft.SharePoint.Client.InvalidClientQueryException``; Project Server errors → 403
  ``<PSErrorID>, Microsoft.ProjectServer.PJClientCallableException`` with the error name as message value
  (``CICOCheckedOutToOtherUser`` 10100, ``CICOAlreadyCheckedOutToYou`` 10101, ``CICONotCheckedOut`` 10102,
  ``CustomFieldNameAlreadyExists`` 11519, ``CustomFieldInvalidEntity`` 11520,
  ``CustomFieldCodeValueDoesNotMatchLookupTable`` 11706, ``CustomFieldInvalidLookupTableUID`` 11511,
  ``CustomFieldInvalidTypeColumnFilledIn`` 11704, ``LookupTableDuplicateName`` 11068).
- Bodies over ``max_request_bytes`` (2 MB) → 400 "The request message is too big…".

Values
------
Dates are ``Edm.DateTime`` without offset in the site's ``time_zone`` (``"2026-11-02T08:00:00"``; "no
date" = ``0001-01-01T00:00:00``); writes may carry an offset/``Z`` and are converted to site time.
Calendar: Mon-Fri 08:00-12:00, 13:00-17:00, 8 h/day, 40 h/week. ``Duration`` "5d"/"2.5d", ``Work``,
``ActualWork``, ``RemainingWork`` "40h"/"7.5h", ``*Milliseconds`` ints, ``*TimeSpan`` ISO ("P1DT16H").
Writes accept "10d", "80h", "30m", "2w", numbers of the ``*Milliseconds`` props.
Task custom fields appear as ``Custom_x005f_<32hex>`` (unset ones absent): text → string, flag → bool,
number/cost → number, date → DateTime string, duration → "5d", lookup → Collection(Edm.String) of
``Entry_<32hex>``. Project custom fields only on ``Projects('id')/IncludeCustomFields`` (and
``$expand=IncludeCustomFields``).
Top-level tasks have ``ParentId`` = the project's ``SummaryTaskId`` (the project summary task, which is
not in ``Tasks``). Summary tasks (``IsSummary``) roll up Start/Finish/Duration/Work/ActualWork/%.
Master projects have ``ProjectType`` 6 and ``IsSubProject`` tasks (inserted projects are type 5).

ProjectServer endpoints (under ``{base}/_api/ProjectServer``; ``{id}`` = ``'guid'``, case-insensitive)
-----------------------------------------------------------------------------------------------------
Endpoint names in brackets are what counters and fault rules match (fnmatch, e.g. ``ps.draft.*``).

- ``GET Projects`` [ps.projects.list], ``GET Projects({id})`` / ``Projects/GetByGuid({id})``
  [ps.projects.get], ``GET Projects({id})/IncludeCustomFields`` [ps.projects.customfields],
  ``POST Projects/Add`` {"parameters": ProjectCreationInformation} [ps.projects.add],
  ``GET Projects({id})/CheckedOutBy`` → SP.User [ps.projects.checkedoutby],
  ``GET Projects({id})/ProjectSummaryTask`` [ps.projects.summarytask].
- ``GET Projects({id})/Tasks``, ``Tasks({tid})`` → PS.PublishedTask [ps.tasks.list|get];
  ``GET Projects({id})/Assignments``, ``Tasks({tid})/Assignments`` → PS.PublishedAssignment (use
  ``$expand=Resource,Task``) [ps.assignments.list]; ``GET Projects({id})/ProjectResources``
  [ps.projectresources.list].
- ``POST Projects({id})/checkOut()`` → PS.DraftProject [ps.projects.checkout]; 403 10100 when another
  user holds it, 10101 when you already do.
- ``GET Projects({id})/Draft`` [ps.draft.get], ``Draft/IncludeCustomFields``; ``GET Draft/Tasks``,
  ``Draft/Tasks({tid})`` → PS.DraftTask [ps.draft.tasks.list|get].
- ``POST Draft/Tasks/Add`` {"parameters": TaskCreationInformation: Id?, Name, Start?, Finish?, Duration?,
  IsManual?, Notes?, ParentId?, AddAfterId?} → DraftTask [ps.draft.tasks.add] (an existing Id → 400).
- ``PATCH|MERGE Draft/Tasks({tid})`` (or POST + X-HTTP-Method) with DraftTask properties and
  ``Custom_x005f_<hex>`` values → 204 [ps.draft.tasks.update]. Writable: Name, Start, Finish, Duration,
  DurationMilliseconds, Work, WorkMilliseconds, ActualWork, ActualWorkMilliseconds, RemainingWork,
  RemainingDuration, PercentComplete, PercentPhysicalWorkComplete, IsManual, IsMilestone, IsActive, Notes,
  Priority, ConstraintType, ConstraintStartEnd, Deadline, TaskType. Read-only or unknown → 400.
  Auto-scheduled tasks (IsManual false): a written Start snaps to working time and gets a Start No Earlier
  Than constraint (ConstraintType 4), Finish = Start + Duration; manual tasks keep what is written.
  PercentComplete alone also sets ActualWork = Work * % (Project's default); ActualWork alone keeps %.
  Writes to roll-up fields of summary tasks are overwritten by the roll-up.
- ``POST Draft/Tasks({tid})/SetCustomFieldValue`` {"FieldName": "Custom_<hex>", "Value": …}
  [ps.draft.tasks.setcustomfieldvalue]: CSOM's method, NOT verified on real REST — prefer PATCH.
- ``DELETE Draft/Tasks({tid})`` or ``POST …/DeleteObject()`` [ps.draft.tasks.delete] (removes children).
- ``GET Draft/Assignments`` [ps.draft.assignments.list]; ``POST Draft/Assignments/Add`` {"parameters":
  {"ResourceId", "TaskId", "Id"?, "Notes"?}} → PS.DraftAssignment [ps.draft.assignments.add] (adds the
  resource to the team when missing); ``DELETE Draft/Assignments({aid})`` [ps.draft.assignments.delete].
- ``GET Draft/ProjectResources``; ``POST Draft/ProjectResources/AddEnterpriseResourceById('{rid}')`` →
  QueueJob [ps.draft.projectresources.add].
- ``POST Draft/UpdateCustomFields`` {"customFieldDictionary": [{"Key": "Custom_<hex>", "Value": "…" or
  "Entry_<hex>", "ValueType": "Edm.String"|"Edm.Boolean"|"Edm.Double"|"Edm.Int32"|"Edm.DateTime"}]}
  → QueueJob [ps.draft.updatecustomfields].
- ``POST Draft/update()`` [ps.draft.update], ``POST Draft/publish(true)`` / ``publish(checkIn=true)``
  [ps.draft.publish], ``POST Draft/checkIn(force=false)`` / ``checkIn(true)`` [ps.draft.checkin]: each →
  PS.QueueJob. Draft writes need the caller's check-out (else 10102 / 10100). Check-in without
  update()/publish drops unsaved changes; a forced check-in by an admin releases anyone's check-out.
- ``GET Projects({id})/QueueJobs``, ``QueueJobs({jid})`` [ps.queuejobs.list|get], ``POST
  QueueJobs({jid})/Cancel()`` [ps.queuejobs.cancel]. QueueJob {Id, JobState, MessageType,
  PercentComplete, WaitMilliseconds, WaitTime}. JobState: 1 ReadyForProcessing (waiting), 3 Processing,
  4 Success, 5 Failed (blocks the project's later jobs), 8 CorrelationBlocked, 9 Canceled. MessageType:
  21 ProjectCheckIn, 24 ProjectPublish, 28 ProjectUpdate (update/UpdateCustomFields), 29
  ProjectUpdateTeam. Jobs of one project run one after the other, each taking ``queue_delay`` seconds
  (emulator clock, evaluated on every request, so a frozen clock holds them until advanced). Effects apply
  on success: publish copies the draft to the published store, sets LastPublishedDate, checks in when
  asked and schedules the ProjectData refresh.
- ``GET CustomFields``, ``CustomFields({id})``, ``CustomFields({id})/LookupEntries``, ``…/LookupTable``,
  ``…/EntityType`` [ps.customfields.list|get|lookupentries|…]; ``POST CustomFields/Add`` {"parameters":
  CustomFieldCreationInformation: Id?, Name, FieldType (4 date, 6 duration, 9 cost, 15 number, 17 flag,
  21 text), EntityTypeId, LookupTableId?, IsRequired?, IsMultilineText?, Description?}
  [ps.customfields.add]. InternalName ``Custom_<32hex>``.
- ``GET LookupTables``, ``LookupTables({id})``, ``LookupTables({id})/Entries`` (PS.LookupText: Id,
  InternalName ``Entry_<32hex>``, Value, FullValue, SortIndex, Description) [ps.lookuptables.*]; ``POST
  LookupTables/Add`` {"parameters": {Id?, Name, SortOrder?, Masks?, Entries: [{Id?, Value: {"TextValue":
  "Bug"}, SortIndex?, Description?}]}} [ps.lookuptables.add].
- ``GET EntityTypes``, ``EntityTypes/ProjectEntity|TaskEntity|ResourceEntity|AssignmentEntity`` → {ID,
  Name} [ps.entitytypes.get]; ids are the module constants ``PROJECT_ENTITY_ID``, ``TASK_ENTITY_ID``, ….
- ``GET EnterpriseResources``, ``EnterpriseResources({id})`` (Email, Name, IsActive, IsGeneric, …)
  [ps.resources.list|get]; ``POST EnterpriseResources/Add`` [ps.resources.add].
- ``GET {base}/_api/web/currentuser`` → SP.User {Id, Title, Email, LoginName, IsSiteAdmin}
  [web.currentuser]; ``POST {base}/_api/contextinfo`` [contextinfo].
- Query options on collections: ``$select`` (incl. ``Custom_x005f_…``), ``$filter`` (eq ne gt ge lt le,
  and or not, parentheses, ``'text'``, ``guid'…'``, ``datetime'…'``, numbers, true/false/null,
  substringof/startswith/endswith/tolower/toupper), ``$orderby``, ``$top``, ``$skip``, ``$expand`` of
  navigation properties (CheckedOutBy, Resource, Task, Assignments, Parent, LookupTable, LookupEntries,
  EntityType, IncludeCustomFields). No server paging on ProjectServer unless ``ps_page_size`` is set.

ProjectData (``{base}/_api/ProjectData``, OData v3 reporting feed, read-only) [pd.projects|tasks|…]
-------------------------------------------------------------------------------------------------
``GET Projects``, ``Projects(guid'…')``, ``Projects(guid'…')/Tasks``, ``Tasks``, ``Assignments``,
``Resources`` with ``$filter`` (e.g. ``TaskModifiedDate gt datetime'2026-11-02T08:00:00' and ProjectId eq
guid'…'``), ``$select``, ``$orderby``, ``$top``, ``$skip``. Server paging: ``project_data_page_size``
(100) rows, then ``__next`` (verbose) / ``odata.nextLink`` (JSON light) with ``$skiptoken``. Verbose
dates are ``/Date(<ms of site-local time>)/``, JSON light ISO without offset; Edm.Decimal values
(work in hours, duration in days) are strings ("8.000000"). It shows what was last *published*, lagging
each publish by ``reporting_delay`` seconds; draft saves never appear. Rows:
Projects {ProjectId, ProjectName, ProjectType, ProjectCreatedDate, ProjectModifiedDate,
ProjectLastPublishedDate, ProjectStartDate, ProjectFinishDate, ProjectPercentCompleted, ProjectWork,
ProjectActualWork, ProjectDuration, ProjectOwnerName, EnterpriseProjectTypeName, + custom fields};
Tasks {ProjectId, TaskId, ProjectName, TaskName, TaskIndex (0 = project summary row), TaskOutlineLevel,
TaskOutlineNumber, ParentTaskId, ParentTaskName, TaskIsSummary, TaskIsProjectSummary, TaskIsMilestone,
TaskIsActive, TaskIsManuallyScheduled, TaskStartDate, TaskFinishDate, TaskDuration, TaskWork,
TaskActualWork, TaskRemainingWork, TaskPercentCompleted, TaskPercentWorkCompleted, TaskPriority,
TaskCreatedDate, TaskModifiedDate, + custom fields}; custom fields are named by display name with
non-alphanumerics removed ("Sync with VSTS" → ``SyncwithVSTS``), lookup values as their text.
TaskModifiedDate/ProjectModifiedDate are the times the change was saved (update/publish job), not the
time of the PATCH. Assignments {AssignmentId, ProjectId, TaskId, ResourceId, ResourceName, …};
Resources {ResourceId, ResourceName, ResourceEmailAddress, …}.

Throttling and faults
---------------------
Fault rules (`emulators.common.FaultRule`) turn matching calls into 429/503/… with ``Retry-After`` and
``RateLimit-Limit/Remaining/Reset`` headers; ``rate_limit_per_minute`` (off by default) throttles every
caller beyond N calls per rolling minute with 429. Queue jobs fail through ``fail_next_job``.

Counters
--------
``counters.calls("ps.draft.*")``; ``counters.writes(kind)`` with kinds ``checkout``, ``publish``,
``checkin``, ``update``, each also per project as ``"checkout:<projectId>"`` etc., ``task.create``,
``task.update``, ``task.delete``, ``assignment.create``, ``assignment.delete``,
``project.customfields``, ``customfield.create``, ``lookuptable.create``, ``job.failed``.
``emulator.checkouts(project)`` / ``emulator.publishes(project)`` read the per-project ones.

Python API
----------
::

    with PwaEmulator("online", time_zone="Europe/Berlin", queue_delay=0.05, reporting_delay=0.2) as pwa:
        headers = pwa.auth_header()                       # {"Authorization": "Bearer …"}
        types = pwa.seed_lookup_table("Work Item Types", ["Bug", "Task", "User Story"])
        flag = pwa.seed_custom_field("Sync with VSTS", "flag", entity="task")
        wit = pwa.seed_custom_field("Work Item Type", "text", entity="task", lookup_table=types)
        pwa.seed_custom_field("VSTS Project", "text", entity="project")
        ann = pwa.seed_resource("Ann Chen", "ann.chen@contoso.com")
        project = pwa.seed_project("Apollo", custom_fields={"VSTS Project": "Fabrikam"})
        phase = pwa.seed_task(project, "Phase 1")
        task = pwa.seed_task(project, "Build", parent=phase, duration="3d", work="24h",
                             custom_fields={"Sync with VSTS": True, "Work Item Type": "Bug"},
                             assignments=["ann.chen@contoso.com"])
        pwa.edit_task(project, task, {"PercentComplete": 50}, by="ann.chen@contoso.com")  # + publish
        pwa.set_checkout(project, "ann.chen@contoso.com")   # someone else has it open → 10100
        pwa.release_checkout(project)
        pwa.fail_next_job(project)                        # next queue job of the project fails (blocks)
        pwa.checkouts(project), pwa.publishes(project)     # per-project counts
        pwa.published_task(project, task)                 # PublishedTask JSON (nometadata)
        pwa.clock.advance(5); pwa.faults.add(endpoint="ps.draft.publish", status=503, retry_after=1)

Constructor: ``PwaEmulator(flavor="online"|"server", *, site=None, host, port=0, username=None,
password, access_token=None, refresh_token=None, tenant="contoso", client_id, time_zone="UTC",
queue_delay=0.2, reporting_delay=1.0, project_data_page_size=100, digest_required_with_bearer=True,
token_lifetime=3599, rate_limit_per_minute=None, latency_ms=0, ntlm=True)``. Also: ``start()`` → base
URL, ``stop()``, ``base_url``, ``root_url``, ``control_url``, ``token_url``, ``service_user``,
``credentials()``, ``auth_header(user=None)``, ``add_user(email, display_name, password=…, admin=…,
can_write=…, can_report=…)``, ``edit_project(project, {task_id: fields}, custom_fields=…, by=…)``,
``configure(**Config fields)``, ``run_queue()``, ``queue_idle()``, ``project(ref)``, ``draft_task(…)``,
``describe()``, ``reset()``, ``apply_seed(Seed)``; ``state``, ``clock``, ``faults``, ``counters``.

Seeding, person edits and ``set_checkout`` bypass the queue; seeded data is visible in ProjectData at
once, person edits after ``reporting_delay``. ``seed_project(name)`` raises ValueError when the name exists.
Objects returned by ``seed_*`` have ``.id`` (GUID string) and ``.name``; ``custom_fields`` take display
names and Python values (lookup fields take the entry text).

Control API (no auth) at ``{root_url}/_emulator`` and ``{base_url}/_emulator``
------------------------------------------------------------------------------
- shared: ``GET /health``, ``GET /counters``, ``POST /reset-counters``, ``GET|POST|DELETE /faults``,
  ``POST /latency`` {"ms"}, ``GET|POST /clock`` {"advanceSeconds"|"freeze"|"unfreeze"}.
- ``POST /seed`` {"users": [{email, displayName, password?, admin?, canWrite?, canReport?}], "resources":
  [{name, email}], "lookupTables": [{name, entries: [...]}], "customFields": [{name, type, entity,
  lookupTable?}], "projects": [{name, customFields?, master?, subprojects?, tasks: [{name, parent?
  (name), start?, finish?, duration?, work?, actualWork?, percentComplete?, isManual?, notes?,
  customFields?, assignments?: [email]}]}]} → created ids.
- ``GET /state`` → config, users, projects (id, name, checkedOutBy, lastPublished, tasks), custom fields,
  lookup tables, resources, queue jobs. ``POST /config`` {queueDelay, reportingDelay,
  projectDataPageSize, psPageSize, digestRequiredWithBearer, rateLimitPerMinute, maxRequestBytes,
  tokenLifetime}.
- ``POST /projects/{id}/edit`` {"tasks": {"<taskId>": {REST property or custom field display name:
  value}}, "customFields": {display name: value}, "by": email, "publish": true} (a person in PWA).
- ``POST /projects/{id}/checkout`` {"user": email} / ``DELETE /projects/{id}/checkout``.
- ``GET /queue``; ``POST /queue/fail-next`` {"projectId"?, "messageType"?, "times"?};
  ``POST /queue/{jobId}/cancel``; ``POST /queue/{jobId}/retry``.
- ``POST /tokens/revoke`` {"refreshToken"|"accessToken"}.
- ``POST /reset`` → empty site (keeps users and credentials).

Run standalone: ``python -m emulators.pwa --flavor online --port 8082`` (prints one JSON line).
"""

from emulators.pwa.emulator import (
    ASSIGNMENT_ENTITY_ID,
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_PASSWORD,
    DEFAULT_REFRESH_TOKEN,
    PROJECT_ENTITY_ID,
    RESOURCE_ENTITY_ID,
    TASK_ENTITY_ID,
    PwaEmulator,
)

__all__ = [
    "ASSIGNMENT_ENTITY_ID",
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_PASSWORD",
    "DEFAULT_REFRESH_TOKEN",
    "PROJECT_ENTITY_ID",
    "RESOURCE_ENTITY_ID",
    "TASK_ENTITY_ID",
    "PwaEmulator",
]
