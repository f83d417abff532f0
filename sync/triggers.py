"""Function handlers: translate Azure Functions inputs (HTTP requests, Service Bus messages, timer ticks)
into engine calls, and engine results into HTTP responses. One `Services` per worker process.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mapping.fieldmap import SyncDirection
from state.queue import QueueMessage
from sync.config import ConfigError
from sync.request_body import BadBody, parse_json
from sync.services import Services, build_services

log = logging.getLogger("tandem.triggers")
_services: Services | None = None
_lock = threading.Lock()


def services() -> Services:
    global _services
    with _lock:
        if _services is None:
            from state.redact import install_log_redaction
            from sync import telemetry
            from sync.settings import AppSettings

            install_log_redaction()
            settings = AppSettings.from_env()
            telemetry.configure(settings.appinsights_connection)
            _services = build_services(settings)
        return _services


def use_services(value: Services | None) -> None:
    """The local host and tests run the same handlers on their own stack."""
    global _services
    with _lock:
        _services = value


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    text = body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body, default=str)
    return func.HttpResponse(text, status_code=status, mimetype="application/json", headers=headers)


def message_from_trigger(msg: func.ServiceBusMessage, queue: str) -> QueueMessage:
    body = json.loads(msg.get_body())
    return QueueMessage(
        queue=queue,
        body=body,
        message_id=msg.message_id or "",
        session_id=msg.session_id,
        delivery_count=int(getattr(msg, "delivery_count", 1) or 1),
    )


def on_timer(timer: func.TimerRequest) -> None:
    from sync.runtime import tick

    polls = tick(services())
    log.info("timer tick", extra={"polls": len(polls), "past_due": getattr(timer, "past_due", False)})


def on_poll_message(msg: func.ServiceBusMessage) -> None:
    from sync.runtime import handle_poll

    svc = services()
    handle_poll(svc, message_from_trigger(msg, svc.settings.poll_queue))


def on_item_messages(msgs: list[func.ServiceBusMessage]) -> None:
    from sync import telemetry
    from sync.runtime import handle_items

    svc = services()
    messages = []
    for msg in msgs:
        messages.append(message_from_trigger(msg, svc.settings.item_queue))
        enqueued = getattr(msg, "enqueued_time_utc", None)
        if isinstance(enqueued, datetime):
            when = enqueued if enqueued.tzinfo else enqueued.replace(tzinfo=UTC)
            telemetry.queue_age(svc.settings.item_queue, (svc.clock() - when).total_seconds())
    handle_items(svc, messages)


def on_hook(req: func.HttpRequest) -> func.HttpResponse:
    from sync.hooks import receive_hook

    reply = receive_hook(
        services(),
        req.route_params.get("system", ""),
        req.route_params.get("scenario", ""),
        req.headers.get("Authorization"),
        req.get_body(),
    )
    return _json(reply.status, reply.body, reply.headers or None)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: SyncDirection | None = None
    dry_run: bool = False  # answer with the plans (per-field diff); change nothing anywhere
    items: list[str] = Field(default_factory=list)  # only these source ids (of `direction`'s source side)
    force: bool = False  # with items: write the mapped source values even where the snapshot says unchanged
    entity: str | None = None  # the entity pair the items belong to (default: the scenario's first)


def on_run(req: func.HttpRequest) -> func.HttpResponse:
    """Poll a scenario now; or, with `items`, sync those items (optionally `force`d); or, with `dry_run`,
    answer what either would do as per-field plans, changing nothing."""
    from sync.manual import dry_run, sync_items
    from sync.messages import PollMessage
    from sync.runtime import enqueue_polls

    svc = services()
    name = req.route_params.get("scenario", "")
    raw = req.get_body()
    try:
        data = parse_json(raw, limit=svc.settings.request_body_limit) if raw else None
    except BadBody as exc:
        return _json(exc.status, {"error": exc.message})
    try:
        request = RunRequest.model_validate(data if raw else {"direction": req.params.get("direction")})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        return _json(400, {"error": f"{where}: {err['msg']}"})
    try:
        scenario = svc.config().scenario(name)
        if request.entity is not None:
            scenario.pair_view(request.entity)
    except ConfigError as exc:
        return _json(404, {"error": str(exc)})
    directions = [request.direction] if request.direction else scenario.enabled_directions()
    unknown = [d for d in directions if d not in scenario.enabled_directions()]
    if unknown:
        return _json(400, {"error": f"direction {unknown[0]} is not enabled for scenario '{name}'"})
    if (request.items or request.force) and request.direction is None:
        return _json(400, {"error": "direction: selected items are source ids of one direction; name it"})
    if request.force and not request.items:
        return _json(400, {"error": "items: a forced sync names the items to force"})
    if request.dry_run:
        plans = dry_run(
            svc, name, directions, items=request.items, force=request.force, entity=request.entity
        )
        return _json(200, {"scenario": name, "dry_run": True, "plans": plans})
    if request.items:
        assert request.direction is not None
        reply = sync_items(
            svc, name, request.direction, request.items, force=request.force, entity=request.entity
        )
        return _json(202, {"scenario": name, "enqueued": [request.direction], **reply})
    now = svc.clock()
    polls = [PollMessage(scenario=name, direction=d, trigger="manual", due=now) for d in directions]
    enqueue_polls(svc, polls)
    return _json(202, {"scenario": name, "enqueued": [p.direction for p in polls]})


def on_status(req: func.HttpRequest) -> func.HttpResponse:
    from sync.status import scenario_status

    try:
        status = scenario_status(services(), req.route_params.get("scenario", ""))
    except ConfigError as exc:
        return _json(404, {"error": str(exc)})
    return _json(200, status)


def _scenario_of(req: func.HttpRequest) -> tuple[Services, str, func.HttpResponse | None]:
    """The services and the route's scenario name, or a 404 answer when no such scenario is configured."""
    svc = services()
    name = req.route_params.get("scenario", "")
    try:
        svc.config().scenario(name)
    except ConfigError as exc:
        return svc, name, _json(404, {"error": str(exc)})
    return svc, name, None


def on_ensure_hooks(req: func.HttpRequest) -> func.HttpResponse:
    """Create, verify and repair the scenario's service hook subscriptions, pointing at PUBLIC_BASE_URL."""
    from sync.hook_subscriptions import ensure_hooks

    svc, name, missing = _scenario_of(req)
    if missing is not None:
        return missing
    base = svc.settings.public_base_url
    if not base:
        return _json(
            409, {"error": "PUBLIC_BASE_URL is not set: the app does not know its own URL for hooks"}
        )
    checks = ensure_hooks(svc, f"{base.rstrip('/')}/api", scenario=name)
    return _json(200, {"scenario": name, "checks": [c.model_dump() for c in checks]})


def on_setup_fields(req: func.HttpRequest) -> func.HttpResponse:
    """ "Create fields": the custom fields each side of the scenario needs, where its connector can."""
    from sync.setup import create_fields

    svc, name, missing = _scenario_of(req)
    if missing is not None:
        return missing
    reports = create_fields(svc, name)
    return _json(200, {"scenario": name, "sides": [r.model_dump() for r in reports]})


def on_setup_verify(req: func.HttpRequest) -> func.HttpResponse:
    """ "Verify configuration": connections, permissions, required fields and service hooks."""
    from sync.setup import verify

    svc, name, missing = _scenario_of(req)
    if missing is not None:
        return missing
    base = svc.settings.public_base_url
    reports = verify(svc, name, f"{base.rstrip('/')}/api" if base else None)
    ok = all(r.ok for r in reports)
    return _json(200, {"scenario": name, "ok": ok, "sides": [r.model_dump() for r in reports]})
