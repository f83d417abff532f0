"""The Planner emulator's data: users, groups, plans (with details), buckets, tasks (with details), their
ETags, and the validation rules Graph applies to writes. Everything here runs under `PlannerState.lock`."""

from __future__ import annotations

import base64
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emulators.common import Clock, Counters

ASSIGNMENT_TYPE = "#microsoft.graph.plannerAssignment"
CHECKLIST_TYPE = "#microsoft.graph.plannerChecklistItem"
REFERENCE_TYPE = "#microsoft.graph.plannerExternalReference"
CATEGORIES = tuple(f"category{i}" for i in range(1, 26))
PREVIEW_TYPES = ("automatic", "noPreview", "checklist", "description", "reference")
MAX_ASSIGNEES = 20
MAX_CHECKLIST = 20
MAX_REFERENCES = 10
MAX_TASKS_PER_PLAN = 9000
MAX_BUCKETS_PER_PLAN = 200

# Properties a client may send on create / update (everything else is read-only or unknown → 400).
TASK_WRITABLE = {
    "title",
    "bucketId",
    "orderHint",
    "assigneePriority",
    "percentComplete",
    "startDateTime",
    "dueDateTime",
    "conversationThreadId",
    "priority",
    "appliedCategories",
    "assignments",
    "previewType",
}
TASK_CREATE_ONLY = {"planId"}
DETAILS_WRITABLE = {"description", "previewType", "checklist", "references"}
PLAN_DETAILS_WRITABLE = {"categoryDescriptions", "sharedWith"}


class GraphError(Exception):
    """An error answered in Graph's shape `{"error": {"code", "message", "innerError"}}`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def not_found(what: str) -> GraphError:
    return GraphError(404, "NotFound", f"The requested item is not found. ({what})")


def new_id() -> str:
    """Planner ids: 28 URL-safe characters, case-sensitive."""
    return secrets.token_urlsafe(21)


def utc_text(value: datetime) -> str:
    text = value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return text.replace(".000000Z", "Z")


def parse_datetime(name: str, value: Any) -> str | None:
    """A DateTimeOffset as Graph stores it: UTC with `Z`; 400 for anything else."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"Invalid value for property '{name}': a DateTimeOffset string is expected.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"Cannot convert '{value}' to DateTimeOffset for property '{name}'.") from None
    if parsed.tzinfo is None:
        raise bad_request(f"The DateTimeOffset '{value}' of property '{name}' has no offset.")
    return utc_text(parsed)


class OrderHints:
    """Planner computes the stored hint from the one sent: `" !"` puts an item first, `"<prev> <next>!"`
    between two, none appends it last; a returned hint is never accepted back unchanged."""

    def __init__(self) -> None:
        self._sequence = 0

    def __call__(self, value: Any, previous: str | None = None) -> str:
        self._sequence += 1
        if value is None:
            return f"8{self._sequence:012d}"
        if not isinstance(value, str) or not value.endswith("!"):
            raise bad_request("Invalid order hint: it must end with '!' (e.g. ' !').")
        if previous is not None and value == previous:
            raise bad_request("Invalid order hint: a returned hint cannot be sent back unchanged.")
        before = value[:-1].strip().split(" ")[0]
        if before:
            return f"{before}{self._sequence:06d}"
        return f"1{10**12 - self._sequence:012d}"


@dataclass
class User:
    id: str
    display_name: str
    mail: str | None
    upn: str

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "displayName": self.display_name,
            "mail": self.mail,
            "userPrincipalName": self.upn,
        }


@dataclass
class Resource:
    """A plan, bucket, task or details object: its JSON body and its ETag."""

    kind: str
    body: dict[str, Any]
    etag: str = ""

    def json(self) -> dict[str, Any]:
        return {"@odata.etag": self.etag, **self.body}


@dataclass
class Config:
    page_size: int = 400  # tasks per listing page (the service's own size; $top is ignored)
    token_lifetime: int = 3599
    rate_limit_per_minute: int | None = None  # Graph calls per caller per rolling minute before 429


@dataclass
class PlannerState:
    clock: Clock
    counters: Counters
    config: Config = field(default_factory=Config)
    lock: threading.RLock = field(default_factory=threading.RLock)
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)  # id → display name
    plans: dict[str, Resource] = field(default_factory=dict)
    plan_details: dict[str, Resource] = field(default_factory=dict)
    buckets: dict[str, Resource] = field(default_factory=dict)
    tasks: dict[str, Resource] = field(default_factory=dict)  # insertion order = listing order
    task_details: dict[str, Resource] = field(default_factory=dict)
    older_etags: dict[str, set[str]] = field(default_factory=dict)  # id → ETags it had before
    conflict_next_details: dict[str, int] = field(default_factory=dict)  # task id → 409s to answer
    order_hint: OrderHints = field(default_factory=OrderHints)
    _sequence: int = 0

    # --- ETags ------------------------------------------------------------------------------------

    def stamp(self, resource: Resource) -> None:
        """A new weak ETag; ETags of one resource compare ordinally (greater = newer)."""
        self._sequence += 1
        if resource.etag:
            self.older_etags.setdefault(resource.body["id"], set()).add(resource.etag)
        raw = f"'1-{resource.kind:<8}{self._sequence:016d}'".encode()
        resource.etag = 'W/"' + base64.b64encode(raw).decode() + '"'

    def check_etag(self, resource: Resource, if_match: str | None) -> None:
        """412 unless `If-Match` carries the resource's current ETag (`*` is not accepted by Planner)."""
        if not if_match:
            raise GraphError(
                412,
                "PreconditionFailed",
                "The If-Match header must be specified for this kind of request.",
            )
        if if_match.strip() != resource.etag:
            raise GraphError(
                412,
                "PreconditionFailed",
                "The precondition given in one or more of the request-header fields evaluated to false "
                "when it was tested on the server.",
            )

    # --- people -----------------------------------------------------------------------------------

    def add_user(self, display_name: str, mail: str | None, upn: str | None = None) -> User:
        upn = upn or mail or f"{uuid.uuid4().hex[:8]}@contoso.onmicrosoft.com"
        user = User(str(uuid.uuid4()), display_name, mail, upn)
        self.users[user.id] = user
        return user

    def user(self, key: str) -> User:
        found = self.users.get(key) or next(
            (u for u in self.users.values() if u.upn.lower() == key.lower()), None
        )
        if found is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{key}' does not exist or one of its queried reference-property objects are "
                "not present.",
            )
        return found

    def me(self) -> dict[str, Any]:
        return {"user": {"displayName": "Tandem Sync", "id": next(iter(self.users), None)}}

    # --- plans and buckets ------------------------------------------------------------------------

    def add_group(self, name: str, group_id: str | None = None) -> str:
        gid = group_id or str(uuid.uuid4())
        self.groups[gid] = name
        return gid

    def create_plan(self, body: Any, by: dict[str, Any]) -> Resource:
        if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not body["title"]:
            raise bad_request("The plan 'title' is required.")
        container = body.get("container") or {}
        group_id = container.get("containerId") or body.get("owner")
        if group_id not in self.groups:
            raise GraphError(403, "Forbidden", "You do not have the required permissions to the container.")
        plan_id = new_id()
        now = utc_text(self.clock.now())
        plan = Resource(
            "Plan",
            {
                "id": plan_id,
                "title": body["title"],
                "owner": group_id,
                "createdDateTime": now,
                "createdBy": by,
                "container": {
                    "containerId": group_id,
                    "type": "group",
                    "url": f"https://graph.microsoft.com/v1.0/groups/{group_id}",
                },
            },
        )
        self.stamp(plan)
        self.plans[plan_id] = plan
        details = Resource(
            "PlanDtl",
            {
                "id": plan_id,
                "sharedWith": {},
                "categoryDescriptions": {c: None for c in CATEGORIES},
            },
        )
        self.stamp(details)
        self.plan_details[plan_id] = details
        self.counters.record_write("plan.create")
        return plan

    def plan(self, plan_id: str) -> Resource:
        found = self.plans.get(plan_id)
        if found is None:
            raise not_found(f"plan {plan_id}")
        return found

    def update_plan_details(self, plan_id: str, body: Any, if_match: str | None) -> Resource:
        self.plan(plan_id)
        details = self.plan_details[plan_id]
        self.check_etag(details, if_match)
        fields = _object(body)
        _only(fields, PLAN_DETAILS_WRITABLE, "plannerPlanDetails")
        if "categoryDescriptions" in fields:
            names = _object(fields["categoryDescriptions"], "categoryDescriptions")
            for key, value in names.items():
                if key not in CATEGORIES:
                    raise bad_request(f"'{key}' is not a property of plannerCategoryDescriptions.")
                if value is not None and not isinstance(value, str):
                    raise bad_request(f"categoryDescriptions.{key} must be a string or null.")
                details.body["categoryDescriptions"][key] = value
        if "sharedWith" in fields:
            for key, value in _object(fields["sharedWith"], "sharedWith").items():
                if value is None or value is False:
                    details.body["sharedWith"].pop(key, None)
                else:
                    details.body["sharedWith"][key] = True
        self.stamp(details)
        self.counters.record_write("plandetails.update")
        return details

    def create_bucket(self, body: Any) -> Resource:
        fields = _object(body)
        _only(fields, {"name", "planId", "orderHint"}, "plannerBucket")
        plan = self.plan(str(fields.get("planId") or ""))
        if not isinstance(fields.get("name"), str) or not fields["name"]:
            raise bad_request("The bucket 'name' is required.")
        if (
            sum(1 for b in self.buckets.values() if b.body["planId"] == plan.body["id"])
            >= MAX_BUCKETS_PER_PLAN
        ):
            raise GraphError(403, "MaximumBucketsInProject", "The plan has the maximum number of buckets.")
        bucket = Resource(
            "Bucket",
            {
                "id": new_id(),
                "name": fields["name"],
                "planId": plan.body["id"],
                "orderHint": self.order_hint(fields.get("orderHint")),
            },
        )
        self.stamp(bucket)
        self.buckets[bucket.body["id"]] = bucket
        self.counters.record_write("bucket.create")
        return bucket

    def bucket(self, bucket_id: str) -> Resource:
        found = self.buckets.get(bucket_id)
        if found is None:
            raise not_found(f"bucket {bucket_id}")
        return found

    # --- tasks ------------------------------------------------------------------------------------

    def task(self, task_id: str) -> Resource:
        found = self.tasks.get(task_id)
        if found is None:
            raise not_found(f"task {task_id}")
        return found

    def details(self, task_id: str) -> Resource:
        self.task(task_id)
        return self.task_details[task_id]

    def plan_tasks(self, plan_id: str) -> list[Resource]:
        self.plan(plan_id)
        return [t for t in self.tasks.values() if t.body["planId"] == plan_id]

    def create_task(self, body: Any, by: dict[str, Any]) -> Resource:
        fields = _object(body)
        _only(fields, TASK_WRITABLE | TASK_CREATE_ONLY, "plannerTask")
        plan = self.plan(str(fields.get("planId") or ""))
        if not isinstance(fields.get("title"), str) or not fields["title"].strip():
            raise bad_request("The task 'title' is required.")
        if len(self.plan_tasks(plan.body["id"])) >= MAX_TASKS_PER_PLAN:
            raise GraphError(403, "MaximumTasksInProject", "The plan has the maximum number of tasks.")
        task_id = new_id()
        now = utc_text(self.clock.now())
        task = Resource(
            "Task",
            {
                "planId": plan.body["id"],
                "bucketId": None,
                "title": "",
                "orderHint": self.order_hint(None),
                "assigneePriority": "",
                "percentComplete": 0,
                "startDateTime": None,
                "createdDateTime": now,
                "dueDateTime": None,
                "hasDescription": False,
                "previewType": "automatic",
                "completedDateTime": None,
                "completedBy": None,
                "referenceCount": 0,
                "checklistItemCount": 0,
                "activeChecklistItemCount": 0,
                "conversationThreadId": None,
                "priority": 5,
                "id": task_id,
                "createdBy": by,
                "appliedCategories": {},
                "assignments": {},
            },
        )
        self._apply_task(task, {k: v for k, v in fields.items() if k != "planId"}, by)
        details = Resource(
            "TaskDtl",
            {"description": "", "previewType": "automatic", "id": task_id, "references": {}, "checklist": {}},
        )
        self.stamp(task)
        self.stamp(details)
        self.tasks[task_id] = task
        self.task_details[task_id] = details
        self.counters.record_write("task.create")
        return task

    def update_task(self, task_id: str, body: Any, if_match: str | None, by: dict[str, Any]) -> Resource:
        task = self.task(task_id)
        self.check_etag(task, if_match)
        fields = _object(body)
        _only(fields, TASK_WRITABLE, "plannerTask")
        self._apply_task(task, fields, by)
        self.stamp(task)
        self.counters.record_write("task.update")
        return task

    def delete_task(self, task_id: str, if_match: str | None) -> None:
        task = self.task(task_id)
        self.check_etag(task, if_match)
        del self.tasks[task_id]
        del self.task_details[task_id]
        self.counters.record_write("task.delete")

    def _apply_task(self, task: Resource, fields: dict[str, Any], by: dict[str, Any]) -> None:
        body = task.body
        staged = dict(body)
        staged["appliedCategories"] = dict(body["appliedCategories"])
        staged["assignments"] = dict(body["assignments"])
        for name, value in fields.items():
            if name == "title":
                if not isinstance(value, str) or not value.strip() or len(value) > 255:
                    raise bad_request(
                        "The task 'title' must be a non-empty string of at most 255 characters."
                    )
                staged["title"] = value
            elif name == "bucketId":
                if value is not None:
                    bucket = self.buckets.get(str(value))
                    if bucket is None or bucket.body["planId"] != staged["planId"]:
                        raise bad_request(f"The bucket '{value}' does not belong to the task's plan.")
                staged["bucketId"] = value
            elif name == "orderHint":
                staged["orderHint"] = self.order_hint(value, body.get("orderHint"))
            elif name in ("startDateTime", "dueDateTime"):
                staged[name] = parse_datetime(name, value)
            elif name == "percentComplete":
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
                    raise bad_request("percentComplete must be an integer from 0 to 100.")
                staged["percentComplete"] = value
            elif name == "priority":
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
                    raise bad_request("priority must be an integer from 0 to 10.")
                staged["priority"] = value
            elif name == "appliedCategories":
                for key, flag in _object(value, "appliedCategories").items():
                    if key not in CATEGORIES:
                        raise bad_request(f"'{key}' is not a valid category (category1 to category25).")
                    if not isinstance(flag, bool):
                        raise bad_request(f"appliedCategories.{key} must be true or false.")
                    if flag:
                        staged["appliedCategories"][key] = True
                    else:
                        staged["appliedCategories"].pop(key, None)
            elif name == "assignments":
                self._assign(staged, _object(value, "assignments"), by)
            elif name == "previewType":
                if value not in PREVIEW_TYPES:
                    raise bad_request(f"'{value}' is not a valid previewType.")
                staged["previewType"] = value
            else:  # assigneePriority, conversationThreadId
                if value is not None and not isinstance(value, str):
                    raise bad_request(f"{name} must be a string.")
                staged[name] = value
        if (
            staged["startDateTime"]
            and staged["dueDateTime"]
            and staged["startDateTime"] > staged["dueDateTime"]
        ):
            raise bad_request("The task's startDateTime must not be after its dueDateTime.")
        if staged["percentComplete"] == 100 and body["percentComplete"] != 100:
            staged["completedDateTime"] = utc_text(self.clock.now())
            staged["completedBy"] = by
        elif staged["percentComplete"] != 100:
            staged["completedDateTime"] = None
            staged["completedBy"] = None
        body.update(staged)

    def _assign(self, staged: dict[str, Any], changes: dict[str, Any], by: dict[str, Any]) -> None:
        for user_id, value in changes.items():
            if value is None:
                staged["assignments"].pop(user_id, None)
                continue
            if not isinstance(value, dict) or value.get("@odata.type") != ASSIGNMENT_TYPE:
                raise bad_request(
                    f'The assignment of \'{user_id}\' needs "@odata.type": "{ASSIGNMENT_TYPE}".'
                )
            if not re.fullmatch(r"[0-9a-fA-F-]{36}", user_id):
                raise bad_request(f"'{user_id}' is not a valid user id.")
            previous = staged["assignments"].get(user_id)
            staged["assignments"][user_id] = {
                "@odata.type": ASSIGNMENT_TYPE,
                "assignedDateTime": utc_text(self.clock.now()),
                "orderHint": self.order_hint(value.get("orderHint")),
                "assignedBy": by if previous is None else previous["assignedBy"],
            }
        if len(staged["assignments"]) > MAX_ASSIGNEES:
            raise GraphError(403, "MaximumAssigneesInTasks", "A task can have at most 20 assignees.")

    def update_details(self, task_id: str, body: Any, if_match: str | None, by: dict[str, Any]) -> Resource:
        task = self.task(task_id)
        details = self.task_details[task_id]
        self.check_etag(details, if_match)
        if self.conflict_next_details.get(task_id):
            self.conflict_next_details[task_id] -= 1
            raise GraphError(
                409,
                "Conflict",
                "The request could not be completed because of a conflict with a concurrent update of the "
                "task.",
            )
        fields = _object(body)
        _only(fields, DETAILS_WRITABLE, "plannerTaskDetails")
        staged = {**details.body, "checklist": dict(details.body["checklist"])}
        staged["references"] = dict(details.body["references"])
        now = utc_text(self.clock.now())
        for name, value in fields.items():
            if name == "description":
                if value is not None and not isinstance(value, str):
                    raise bad_request("description must be a string.")
                staged["description"] = value or ""
            elif name == "previewType":
                if value not in PREVIEW_TYPES:
                    raise bad_request(f"'{value}' is not a valid previewType.")
                staged["previewType"] = value
            elif name == "checklist":
                for key, item in _object(value, "checklist").items():
                    if item is None:
                        staged["checklist"].pop(key, None)
                        continue
                    if not isinstance(item, dict) or item.get("@odata.type") != CHECKLIST_TYPE:
                        raise bad_request(
                            f'The checklist item \'{key}\' needs "@odata.type": "{CHECKLIST_TYPE}".'
                        )
                    old = staged["checklist"].get(key, {})
                    title = item.get("title", old.get("title"))
                    if not isinstance(title, str) or not title:
                        raise bad_request(f"The checklist item '{key}' needs a title.")
                    staged["checklist"][key] = {
                        "@odata.type": CHECKLIST_TYPE,
                        "isChecked": bool(item.get("isChecked", old.get("isChecked", False))),
                        "title": title,
                        "orderHint": self.order_hint(item["orderHint"], old.get("orderHint"))
                        if "orderHint" in item
                        else old.get("orderHint") or self.order_hint(None),
                        "lastModifiedDateTime": now,
                        "lastModifiedBy": by,
                    }
                if len(staged["checklist"]) > MAX_CHECKLIST:
                    raise GraphError(
                        403, "MaximumChecklistItemsOnTask", "A task can have at most 20 checklist items."
                    )
            else:  # references
                for key, ref in _object(value, "references").items():
                    if ref is None:
                        staged["references"].pop(key, None)
                        continue
                    if not isinstance(ref, dict) or ref.get("@odata.type") != REFERENCE_TYPE:
                        raise bad_request(f'The reference \'{key}\' needs "@odata.type": "{REFERENCE_TYPE}".')
                    if not re.match(r"^https?%3A", key, re.IGNORECASE):
                        raise bad_request(
                            f"The reference key '{key}' must be an encoded URL (% . : @ # encoded)."
                        )
                    old = staged["references"].get(key, {})
                    staged["references"][key] = {
                        "@odata.type": REFERENCE_TYPE,
                        "alias": ref.get("alias", old.get("alias")),
                        "type": ref.get("type", old.get("type", "Other")),
                        "previewPriority": ref.get("previewPriority", old.get("previewPriority"))
                        or self.order_hint(None),
                        "lastModifiedDateTime": now,
                        "lastModifiedBy": by,
                    }
                if len(staged["references"]) > MAX_REFERENCES:
                    raise GraphError(403, "MaximumReferencesOnTask", "A task can have at most 10 references.")
        details.body.update(staged)
        self.stamp(details)
        self.counters.record_write("details.update")
        # The task carries counts of its details; when they change, the task is a new version too.
        derived = {
            "hasDescription": bool(staged["description"]),
            "checklistItemCount": len(staged["checklist"]),
            "activeChecklistItemCount": sum(1 for i in staged["checklist"].values() if not i["isChecked"]),
            "referenceCount": len(staged["references"]),
        }
        if any(task.body[k] != v for k, v in derived.items()):
            task.body.update(derived)
            self.stamp(task)
        return details

    # --- snapshot ---------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "config": {
                "pageSize": self.config.page_size,
                "tokenLifetime": self.config.token_lifetime,
                "rateLimitPerMinute": self.config.rate_limit_per_minute,
            },
            "users": [u.json() for u in self.users.values()],
            "groups": [{"id": k, "displayName": v} for k, v in self.groups.items()],
            "plans": [
                {
                    **p.json(),
                    "buckets": [b.json() for b in self.buckets.values() if b.body["planId"] == pid],
                    "taskCount": len(self.plan_tasks(pid)),
                }
                for pid, p in self.plans.items()
            ],
        }


def _object(value: Any, name: str = "body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"The {name} must be a JSON object.")
    return value


def _only(fields: dict[str, Any], allowed: set[str], type_name: str) -> None:
    for name in fields:
        if name == "@odata.type" or name == "@odata.etag":
            continue
        if name not in allowed:
            raise bad_request(
                f"Invalid request body: the property '{name}' of {type_name} is read-only or does not exist."
            )
