"""`PlannerConnector`: Planner tasks (with their details folded in) behind the connector contract.

Graph v1.0 has no change feed for Planner (no delta, no notifications), so the entity declares
`change_feed=False` and `list_versions` lists (id, ETag) per plan; the engine compares them with its links.
`changes()` delegates to that listing (every task, every time) for engines that do not list versions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.contract import (
    Change,
    ChangePage,
    CheckReport,
    Container,
    EntitySpec,
    Item,
    Scope,
    Watermark,
    Write,
    WriteResult,
)
from connectors.errors import AuthError, ConnectorError, NotFoundError, PermanentError, VersionConflict
from connectors.http import CallStats, HttpClient, RetryPolicy, safe_url
from connectors.planner import tasks as values
from connectors.planner.client import GraphClient
from connectors.planner.config import PlannerOptions
from connectors.planner.users import UserDirectory

log = logging.getLogger("tandem.connectors.planner")

_LIST_SELECT = "id,planId,createdDateTime"
_REMEMBERED_READS = 10_000
_SCAN_SELECT = "id,referenceCount,createdDateTime"


class PlannerConnector:
    """Planner tasks of basic plans (entity `task`, one write session per task)."""

    def __init__(
        self,
        system: str,
        base_url: str,
        options: PlannerOptions | None = None,
        *,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`base_url` is Graph's versioned root: `https://graph.microsoft.com/v1.0`."""
        self.system = system
        self.options = options or PlannerOptions()
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(
                f"{system}: the Graph URL must be http(s)://host/v1.0, got {safe_url(base_url)!r}"
            )
        if url.userinfo:
            raise ValueError(f"{system}: put credentials in the secret store, not in the Graph URL")
        self.http = HttpClient(
            system=system,
            auth=auth,
            timeout=self.options.timeout_seconds,
            retry=retry,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )
        self.client = GraphClient(base_url, self.http)
        self.users = UserDirectory(
            self.client,
            ttl=self.options.user_cache_seconds,
            miss_ttl=self.options.user_miss_seconds,
            clock=clock,
        )
        self._lock = threading.Lock()
        self._plans_seen: dict[str, None] = dict.fromkeys(self.options.plans)
        self._created: dict[str, str] = {}  # correlation id → task id, for this process's creates
        # Task id → (task ETag, details ETag) of this process's last read: the engine's expected version
        # names the task's ETag only, and a person's edit of the description does not change it.
        self._read_versions: dict[str, tuple[str, str]] = {}
        self._titles: dict[str, str | None] = {}  # plan id → title
        self._buckets: dict[str, dict[str, str]] = {}  # plan id → bucket id → name

    def __repr__(self) -> str:
        return f"PlannerConnector(system={self.system!r}, base_url={safe_url(self.client.base_url)!r})"

    @property
    def stats(self) -> CallStats:
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PlannerConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _entity(self, entity: str) -> None:
        if entity != values.ENTITY:
            raise PermanentError(
                f"unknown entity {entity!r}; the Planner connector offers {values.ENTITY!r}",
                system=self.system,
            )

    def entities(self) -> list[EntitySpec]:
        return [
            EntitySpec(
                name=values.ENTITY, session_unit="item", fields=values.STANDARD_FIELDS, change_feed=False
            )
        ]

    def check(self) -> CheckReport:
        """Token, each configured plan, and the directory read that maps people to e-mail."""
        problems: list[str] = []
        details: dict[str, Any] = {"base_url": safe_url(self.client.base_url), "plans": {}}
        try:
            for plan_id in self.options.plans:
                details["plans"][plan_id] = self.plan(plan_id).get("title")
            self.client.get("users", {"$top": "1", "$select": "id"})
        except AuthError as exc:
            problems.append(
                f"{exc}. Delegated: sign in again and store a new refresh token; app-only: grant the app "
                "Tasks.ReadWrite.All and User.Read.All with admin consent"
            )
        except ConnectorError as exc:
            problems.append(str(exc))
        details["calls"] = self.stats.total_calls
        return CheckReport(ok=not problems, problems=problems, details=details)

    # --- plans and buckets --------------------------------------------------------------------------

    def plan(self, plan_id: str) -> dict[str, Any]:
        try:
            return self.client.get(self.client.plan(plan_id))
        except NotFoundError:
            raise NotFoundError(
                f"Planner plan {plan_id} does not exist or the sync identity cannot see it (basic plans "
                "only; premium plans live in Dataverse)",
                system=self.system,
            ) from None

    def plans_of_group(self, group_id: str) -> list[dict[str, Any]]:
        return [p for page in self.client.pages(f"groups/{group_id}/planner/plans") for p in page]

    def buckets(self, plan_id: str) -> dict[str, str]:
        """Bucket name → id."""
        path = f"{self.client.plan(plan_id)}/buckets"
        return {str(b["name"]): str(b["id"]) for page in self.client.pages(path) for b in page}

    def category_names(self, plan_id: str) -> dict[str, str | None]:
        body = self.client.get(f"{self.client.plan(plan_id)}/details")
        return dict(body.get("categoryDescriptions") or {})

    def name_categories(self, plan_id: str, names: dict[str, str | None]) -> dict[str, str | None]:
        """Name labels (e.g. the progress markers) with the plan details' current ETag."""
        path = f"{self.client.plan(plan_id)}/details"
        current = self.client.get(path)
        updated = self.client.patch(path, {"categoryDescriptions": names}, str(current["@odata.etag"]))
        return dict(updated.get("categoryDescriptions") or {})

    def find_container(self, name: str) -> str | None:
        """The plan a project field names, by id or by title (any case) among the connection's plans and
        its groups' plans; None when none matches (the engine reports it, never guesses)."""
        wanted = name.strip()
        known = [{"id": p} for p in self.options.plans]
        known += self._group_plans() if self.options.groups or self.options.plans else self._my_plans()
        with self._lock:
            known += [{"id": p} for p in self._plans_seen]
        found = next((str(p["id"]) for p in known if p["id"] == wanted), None)
        if found is None and "/" not in wanted and " " not in wanted:
            try:
                found = str(self.plan(wanted)["id"])
            except NotFoundError:  # auth and outages are raised: "no such plan" would be a false failure
                found = None
        if found is None:
            for plan in known:
                title = plan.get("title")
                if title is None:
                    title = self._plan_title(str(plan["id"]))
                if str(title or "").strip().lower() == wanted.lower():
                    found = str(plan["id"])
                    break
        if found is not None:
            with self._lock:
                self._plans_seen[found] = None  # listed from now on when no plan is configured
        return found

    def list_containers(self) -> list[Container]:
        """The connection's plans (options.plans), its groups' plans, else the plans shared with the
        signed-in user; a scenario pairs plans by id."""
        plans: dict[str, str] = {}
        for plan_id in self.options.plans:
            plans[plan_id] = str(self.plan(plan_id).get("title") or plan_id)
        found = self._group_plans() if self.options.groups or self.options.plans else self._my_plans()
        for plan in found:
            plans.setdefault(str(plan["id"]), str(plan.get("title") or plan["id"]))
        return sorted((Container(id=k, name=v) for k, v in plans.items()), key=lambda c: c.name.lower())

    def _plan_title(self, plan_id: str) -> str | None:
        with self._lock:
            if plan_id in self._titles:
                return self._titles[plan_id]
        try:
            title = self.plan(plan_id).get("title")
        except NotFoundError:
            title = None
        with self._lock:
            self._titles[plan_id] = title
        return title

    def _bucket_names(self, plan_id: str, refresh: bool = False) -> dict[str, str]:
        """Bucket id → name for one plan, cached (a person may add one: unknown names refresh it)."""
        with self._lock:
            cached = self._buckets.get(plan_id)
        if cached is None or refresh:
            cached = {v: k for k, v in self.buckets(plan_id).items()}
            with self._lock:
                self._buckets[plan_id] = cached
        return cached

    def _bucket_id(self, plan_id: str, name: Any, warnings: list[str]) -> str | None:
        if name is None or not str(name).strip():
            return None
        wanted = str(name).strip().lower()
        for refresh in (False, True):
            for bucket_id, bucket in self._bucket_names(plan_id, refresh).items():
                if bucket.strip().lower() == wanted:
                    return bucket_id
        warnings.append(f"plan {plan_id} has no bucket named '{name}': the task stays in its bucket")
        return None

    # --- change detection ---------------------------------------------------------------------------

    def _my_plans(self) -> list[dict[str, Any]]:
        """The plans shared with the signed-in user (delegated auth); app-only needs options.groups."""
        try:
            return [p for page in self.client.pages("me/planner/plans") for p in page]
        except PermanentError as exc:
            raise PermanentError(
                f"cannot list the plans shared with the sync identity ({exc}): with app-only auth set the "
                "connection's options.groups (or options.plans, or the scenario's containers)",
                system=self.system,
            ) from None

    def _group_plans(self) -> list[dict[str, Any]]:
        return [p for group in self.options.groups for p in self.plans_of_group(group)]

    def _plans(self, scope: Scope) -> list[str]:
        plans = list(scope.containers) or list(self.options.plans)
        if not plans:  # the groups' plans and those a project field named (`find_container`, creates)
            with self._lock:
                seen = list(self._plans_seen)
            found = self._group_plans() if self.options.groups else self._my_plans()
            plans = list(dict.fromkeys([str(p["id"]) for p in found] + seen))
        with self._lock:
            self._plans_seen.update(dict.fromkeys(plans))
        return plans

    def list_versions(self, entity: str, scope: Scope) -> Iterator[list[Change]]:
        """(id, ETag) of every task of the scope's plans, one page per Graph page; no field values.

        `scope.start` drops tasks created before it (Planner v1.0 has no modification time).
        """
        self._entity(entity)
        start = scope.start.replace(tzinfo=scope.start.tzinfo or UTC) if scope.start else None
        for plan_id in self._plans(scope):
            for page in self.client.pages(f"{self.client.plan(plan_id)}/tasks", {"$select": _LIST_SELECT}):
                changes = []
                for task in page:
                    created = values.parse_time(task.get("createdDateTime"))
                    if start is not None and created is not None and created < start:
                        continue
                    changes.append(
                        Change(
                            id=str(task["id"]),
                            version=str(task["@odata.etag"]),
                            container=str(task.get("planId") or plan_id),
                            changed_at=None,
                        )
                    )
                yield changes

    def changes(self, entity: str, since: Watermark, scope: Scope) -> Iterator[ChangePage]:
        """The whole listing as change pages: Planner cannot say what changed since a watermark.

        An engine that honours `change_feed=False` calls `list_versions` and skips unchanged versions;
        through this method every task comes back on every poll (correct, but each is then read).
        """
        now = datetime.now(UTC)
        yielded = False
        for page in self.list_versions(entity, scope):
            yielded = True
            yield ChangePage(changes=page, next_watermark=Watermark(at=now))
        if not yielded:
            yield ChangePage(changes=[], next_watermark=Watermark(at=now))

    # --- read ---------------------------------------------------------------------------------------

    def read(self, entity: str, ids: Sequence[str]) -> list[Item]:
        """Tasks with their details; ids that do not exist (deleted) are left out."""
        self._entity(entity)
        items: list[Item] = []
        for task_id in dict.fromkeys(ids):
            try:
                task = self.client.get(self.client.task(task_id))
                details = self.client.get(self.client.details(task_id))
            except NotFoundError:
                continue
            items.append(self._item(task, details))
        return items

    def _item(self, task: dict[str, Any], details: dict[str, Any] | None) -> Item:
        if details is not None:
            with self._lock:
                if len(self._read_versions) >= _REMEMBERED_READS:
                    self._read_versions.pop(next(iter(self._read_versions)))
                self._read_versions[str(task["id"])] = (str(task["@odata.etag"]), str(details["@odata.etag"]))
        emails = []
        for user_id in task.get("assignments") or {}:
            email = self.users.email_of(user_id)
            emails.append(email or user_id)  # someone outside the directory stays visible by id
        correlation = values.correlation_from((details or {}).get("references"), self.options.correlation_url)
        fields = values.fields_of(task, details, emails)
        plan_id = str(task.get("planId") or "")
        if plan_id:
            fields[values.PLAN_TITLE] = self._plan_title(plan_id)
            bucket_id = task.get("bucketId")
            names = self._bucket_names(plan_id) if bucket_id else {}
            if bucket_id and bucket_id not in names:
                names = self._bucket_names(plan_id, refresh=True)
            fields[values.BUCKET] = names.get(str(bucket_id)) if bucket_id else None
        return Item(
            id=str(task["id"]),
            version=str(task["@odata.etag"]),
            container=task.get("planId"),
            type=values.ENTITY,
            created_at=values.parse_time(task.get("createdDateTime")),
            correlation_id=correlation,
            fields=fields,
        )

    # --- write --------------------------------------------------------------------------------------

    def write(self, entity: str, writes: Sequence[Write]) -> list[WriteResult]:
        """Each write on its own (task and details have separate ETags); never raises for an item."""
        self._entity(entity)
        results = []
        for w in writes:
            warnings: list[str] = []
            try:
                item = self._create(w, warnings) if w.is_create else self._update(w, warnings)
                results.append(WriteResult(item=item, warnings=warnings))
            except ConnectorError as exc:
                results.append(WriteResult(error=exc, warnings=warnings))
            except ValueError as exc:
                results.append(
                    WriteResult(error=PermanentError(str(exc), system=self.system), warnings=warnings)
                )
        return results

    def _split(self, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        unknown = [k for k in fields if k not in values.KNOWN]
        if unknown:
            raise ValueError(f"Planner tasks have no field(s) {unknown}; known: {sorted(values.KNOWN)}")
        read_only = [k for k in fields if k in values.READ_ONLY]
        if read_only:
            raise ValueError(f"{read_only} are read-only in Planner")
        task = {k: v for k, v in fields.items() if not k.startswith(values.DETAILS_PREFIX)}
        details = {k: v for k, v in fields.items() if k.startswith(values.DETAILS_PREFIX)}
        return task, details

    def _task_body(
        self, current: dict[str, Any], fields: dict[str, Any], warnings: list[str]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, value in fields.items():
            if name == values.BUCKET:
                plan_id = str(current.get("planId") or fields.get("planId") or "")
                bucket_id = self._bucket_id(plan_id, value, warnings) if plan_id else None
                if bucket_id and bucket_id != current.get("bucketId") and "bucketId" not in fields:
                    body["bucketId"] = bucket_id
            elif name in ("startDateTime", "dueDateTime"):
                new = values.utc(value, name)
                if new != current.get(name):
                    body[name] = new
            elif name == "appliedCategories":
                patch = values.categories_patch(current.get("appliedCategories"), value)
                if patch:
                    body[name] = patch
            elif name == "assignments":
                patch = self._assignments_patch(current.get("assignments") or {}, value, warnings)
                if patch:
                    body[name] = patch
            elif name in ("percentComplete", "priority"):
                new = None if value is None else round(float(value))
                if new is not None and new != current.get(name):
                    body[name] = new
            elif value != current.get(name):
                body[name] = value
        return body

    def _assignments_patch(self, current: dict[str, Any], emails: Any, warnings: list[str]) -> dict[str, Any]:
        wanted: dict[str, None] = {}
        for email in emails or []:
            user_id = self.users.id_of(str(email))
            if user_id is None:
                warnings.append(
                    f"no Entra user has the e-mail {email}: the task was synced without that assignee"
                )
                continue
            wanted[user_id] = None
        patch: dict[str, Any] = {
            uid: {"@odata.type": values.ASSIGNMENT_TYPE, "orderHint": " !"}
            for uid in wanted
            if uid not in current
        }
        patch.update({uid: None for uid in current if uid not in wanted})
        return patch

    def _details_body(self, current: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if values.DESCRIPTION in fields:
            text = fields[values.DESCRIPTION] or ""
            if text != (current.get("description") or ""):
                body["description"] = text
        if values.CHECKLIST in fields:
            patch = values.checklist_patch(current.get("checklist"), fields[values.CHECKLIST])
            if patch:
                body["checklist"] = patch
        return body

    def _stamp(self, details: dict[str, Any], correlation_id: str | None) -> dict[str, Any]:
        """The correlation reference, when the task should carry one and does not yet."""
        url = self.options.correlation_url
        if not correlation_id or values.correlation_from(details.get("references"), url) == correlation_id:
            return {}
        return {
            "references": {
                values.reference_key(url + correlation_id): {
                    "@odata.type": values.REFERENCE_TYPE,
                    "alias": self.options.correlation_alias,
                    "type": "Other",
                }
            }
        }

    def _create(self, w: Write, warnings: list[str]) -> Item:
        if w.correlation_id and w.correlation_id in self._created:
            # Created by this process already (the link was not stored): update it instead of a second one.
            return self._update(w.model_copy(update={"id": self._created[w.correlation_id]}), warnings)
        if not w.container:
            raise PermanentError("a Planner task create needs container: the plan id", system=self.system)
        task_fields, details_fields = self._split(w.fields)
        if not task_fields.get("title"):
            raise PermanentError("a Planner task needs a title", system=self.system)
        with self._lock:
            self._plans_seen[w.container] = None
        body = {"planId": w.container, **self._task_body({"planId": w.container}, task_fields, warnings)}
        task = self.client.post("planner/tasks", body)
        task_id = str(task["id"])
        if w.correlation_id:
            self._created[w.correlation_id] = task_id
        details = self.client.get(self.client.details(task_id))
        patch = self._details_body(details, details_fields)
        patch.update(self._stamp(details, w.correlation_id))
        if patch:
            details = self.client.patch(self.client.details(task_id), patch, str(details["@odata.etag"]))
            # Details that the task summarises (references, description) give the task a new ETag.
            task = self.client.get(self.client.task(task_id))
        return self._item(task, details)

    def _update(self, w: Write, warnings: list[str]) -> Item:
        assert w.id is not None
        task_fields, details_fields = self._split(w.fields)
        task = self.client.get(self.client.task(w.id))
        if w.expected_version and task["@odata.etag"] != w.expected_version:
            raise VersionConflict(
                f"Planner task {w.id} changed since it was read (ETag {task['@odata.etag']}, "
                f"expected {w.expected_version})",
                system=self.system,
                status=412,
            )
        details = self.client.get(self.client.details(w.id))
        with self._lock:
            seen = self._read_versions.get(w.id)
        read_with_task = bool(seen and w.expected_version and seen[0] == w.expected_version)
        if details_fields and read_with_task and seen and details["@odata.etag"] != seen[1]:
            raise VersionConflict(
                f"the details of Planner task {w.id} changed since they were read",
                system=self.system,
                status=412,
            )
        body = self._task_body(task, task_fields, warnings)
        if body:
            task = self.client.patch(self.client.task(w.id), body, str(task["@odata.etag"]))
        patch = self._details_body(details, details_fields)
        # A create whose stamp was not written (its details update failed) gets it on the retry.
        patch.update(self._stamp(details, w.correlation_id))
        if patch:
            details = self.client.patch(self.client.details(w.id), patch, str(details["@odata.etag"]))
            if set(patch) & {"description", "checklist", "references"}:
                task = self.client.get(self.client.task(w.id))
        return self._item(task, details)

    def delete(self, task_id: str, expected_version: str | None = None) -> None:
        """Delete with `If-Match`: the given version, else the current one."""
        etag = expected_version or str(self.client.get(self.client.task(task_id))["@odata.etag"])
        self.client.delete(self.client.task(task_id), etag)

    # --- correlation --------------------------------------------------------------------------------

    def find_by_correlation(self, entity: str, correlation_id: str) -> Item | None:
        """The task this hub created with `correlation_id`: this process's creates, else the plans this
        connection knows, newest first, reading the details only of tasks that carry references."""
        self._entity(entity)
        known = self._created.get(correlation_id)
        if known:
            found = self.read(entity, [known])
            if found:
                return found[0]
        with self._lock:
            plans = list(self._plans_seen)
        for plan_id in plans:
            candidates = [
                t
                for page in self.client.pages(f"{self.client.plan(plan_id)}/tasks", {"$select": _SCAN_SELECT})
                for t in page
                if t.get("referenceCount")
            ]
            candidates.sort(key=lambda t: str(t.get("createdDateTime") or ""), reverse=True)
            for task in candidates:
                try:
                    details = self.client.get(self.client.details(str(task["id"])))
                except NotFoundError:
                    continue
                if (
                    values.correlation_from(details.get("references"), self.options.correlation_url)
                    == correlation_id
                ):
                    self._created[correlation_id] = str(task["id"])
                    full = self.client.get(self.client.task(str(task["id"])))
                    return self._item(full, details)
        return None
