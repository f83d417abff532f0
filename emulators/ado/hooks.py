"""Service hooks: web hook subscriptions (publisher ``tfs``, consumer ``webHooks``/``httpRequest``) and
their delivery. Every work item change becomes a real-shaped event (``workitem.created|updated|deleted|
restored``) POSTed from a background thread with basic auth and custom headers, retried the way the
service does it: transient failures (408/502/503/504, network) back off and retry; other failures put the
subscription on probation (new events are lost meanwhile) and repeated probation failures disable it
(``disabledBySystem``); 410 disables at once. Delays come from `HookPolicy` so tests can run in ms."""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from emulators.ado import errors
from emulators.ado.identities import User
from emulators.ado.render import Renderer, field_deltas
from emulators.ado.store import AdoState, ChangeEvent, WorkItem
from emulators.ado.values import format_date
from emulators.common import Clock

SUPPORTED_EVENTS = ("workitem.created", "workitem.updated", "workitem.deleted", "workitem.restored")
_TRANSIENT = frozenset({408, 502, 503, 504})
_MASK = "********"
_SECRET_INPUTS = frozenset({"basicauthpassword", "password"})

SubscriptionStatus = Literal[
    "enabled", "onProbation", "disabledByUser", "disabledBySystem", "disabledByInactiveIdentity"
]


@dataclass(frozen=True)
class HookPolicy:
    """Delivery timings. The defaults follow the service's documented schedule (about 183 s of transient
    retries; probation retries at 20 min … 15 h); use `HookPolicy.fast()` in tests."""

    transient_delays: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 60, 60)
    probation_delays: tuple[float, ...] = (1200, 2400, 4800, 9600, 19200, 38400, 54000)
    request_timeout: float = 10.0

    @classmethod
    def fast(cls, *, transient: int = 3, probation: int = 3, delay: float = 0.01) -> HookPolicy:
        return cls(
            transient_delays=(delay,) * transient, probation_delays=(delay,) * probation, request_timeout=2.0
        )


class DeliveryChaos(BaseModel):
    """What the service does on a bad day, asked for through ``POST /_emulator/hooks/chaos``: an event
    delivered more than once (ADO's delivery is at-least-once) and events arriving out of order. Each
    notification is sent `2..maxCopies` times with chance `duplicateRate`, every copy delayed by a random
    0..`jitterMs` so later events can overtake earlier ones. All zero (the default) = one prompt delivery."""

    model_config = ConfigDict(extra="forbid")

    duplicateRate: float = Field(default=0.0, ge=0, le=1)
    maxCopies: int = Field(default=2, ge=2, le=10)
    jitterMs: int = Field(default=0, ge=0, le=600_000)
    seed: int | None = None

    def delays(self, draw: random.Random) -> list[float]:
        """Seconds from now to each delivery of one notification (one entry per copy)."""
        copies = draw.randint(2, self.maxCopies) if draw.random() < self.duplicateRate else 1
        return [draw.uniform(0, self.jitterMs / 1000) if self.jitterMs else 0.0 for _ in range(copies)]


class SubscriptionInput(BaseModel):
    """Body of POST/PUT ``_apis/hooks/subscriptions``."""

    model_config = ConfigDict(extra="ignore")

    publisherId: str = ""
    eventType: str = ""
    resourceVersion: str | None = None
    consumerId: str = ""
    consumerActionId: str = ""
    publisherInputs: dict[str, str] = Field(default_factory=dict)
    consumerInputs: dict[str, str] = Field(default_factory=dict)
    status: str | None = None


@dataclass
class Subscription:
    id: str
    event_type: str
    resource_version: str
    publisher_inputs: dict[str, str]
    consumer_inputs: dict[str, str]
    created_by: User
    created_date: datetime
    modified_by: User
    modified_date: datetime
    status: SubscriptionStatus = "enabled"
    probation_retries: int = 0
    last_probation_retry_date: datetime | None = None
    notification_seq: int = 0


@dataclass
class Attempt:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float
    probation: bool


@dataclass
class Notification:
    """One event for one subscription, with every delivery attempt."""

    id: int
    subscription_id: str
    event_id: str
    event_type: str
    payload: dict[str, Any]
    created: datetime
    modified: datetime
    status: str = "queued"  # queued | processing | requestInProgress | completed
    result: str = "pending"  # pending | succeeded | failed | filtered
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    transient_failures: int = 0
    last_headers: dict[str, str] = field(default_factory=dict)


class HookService:
    """Subscriptions plus the delivery worker; registered as a listener on the state."""

    def __init__(
        self,
        state: AdoState,
        renderer: Renderer,
        clock: Clock,
        *,
        flavor: str,
        policy: HookPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        suppress_notifications_skips_hooks: bool = False,
    ) -> None:
        self.state = state
        self.renderer = renderer
        self.clock = clock
        self.flavor = flavor
        self.policy = policy or HookPolicy()
        self._transport = transport
        self.suppress_notifications_skips_hooks = suppress_notifications_skips_hooks
        self._cond = threading.Condition()
        self._subs: dict[str, Subscription] = {}
        self._notifications: list[Notification] = []
        self._queue: list[tuple[float, int, Notification, bool]] = []  # (due, seq, notification, probation)
        self._seq = itertools.count()
        self._paused = False
        self._in_flight = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.chaos = DeliveryChaos()
        self._draw = random.Random()  # chaos timing, not a secret
        self.account_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"account:{state.collection_id}"))
        state.listeners.append(self.on_change)

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="ado-hooks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
            self._thread = None
        if thread is not None:
            thread.join(timeout)

    def pause(self) -> None:
        """Hold deliveries (events still queue up) until `resume`."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    def flush(self) -> None:
        """Make every scheduled retry due now (skips back-off waits)."""
        with self._cond:
            now = time.monotonic()
            self._queue = [(now, seq, n, p) for _, seq, n, p in self._queue]
            heapq.heapify(self._queue)
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._in_flight

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until nothing is queued or in flight (False on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def set_chaos(self, chaos: DeliveryChaos) -> None:
        with self._cond:
            self.chaos = chaos
            self._draw.seed(chaos.seed)

    def reset(self) -> None:
        with self._cond:
            self.chaos = DeliveryChaos()
            self._subs.clear()
            self._notifications.clear()
            self._queue.clear()

    # --- subscriptions ----------------------------------------------------------------------------

    def create(self, body: SubscriptionInput, user: User, subscription_id: str | None = None) -> Subscription:
        self._validate(body)
        now = self.clock.now()
        sub = Subscription(
            id=subscription_id or str(uuid.uuid4()),
            event_type=body.eventType,
            resource_version=body.resourceVersion or "1.0",
            publisher_inputs=self._publisher_inputs(body),
            consumer_inputs=dict(body.consumerInputs),
            created_by=user,
            created_date=now,
            modified_by=user,
            modified_date=now,
        )
        if body.status in ("disabledByUser", "enabled"):
            sub.status = body.status  # type: ignore[assignment]
        with self._cond:
            self._subs[sub.id] = sub
        return sub

    def replace(self, subscription_id: str, body: SubscriptionInput, user: User) -> Subscription:
        with self._cond:
            sub = self._subs.get(subscription_id)
        if sub is None:
            return self.create(body, user, subscription_id)
        self._validate(body)
        with self._cond:
            sub.event_type = body.eventType
            sub.resource_version = body.resourceVersion or sub.resource_version
            sub.publisher_inputs = self._publisher_inputs(body)
            inputs = dict(body.consumerInputs)
            for key, value in sub.consumer_inputs.items():  # a masked secret sent back means "unchanged"
                if key.lower() in _SECRET_INPUTS and inputs.get(key) == _MASK:
                    inputs[key] = value
            sub.consumer_inputs = inputs
            if body.status in ("enabled", "disabledByUser"):
                if body.status == "enabled" and sub.status != "enabled":
                    sub.probation_retries = 0
                sub.status = body.status  # type: ignore[assignment]
            sub.modified_by = user
            sub.modified_date = self.clock.now()
        return sub

    def delete(self, subscription_id: str) -> None:
        with self._cond:
            if self._subs.pop(subscription_id, None) is None:
                raise errors.subscription_not_found(subscription_id)

    def get(self, subscription_id: str) -> Subscription:
        with self._cond:
            sub = self._subs.get(subscription_id)
        if sub is None:
            raise errors.subscription_not_found(subscription_id)
        return sub

    def list(self) -> list[Subscription]:
        with self._cond:
            return sorted(self._subs.values(), key=lambda s: s.created_date)

    def set_status(self, subscription_id: str, status: SubscriptionStatus) -> None:
        with self._cond:
            sub = self.get(subscription_id)
            sub.status = status
            if status == "enabled":
                sub.probation_retries = 0

    def _publisher_inputs(self, body: SubscriptionInput) -> dict[str, str]:
        """The inputs as stored: a project given by name is kept as its id, like the service does."""
        inputs = dict(body.publisherInputs)
        project_id = inputs.get("projectId", "")
        if project_id:
            project = self.state.find_project(project_id)
            if project is not None:
                inputs["projectId"] = project.id
        return inputs

    def _validate(self, body: SubscriptionInput) -> None:
        if body.publisherId != "tfs":
            raise errors.subscription_invalid(f"The publisher '{body.publisherId}' does not exist.")
        if body.eventType not in SUPPORTED_EVENTS:
            raise errors.subscription_invalid(
                f"The event type '{body.eventType}' is not supported by publisher 'tfs' in this emulator."
            )
        if body.consumerId != "webHooks" or body.consumerActionId != "httpRequest":
            raise errors.subscription_invalid(
                f"The consumer action '{body.consumerId}/{body.consumerActionId}' does not exist; "
                "use webHooks/httpRequest."
            )
        url = body.consumerInputs.get("url", "")
        if not url.startswith(("http://", "https://")):
            raise errors.subscription_invalid(
                "The value of the consumer input 'url' must be an absolute HTTP(S) URL."
            )
        project_id = body.publisherInputs.get("projectId", "")
        if project_id and self.state.find_project(project_id) is None:
            raise errors.subscription_invalid(
                f"The value '{project_id}' of publisher input 'projectId' is not valid."
            )

    # --- events -----------------------------------------------------------------------------------

    def on_change(self, event: ChangeEvent) -> None:
        """Called by the store (under its lock) for every committed change."""
        if event.silent or (event.suppress_notifications and self.suppress_notifications_skips_hooks):
            return
        event_type = f"workitem.{event.kind}"
        with self._cond:
            subs = [
                s
                for s in self._subs.values()
                if s.event_type == event_type and s.status in ("enabled", "onProbation")
            ]
        if not subs:
            return
        matching = [s for s in subs if self._matches(s, event)]
        if not matching:
            return
        payload = self.build_event(event)
        now = self.clock.now()
        with self._cond:
            for sub in matching:
                sub.notification_seq += 1
                body = {"subscriptionId": sub.id, "notificationId": sub.notification_seq, **payload}
                body["resourceVersion"] = sub.resource_version
                notification = Notification(
                    id=sub.notification_seq,
                    subscription_id=sub.id,
                    event_id=payload["id"],
                    event_type=event_type,
                    payload=body,
                    created=now,
                    modified=now,
                )
                self._notifications.append(notification)
                if sub.status == "onProbation":
                    notification.status, notification.result = "completed", "failed"
                    notification.error = "Not delivered: the subscription is on probation."
                    continue
                for copy, delay in enumerate(self.chaos.delays(self._draw)):
                    if copy:  # a repeated delivery of the same notification, with its own attempts
                        notification = dataclasses.replace(notification, attempts=[], last_headers={})
                        self._notifications.append(notification)
                    heapq.heappush(
                        self._queue, (time.monotonic() + delay, next(self._seq), notification, False)
                    )
            self._cond.notify_all()

    def _matches(self, sub: Subscription, event: ChangeEvent) -> bool:
        inputs = {k.lower(): v for k, v in sub.publisher_inputs.items() if v}
        fields = event.revision.fields
        project = self.state.find_project(str(fields.get("System.TeamProject", "")))
        if "projectid" in inputs and (project is None or project.id != inputs["projectid"].lower()):
            return False
        if (
            "workitemtype" in inputs
            and str(fields.get("System.WorkItemType", "")).lower() != inputs["workitemtype"].lower()
        ):
            return False
        if "areapath" in inputs:
            area = str(fields.get("System.AreaPath", "")).lower()
            wanted = inputs["areapath"].lower()
            if area != wanted and not area.startswith(wanted + "\\"):
                return False
        if "tag" in inputs:
            tags = {t.strip().lower() for t in str(fields.get("System.Tags", "")).split(";")}
            if inputs["tag"].lower() not in tags:
                return False
        if event.kind == "updated":
            if "changedfields" in inputs:
                wanted_fields = {
                    f.strip().lower()
                    for f in inputs["changedfields"].replace(";", ",").split(",")
                    if f.strip()
                }
                changed = {ref.lower() for ref in field_deltas(event.previous, event.revision)}
                if wanted_fields and not wanted_fields & changed:
                    return False
            links_only = inputs.get("linkschanged", "").lower() == "true"
            if (
                links_only
                and event.previous is not None
                and event.previous.relations == event.revision.relations
            ):
                return False
        return True

    def build_event(self, event: ChangeEvent) -> dict[str, Any]:
        """The event envelope and resource as the service sends them (identities as "Name <unique>")."""
        r = self.renderer
        item: WorkItem = event.item
        revision = event.revision
        fields = revision.fields
        project = r.project_of(revision)
        base = r.base
        verb = event.kind
        if event.kind == "updated":
            index = next(i for i, rev in enumerate(item.revisions) if rev is revision)
            resource = r.update(item, index, style="string", links=True)
            resource["revision"] = r.revision_resource(item, revision, expand="relations", style="string")
        else:
            url = f"{base}/_apis/wit/recyclebin/{item.id}" if event.kind == "deleted" else None
            resource = r.work_item(item, revision, relations=True, links=True, style="string", url=url)
        type_name = str(fields.get("System.WorkItemType", ""))
        title = str(fields.get("System.Title", ""))
        html_url = f"{base}/web/wi.aspx?pcguid={self.state.collection_id}&id={item.id}"
        who = event.user.display_name
        text = f"{type_name} #{item.id} ({title}) {verb} by {who}"
        message = {
            "text": f"{text}\r\n({html_url})",
            "html": f'<a href="{html_url}">{type_name} #{item.id}</a> ({title}) {verb} by {who}',
            "markdown": f"[{type_name} #{item.id}]({html_url}) ({title}) {verb} by {who}",
        }
        containers: dict[str, Any] = {"collection": {"id": self.state.collection_id, "baseUrl": f"{base}/"}}
        host_key = "account" if self.flavor == "services" else "server"
        containers[host_key] = {"id": self.account_id, "baseUrl": f"{base}/"}
        if project is not None:
            containers["project"] = {"id": project.id, "baseUrl": f"{base}/"}
        return {
            "id": str(uuid.uuid4()),
            "eventType": f"workitem.{event.kind}",
            "publisherId": "tfs",
            "message": message,
            "detailedMessage": dict(message),
            "resource": resource,
            "resourceVersion": "1.0",
            "resourceContainers": containers,
            "createdDate": format_date(event.at),
        }

    # --- inspection -------------------------------------------------------------------------------

    def notifications(self, subscription_id: str | None = None) -> list[Notification]:
        with self._cond:
            return [
                n
                for n in self._notifications
                if subscription_id is None or n.subscription_id == subscription_id
            ]

    def delivered_payloads(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Payloads that reached a subscriber with a 2xx, oldest first."""
        return [
            n.payload
            for n in self.notifications()
            if n.result == "succeeded" and (event_type is None or n.event_type == event_type)
        ]

    # --- delivery worker --------------------------------------------------------------------------

    def _run(self) -> None:
        client = httpx.Client(timeout=self.policy.request_timeout, trust_env=False, transport=self._transport)
        try:
            while True:
                with self._cond:
                    while not self._stopping:
                        if self._queue and not self._paused:
                            wait = self._queue[0][0] - time.monotonic()
                            if wait <= 0:
                                break
                            self._cond.wait(min(wait, 0.5))
                        else:
                            self._cond.wait(0.5)
                    if self._stopping:
                        return
                    _, _, notification, probation = heapq.heappop(self._queue)
                    sub = self._subs.get(notification.subscription_id)
                    if (
                        sub is None
                        or sub.status not in ("enabled", "onProbation")
                        or (sub.status == "onProbation" and not probation)
                    ):
                        notification.status, notification.result = "completed", "failed"
                        notification.error = (
                            "Not delivered: the subscription is disabled, deleted or on probation."
                        )
                        self._cond.notify_all()
                        continue
                    self._in_flight += 1
                    notification.status = "requestInProgress"
                    inputs = dict(sub.consumer_inputs)
                try:
                    self._deliver(client, notification, inputs, probation)
                finally:
                    with self._cond:
                        self._in_flight -= 1
                        self._cond.notify_all()
        finally:
            client.close()

    def _deliver(
        self, client: httpx.Client, notification: Notification, inputs: dict[str, str], probation: bool
    ) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        for line in inputs.get("httpHeaders", "").splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip()] = value.strip()
        user = inputs.get("basicAuthUsername", "")
        password = inputs.get("basicAuthPassword", "")
        auth = httpx.BasicAuth(user, password) if (user or password) else None
        body = json.dumps(notification.payload, ensure_ascii=False).encode("utf-8")
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            response = client.post(inputs["url"], content=body, headers=headers, auth=auth)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration = (time.monotonic() - started) * 1000
        with self._cond:
            notification.attempts.append(Attempt(self.clock.now(), status, error, duration, probation))
            notification.modified = self.clock.now()
            notification.last_headers = headers
            sub = self._subs.get(notification.subscription_id)
            self._settle(notification, sub, status, error, probation)

    def _settle(
        self,
        notification: Notification,
        sub: Subscription | None,
        status: int | None,
        error: str | None,
        probation: bool,
    ) -> None:
        if status is not None and 200 <= status < 300:
            notification.status, notification.result = "completed", "succeeded"
            if sub is not None and sub.status == "onProbation":
                sub.status, sub.probation_retries = "enabled", 0
            return
        notification.error = error or f"HTTP {status}"
        if sub is None:
            notification.status, notification.result = "completed", "failed"
            return
        if status == 410:
            notification.status, notification.result = "completed", "failed"
            self._change_status(sub, "disabledBySystem")
            return
        transient = status is None or status in _TRANSIENT
        if (
            transient
            and not probation
            and notification.transient_failures < len(self.policy.transient_delays)
        ):
            delay = self.policy.transient_delays[notification.transient_failures]
            notification.transient_failures += 1
            notification.status = "queued"
            self._schedule(notification, delay, probation=False)
            return
        # An enduring failure (or transient retries used up).
        if probation:
            sub.probation_retries += 1
            sub.last_probation_retry_date = self.clock.now()
        elif sub.status == "enabled":
            self._change_status(sub, "onProbation")
            sub.probation_retries = 0
        if sub.status == "onProbation" and sub.probation_retries < len(self.policy.probation_delays):
            notification.status = "queued"
            self._schedule(notification, self.policy.probation_delays[sub.probation_retries], probation=True)
            return
        notification.status, notification.result = "completed", "failed"
        if sub.status == "onProbation":
            self._change_status(sub, "disabledBySystem")

    def _change_status(self, sub: Subscription, status: SubscriptionStatus) -> None:
        sub.status = status
        sub.modified_date = self.clock.now()

    def _schedule(self, notification: Notification, delay: float, *, probation: bool) -> None:
        heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), notification, probation))
        self._cond.notify_all()

    # --- wire shapes ------------------------------------------------------------------------------

    def subscription_json(self, sub: Subscription) -> dict[str, Any]:
        r = self.renderer
        url = f"{r.base}/_apis/hooks/subscriptions/{sub.id}"
        consumer_inputs = {
            k: (_MASK if k.lower() in _SECRET_INPUTS and v else v) for k, v in sub.consumer_inputs.items()
        }
        publisher_inputs = {
            **sub.publisher_inputs,
            "hostId": self.state.collection_id,
            "tfsSubscriptionId": str(uuid.uuid5(uuid.NAMESPACE_URL, sub.id)),
        }
        body: dict[str, Any] = {
            "id": sub.id,
            "url": url,
            "status": sub.status,
            "publisherId": "tfs",
            "eventType": sub.event_type,
            "resourceVersion": sub.resource_version,
            "eventDescription": _describe(sub.publisher_inputs),
            "consumerId": "webHooks",
            "consumerActionId": "httpRequest",
            "actionDescription": f"To host {_host(sub.consumer_inputs.get('url', ''))}",
        }
        if sub.probation_retries:
            body["probationRetries"] = sub.probation_retries
        if sub.last_probation_retry_date is not None:
            body["lastProbationRetryDate"] = format_date(sub.last_probation_retry_date)
        body.update(
            {
                "createdBy": r.identities.identity_ref(sub.created_by),
                "createdDate": format_date(sub.created_date),
                "modifiedBy": r.identities.identity_ref(sub.modified_by),
                "modifiedDate": format_date(sub.modified_date),
                "publisherInputs": publisher_inputs,
                "consumerInputs": consumer_inputs,
                "_links": {"self": {"href": url}},
            }
        )
        return body

    def notification_json(self, n: Notification) -> dict[str, Any]:
        details: dict[str, Any] = {
            "eventType": n.event_type,
            "publisherId": "tfs",
            "consumerId": "webHooks",
            "consumerActionId": "httpRequest",
            "event": {k: v for k, v in n.payload.items() if k not in ("subscriptionId", "notificationId")},
            "queuedDate": format_date(n.created),
            "requestAttempts": len(n.attempts),
        }
        if n.attempts:
            last = n.attempts[-1]
            details["requestDuration"] = round(last.duration_ms / 1000, 3)
            details["completedDate"] = format_date(last.at)
            if last.status_code is not None:
                details["response"] = f"Status Code: {last.status_code}"
        if n.error:
            details["errorMessage"] = n.error
        return {
            "id": n.id,
            "subscriptionId": n.subscription_id,
            "eventId": n.event_id,
            "status": n.status,
            "result": n.result,
            "createdDate": format_date(n.created),
            "modifiedDate": format_date(n.modified),
            "details": details,
        }

    def delivery_log(self) -> list[dict[str, Any]]:
        """Flat attempt log for the control API and tests."""
        out: list[dict[str, Any]] = []
        for n in self.notifications():
            base = {
                "subscriptionId": n.subscription_id,
                "notificationId": n.id,
                "eventId": n.event_id,
                "eventType": n.event_type,
                "status": n.status,
                "result": n.result,
                "error": n.error,
                "attempts": [
                    {
                        "at": format_date(a.at),
                        "statusCode": a.status_code,
                        "error": a.error,
                        "durationMs": round(a.duration_ms, 1),
                        "probation": a.probation,
                    }
                    for a in n.attempts
                ],
                "payload": n.payload,
            }
            out.append(base)
        return out


def _describe(inputs: dict[str, str]) -> str:
    parts = [f"{key} = {value}" for key, value in inputs.items() if value and key != "projectId"]
    return ", ".join(parts) if parts else "Any work item"


def _host(url: str) -> str:
    return httpx.URL(url).host if url else ""
