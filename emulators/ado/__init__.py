"""Azure DevOps emulator: one Services organization or Server collection over real HTTP, speaking the
7.1 REST wire format (work items, WIQL, reporting revisions, fields, types, projects, service hooks; on
Services also user and group entitlements, graph views and asynchronous project operations).

Base URL: ``http://127.0.0.1:PORT/contoso`` (Services) or ``http://127.0.0.1:PORT/tfs/DefaultCollection``
(Server). Auth: ``Authorization: Basic base64(":" + PAT)`` (any user name) or, Services only, ``Bearer
<token>`` when one is configured. Every REST call needs ``api-version`` (query string or Accept header).

Endpoint names (used by counters and fault rules; fnmatch patterns such as ``wit.workitems.*`` work):
``core.connectionData``, ``core.projects.list|get``, ``wit.fields.list|get|create``,
``wit.workitemtypes.list|get|states``, ``wit.workitems.create|get|list|update|delete``,
``wit.workitemsbatch``, ``wit.updates.list|get``, ``wit.revisions.list|get``,
``wit.recyclebin.list|get|restore|destroy``, ``wit.wiql``, ``wit.reporting.revisions``, ``wit.batch``
(``POST _apis/wit/$batch``), ``wit.classificationnodes.list|get``,
``hooks.subscriptions.list|create|get|replace|delete``, ``hooks.notifications.list``,
``work.processes.list|get``, ``work.processes.workitemtypes.list|get|create``,
``work.processes.fields.list|add`` (inherited processes: ``_apis/work/processes``; system processes refuse
changes with VS402356; a field created over ``POST _apis/wit/fields`` is valid only on the types of an
inherited process it was added to, while fields seeded through ``/_emulator/seed`` are valid everywhere),
``core.projects.create|update|delete`` (202 + an operation), ``operations.get`` (an operation completes on
its second poll; ``emulator.operations.polls_before_done`` changes that),
``mem.userentitlements.search|add|get|update|delete``, ``mem.groupentitlements.list|add|get|update|delete``,
``mem.groupentitlements.members.list|add|remove``, ``graph.users.list|get``, ``graph.groups.list|get``,
``graph.memberships.list``, ``graph.storagekeys.get``, ``graph.descriptors.get`` (Services only; the
entitlement state is ``emulator.directory``).

Release pipelines (``emulators.ado.routes_pipelines``, ``routes_release``): ``release.definitions.list|get|
create|update``, ``release.revisions.list|get`` (served on `AdoEmulator.release_url`: a second port standing
for ``vsrm.dev.azure.com/{org}`` on Services, the collection on Server; ``location.resourceAreas.get`` says
where), ``distributedtask.pools.*``, ``distributedtask.queues.*``, ``distributedtask.taskgroups.*``,
``distributedtask.variablegroups.*``, ``distributedtask.tasks.*``, ``serviceendpoint.endpoints.*``,
``extensionmanagement.installedextensions.list``, ``contribution.hierarchyQuery`` (the pipelines settings).
Control: ``POST /pipelines/sample``, ``GET|POST /pipelines/settings``, ``POST /pipelines/tasks``,
``POST /pipelines/extensions`` (see `emulators.ado.pipelines_seed`).

Control API (no auth), rooted at ``http://127.0.0.1:PORT/_emulator`` and also at ``{base URL}/_emulator``:

- ``GET /health`` → ``{"ok": true}``
- ``GET /counters`` → ``{"calls": {endpoint: n}, "writes": {kind: n}, "totalCalls", "totalWrites"}``; write
  kinds are ``create``, ``update``, ``update_noop`` (a PATCH that changed nothing), ``delete``, ``restore``,
  ``destroy``. ``POST /reset-counters`` zeroes them.
- ``GET /faults`` lists the rules; ``POST /faults`` adds one rule or a list of them, e.g.
  ``{"endpoint": "wit.wiql", "method": "POST", "times": 2, "status": 429, "retryAfter": 1}`` (fields of
  `emulators.common.FaultRule`, camelCase or snake_case: ``latencyMs``, ``message``, ``headers``;
  ``"status": null`` passes the call through but adds the Retry-After/X-RateLimit-* headers; ``"times": null``
  keeps the rule until cleared; ``"probability": 0.1`` faults about that share of the matching calls, the
  others go on to the next rule); ``DELETE /faults`` clears rules and latency.
- ``POST /latency`` ``{"ms": 20}`` delays every call.
- ``GET|POST /clock`` ``{"advanceSeconds": 90}``, ``{"freeze": "2026-01-01T00:00:00Z"}``, ``{"freeze": true}``
  or ``{"unfreeze": true}`` → ``{"now": …}``.
- ``POST /seed`` ``{"users": [{displayName, uniqueName, email?, pat?}], "fields": [{referenceName, name?,
  type?}], "processes": [{name, parent?}] (inherited, parent Agile by default), "projects": [{name,
  process? (a system or seeded inherited process), description?, areas?, iterations?}], "workItems":
  [{project, type, fields, parent?, by?, notify?}]}`` → the created ids.
- ``GET /state`` → flavor, config, projects, users, item counts, subscriptions.
- ``POST /config`` ``{"maxApiVersion": "6.0", "previewApiVersion", "wiqlMaxResults", "batchLimit"}``.
- ``POST /work-items/{id}`` ``{"fields": {...}, "by": "ann.chen@contoso.com", "notify": true}``: a person
  edits an item (rules bypassed; hooks fire when notify).
- ``GET /hooks/deliveries`` → every notification with its attempts and payload; ``POST /hooks/pause``,
  ``/hooks/resume``, ``/hooks/flush`` (scheduled retries due now), ``/hooks/wait-idle`` ``{"timeout": 5}``,
  ``/hooks/chaos`` ``{"duplicateRate": 0.5, "maxCopies": 3, "jitterMs": 500, "seed": 1}`` (events delivered
  2..maxCopies times with that chance, each delivery delayed by a random jitter: out of order; ``{}`` = off).
- ``POST /reset`` → an empty organization: no projects, items, subscriptions, faults or counts.
"""

from emulators.ado.emulator import DEFAULT_COLLECTION, DEFAULT_ORG, DEFAULT_PAT, AdoEmulator
from emulators.ado.hooks import HookPolicy
from emulators.ado.identities import User, make_user
from emulators.common import FaultRule

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_ORG",
    "DEFAULT_PAT",
    "AdoEmulator",
    "FaultRule",
    "HookPolicy",
    "User",
    "make_user",
]
