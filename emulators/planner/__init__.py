"""Microsoft Planner emulator: the Planner slice of Graph v1.0 (basic plans) and a minimal Entra token
endpoint, over real HTTP, faithful to the wire format in ``specs/graph/planner-openapi.yaml``.

Base URL ``http://127.0.0.1:PORT/v1.0``; token endpoint ``http://127.0.0.1:PORT/{tenant}/oauth2/v2.0/token``.

Authentication
--------------
Every Graph call needs ``Authorization: Bearer <token>`` (401 ``InvalidAuthenticationToken`` otherwise).
Accepted: the static ``access_token`` (never expires) and tokens from the token endpoint:
``grant_type=refresh_token`` (delegated; the refresh token is single use and a new one comes back, as
Entra rotates them) and ``grant_type=client_credentials`` (app-only; ``client_secret`` must match and
``scope`` end with ``/.default``). With the defaults one secret (``client_secret``) is also the static
bearer token and the first refresh token. Issued tokens expire after ``token_lifetime`` seconds of the
emulator clock.

Graph routes (endpoint names in brackets, for counters and fault rules)
----------------------------------------------------------------------
- ``GET /groups/{gid}/planner/plans`` [planner.groups.plans.list]; ``POST /planner/plans`` {title,
  container: {containerId}} → 201 [planner.plans.create]; ``GET /planner/plans/{id}`` [planner.plans.get].
- ``GET|PATCH /planner/plans/{id}/details`` (categoryDescriptions category1-25, sharedWith)
  [planner.plans.details.get|update].
- ``GET /planner/plans/{id}/buckets`` [planner.plans.buckets.list]; ``POST /planner/buckets`` {name,
  planId, orderHint?} [planner.buckets.create]; ``GET /planner/buckets/{id}``, ``…/tasks``.
- ``GET /planner/plans/{id}/tasks`` [planner.plans.tasks.list]: server-driven paging (``page_size``,
  default 400; ``$top`` ignored) with ``@odata.nextLink`` carrying ``$skiptoken`` (and ``$select``).
- ``POST /planner/tasks`` → 201 [planner.tasks.create]; ``GET|PATCH|DELETE /planner/tasks/{id}``
  [planner.tasks.get|update|delete]; ``GET|PATCH /planner/tasks/{id}/details``
  [planner.tasks.details.get|update].
- ``GET /users/{id or UPN}`` [users.get]; ``GET /users?$filter=mail eq '…'`` (or userPrincipalName, id,
  displayName) [users.list]. ``$select`` works on every GET.

Rules (as Graph applies them)
-----------------------------
- Every object has a weak ``@odata.etag``; task and task details have separate ETags. PATCH and DELETE
  need ``If-Match`` with the current ETag: missing or stale → 412 ``PreconditionFailed``. A details update
  that races a task update answers 409 ``Conflict`` (``conflict_next_details``). Changing details that the
  task summarises (hasDescription, checklist and reference counts) gives the task a new ETag too; changing
  only the description text does not.
- PATCH answers 204, or 200 with the object when ``Prefer: return=representation`` is sent; POST 201.
- Read-only or unknown properties → 400. ``assignments`` are keyed by user id with ``{"@odata.type":
  "#microsoft.graph.plannerAssignment", "orderHint": " !"}`` (null unassigns; at most 20);
  ``appliedCategories`` ``{"category3": true, "category4": false}``; ``percentComplete`` 0-100 (100 sets
  completedDateTime/completedBy); ``priority`` 0-10; start after due → 400; order hints must end with
  ``!`` and never echo a returned hint. Date-times are stored and returned in UTC with ``Z``.
- Details: ``description``, ``previewType``, ``checklist`` {guid: {@odata.type plannerChecklistItem,
  title, isChecked}}, ``references`` {encoded url: {@odata.type plannerExternalReference, alias, type}}
  (null deletes; at most 20 checklist items and 10 references).
- Errors: ``{"error": {"code", "message", "innerError": {date, request-id, client-request-id}}}``.

Faults, counters, control API (no auth) at ``/_emulator``
---------------------------------------------------------
Shared routes (``/health``, ``/counters``, ``/reset-counters``, ``/faults``, ``/latency``, ``/clock``);
``POST /seed`` {"users": [{displayName, mail?, userPrincipalName?}], "plans": [{title, group?, buckets?,
categoryDescriptions?, tasks: [{title, bucket?, percentComplete?, startDateTime?, dueDateTime?, priority?,
appliedCategories?: [category…], assignees?: [e-mail], description?}], generatedTasks?}]};
``GET /state``; ``POST /config`` {pageSize?, tokenLifetime?, rateLimitPerMinute?};
``POST /tasks/{id}/edit`` {task?, details?} (a person's edit); ``POST /tasks/{id}/conflict-next-details``
{times?}; ``POST /tokens/revoke``
{refreshToken?|accessToken?}; ``POST /reset``. Fault rules turn calls into 429/503 with ``Retry-After``;
``rate_limit_per_minute`` (off by default) answers 429 with ``Retry-After`` to a caller beyond N Graph
calls in a rolling minute of the emulator clock.
Counters: calls per endpoint name; writes ``task.create|update|delete``, ``details.update``,
``plan.create``, ``bucket.create``, ``plandetails.update``.

Run standalone: ``python -m emulators.planner --port 8083`` (prints one JSON line).
"""

from emulators.planner.emulator import DEFAULT_CLIENT_ID, DEFAULT_SECRET, DEFAULT_TENANT, PlannerEmulator

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_SECRET", "DEFAULT_TENANT", "PlannerEmulator"]
