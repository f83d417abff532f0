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
from pydantic import BaseModel

from state.queue import QueueMessage
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


_admin_middleware: Any = None


async def on_admin(req: func.HttpRequest) -> func.HttpResponse:
    """Every admin route: the FastAPI app of `sync.admin.app` through the Functions ASGI integration."""
    global _admin_middleware
    if _admin_middleware is None:
        from sync.admin.app import create_app

        _admin_middleware = func.AsgiMiddleware(create_app())
    response: func.HttpResponse = await _admin_middleware.handle_async(req)
    return response


def call_admin(
    method: str,
    path: str,
    body: Any = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    """An admin route called in-process (the CLI on the app's own storage, tests): the answers of HTTP."""
    import asyncio
    from urllib.parse import urlencode

    query = f"?{urlencode(params)}" if params else ""
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    request = func.HttpRequest(
        method=method,
        url=f"http://localhost/api/{path.lstrip('/')}{query}",
        headers={**({"content-type": "application/json"} if raw else {}), **(headers or {})},
        params=dict(params or {}),
        body=raw,
    )
    return asyncio.run(on_admin(request))
