"""Service hooks: parse work item event payloads; keep the hub's webhook subscriptions present and enabled."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.ado.client import AdoClient
from connectors.contract import HookEvent, HookPayloadError

log = logging.getLogger("tandem.connectors.ado")

ENTITY = "workitem"
WORK_ITEM_EVENTS: tuple[str, ...] = (
    "workitem.created",
    "workitem.updated",
    "workitem.deleted",
    "workitem.restored",
)
# Parsed too (a comment is a new revision), but not subscribed to by default: `updated` already fires.
_PARSED_EVENTS = (*WORK_ITEM_EVENTS, "workitem.commented")
PUBLISHER, CONSUMER, ACTION = "tfs", "webHooks", "httpRequest"
_REPAIRABLE = ("onProbation", "disabledBySystem")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


# --- payloads ------------------------------------------------------------------------------------


class _Container(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None


class _Containers(BaseModel):
    model_config = ConfigDict(extra="ignore")
    project: _Container | None = None


class _WorkItemResource(BaseModel):
    """`resource` of created/deleted/restored/commented, and `resource.revision` of updated."""

    model_config = ConfigDict(extra="ignore")
    id: int
    rev: int | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class _WorkItemUpdateResource(BaseModel):
    """`resource` of workitem.updated: `id` is the update number, the item is `workItemId`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: int | None = None
    work_item_id: int = Field(alias="workItemId")
    rev: int | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    revision: _WorkItemResource | None = None


class HookEnvelope(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: str | None = None
    event_type: str = Field(alias="eventType")
    publisher_id: str | None = Field(None, alias="publisherId")
    resource: dict[str, Any]
    resource_containers: _Containers | None = Field(None, alias="resourceContainers")
    created_date: datetime | None = Field(None, alias="createdDate")


def _new_value(value: Any) -> Any:
    """Update payloads carry `{oldValue, newValue}` per changed field; plain payloads the value itself."""
    if isinstance(value, Mapping) and ("newValue" in value or "oldValue" in value):
        return value.get("newValue")
    return value


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def parse_hook(payload: Any) -> list[HookEvent]:
    """One HookEvent per ADO work item event; HookPayloadError (answered with 400) for anything else."""
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise HookPayloadError(f"service hook body is not JSON: {exc}") from None
    if not isinstance(payload, Mapping):
        raise HookPayloadError("service hook body must be a JSON object with eventType and resource")
    try:
        envelope = HookEnvelope.model_validate(payload)
    except ValidationError as exc:
        raise HookPayloadError(f"not an Azure DevOps service hook payload: {_first_error(exc)}") from None
    if envelope.event_type not in _PARSED_EVENTS:
        raise HookPayloadError(
            f"unsupported service hook event type {envelope.event_type!r}; "
            f"subscribe this URL only to {', '.join(WORK_ITEM_EVENTS)}"
        )
    try:
        if envelope.event_type == "workitem.updated":
            update = _WorkItemUpdateResource.model_validate(envelope.resource)
            item_id = update.work_item_id
            fields = {k: _new_value(v) for k, v in update.fields.items()}
            if update.revision is not None:
                fields = {**fields, **update.revision.fields}
            rev = update.revision.rev if update.revision and update.revision.rev is not None else update.rev
        else:
            item = _WorkItemResource.model_validate(envelope.resource)
            item_id, rev, fields = item.id, item.rev, item.fields
    except ValidationError as exc:
        raise HookPayloadError(
            f"{envelope.event_type} payload is malformed: {_first_error(exc, 'resource')}"
        ) from None
    if rev is None:
        raise HookPayloadError(
            f"{envelope.event_type} payload for work item {item_id} carries no revision number"
        )
    project = fields.get("System.TeamProject")
    if not project and envelope.resource_containers and envelope.resource_containers.project:
        project = envelope.resource_containers.project.id
    return [
        HookEvent(
            event_type=envelope.event_type,
            entity=ENTITY,
            id=str(item_id),
            version=str(rev),
            container=str(project) if project else None,
            changed_at=_as_datetime(fields.get("System.ChangedDate")) or envelope.created_date,
            deleted=envelope.event_type == "workitem.deleted",
        )
    ]


def _first_error(exc: ValidationError, root: str = "") -> str:
    err = exc.errors()[0]
    parts = ([root] if root else []) + [str(p) for p in err.get("loc", ())]
    return f"{'.'.join(parts) or 'body'}: {err.get('msg', 'invalid')}"


# --- subscriptions -------------------------------------------------------------------------------


class SubscriptionReport(BaseModel):
    """What `ensure_hook_subscriptions` found and did, by subscription id."""

    created: list[str] = Field(default_factory=list)
    repaired: list[str] = Field(default_factory=list)  # re-enabled after probation / system disable
    repointed: list[str] = Field(default_factory=list)  # our subscription pointed at an old URL
    unchanged: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _is_ours(sub: Mapping[str, Any], event_type: str, project_id: str) -> bool:
    return (
        sub.get("publisherId") == PUBLISHER
        and sub.get("consumerId") == CONSUMER
        and sub.get("consumerActionId") == ACTION
        and sub.get("eventType") == event_type
        and str((sub.get("publisherInputs") or {}).get("projectId", "")).lower() == project_id.lower()
    )


def subscription_body(
    *,
    event_type: str,
    project_id: str,
    hook_url: str,
    username: str,
    password: str,
    resource_version: str = "1.0",
    publisher_inputs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "publisherId": PUBLISHER,
        "eventType": event_type,
        "resourceVersion": resource_version,
        "consumerId": CONSUMER,
        "consumerActionId": ACTION,
        "publisherInputs": {**(publisher_inputs or {}), "projectId": project_id},
        "consumerInputs": {
            "url": hook_url,
            "basicAuthUsername": username,
            "basicAuthPassword": password,
            # The hub re-reads items itself; full details only make the payload bigger.
            "resourceDetailsToSend": "all",
            "messagesToSend": "none",
            "detailedMessagesToSend": "none",
        },
    }


def ensure_subscriptions(
    client: AdoClient,
    *,
    hook_url: str,
    username: str,
    password: str,
    project_ids: Sequence[str],
    event_types: Sequence[str] = WORK_ITEM_EVENTS,
) -> SubscriptionReport:
    """Create missing webhook subscriptions, re-point moved ones and re-enable ones the system disabled."""
    # The password goes out in request bodies; make sure no error text can echo it.
    client.http.redactor.add(password)
    report = SubscriptionReport()
    existing = client.list_subscriptions(publisherId=PUBLISHER, consumerId=CONSUMER, consumerActionId=ACTION)
    for project_id in _project_ids(client, project_ids, report):
        for event_type in event_types:
            candidates = [s for s in existing if _is_ours(s, event_type, project_id)]
            exact = [s for s in candidates if (s.get("consumerInputs") or {}).get("url") == hook_url]
            # A subscription with our user name but another URL was ours before the app moved.
            # The query carries the version of the hook secret it was given: same path, older version = the
            # secret was rotated since, and the new one must be sent (ADO masks it on read).
            moved = [
                s
                for s in candidates
                if (s.get("consumerInputs") or {}).get("basicAuthUsername") == username
                or _without_query((s.get("consumerInputs") or {}).get("url", "")) == _without_query(hook_url)
            ]
            mine = exact or moved
            body = subscription_body(
                event_type=event_type,
                project_id=project_id,
                hook_url=hook_url,
                username=username,
                password=password,
                resource_version=client.options.hook_resource_version,
            )
            if not mine:
                created = client.create_subscription(body)
                report.created.append(str(created.get("id", "")))
                log.info(
                    "created %s subscription %s for project %s", event_type, created.get("id"), project_id
                )
                continue
            if len(mine) > 1:
                report.problems.append(
                    f"{len(mine)} subscriptions deliver {event_type} of project {project_id} to the hub "
                    f"({', '.join(str(s.get('id')) for s in mine)}); delete all but one in "
                    "Project settings → Service hooks (duplicates are harmless but double the traffic)"
                )
            sub = mine[0]
            sub_id = str(sub.get("id", ""))
            status = sub.get("status", "enabled")
            repoint = not exact
            repair = status in _REPAIRABLE
            if status in ("disabledByUser", "disabledByInactiveIdentity"):
                who = "a user" if status == "disabledByUser" else "ADO because its owner is inactive"
                report.problems.append(
                    f"subscription {sub_id} ({event_type}, project {project_id}) was disabled by {who}; "
                    "enable it in Project settings → Service hooks, or delete it so the hub can recreate it"
                )
                continue
            if not (repoint or repair):
                report.unchanged.append(sub_id)
                continue
            if repair:
                report.problems.append(_failing(client, sub, event_type, project_id))
            # Keep the subscription's own filters; the PUT must carry the real password again
            # because GET returns it masked.
            body["publisherInputs"] = {**(sub.get("publisherInputs") or {}), "projectId": project_id}
            body["resourceVersion"] = sub.get("resourceVersion") or body["resourceVersion"]
            body["status"] = "enabled"
            client.replace_subscription(sub_id, body)
            (report.repointed if repoint else report.repaired).append(sub_id)
            log.info("%s subscription %s (%s)", "re-pointed" if repoint else "re-enabled", sub_id, status)
    return report


def _without_query(url: str) -> str:
    return str(url).split("?", 1)[0].rstrip("/")


def _failing(client: AdoClient, sub: Mapping[str, Any], event_type: str, project_id: str) -> str:
    """What a person should know about a subscription ADO put on probation or disabled: why, since when."""
    sub_id = str(sub.get("id", ""))
    status = sub.get("status")
    what = "on probation" if status == "onProbation" else "disabled by ADO after failed deliveries"
    retries = sub.get("probationRetries")
    detail = f", {retries} probation retries" if retries else ""
    last = ""
    try:
        # Newest first. A notification waiting for its probation retry is still `queued`, with the failed
        # attempt in its details: look for the latest one that carries a failure.
        recent = client.list_notifications(sub_id, maxResults="20")
    except Exception as exc:  # the history is a diagnosis aid: the repair goes on without it
        log.info("delivery history of subscription %s not readable: %s", sub_id, type(exc).__name__)
        recent = []
    failed = [
        n for n in recent if n.get("result") == "failed" or (n.get("details") or {}).get("errorMessage")
    ]
    if failed:
        details = failed[0].get("details") or {}
        said = [str(details[k]) for k in ("response", "errorMessage") if details.get(k)]
        reason = " - ".join(said) or str(failed[0].get("result", "failed"))
        when = details.get("completedDate") or failed[0].get("modifiedDate") or ""
        last = f"; last failed delivery {when}: {reason[:300]}"
    return (
        f"subscription {sub_id} ({event_type}, project {project_id}) was failing ({what}{detail}{last}); "
        "re-enabled with the current URL and hook secret. Events raised meanwhile were not delivered: "
        "the next poll catches up"
    )


def _project_ids(client: AdoClient, projects: Sequence[str], report: SubscriptionReport) -> list[str]:
    """Subscriptions filter by project GUID; names are resolved through the projects list."""
    if all(_GUID.match(p) for p in projects):
        return list(projects)
    by_name = {str(p.get("name", "")).lower(): str(p.get("id")) for p in client.list_projects()}
    ids: list[str] = []
    for project in projects:
        if _GUID.match(project):
            ids.append(project)
        elif project.lower() in by_name:
            ids.append(by_name[project.lower()])
        else:
            report.problems.append(
                f"project {project!r} is not visible to the hub's identity; "
                "check the name and the identity's permissions"
            )
    return ids
