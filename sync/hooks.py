"""Service hook intake: authenticate, parse with the system's connector, keep what is in scope, enqueue.

Answers fast: nothing is read or written on either system here, only item messages are enqueued.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

from connectors.contract import HookParser, HookPayloadError
from mapping.fieldmap import SyncDirection
from state.hook_deliveries import HookDeliveryStore
from state.secrets import SecretNotFound
from sync.config import ConfigError
from sync.messages import ItemMessage
from sync.request_body import BadBody, parse_json
from sync.runtime import enqueue_items
from sync.services import Services
from sync.sessions import session_key, target_unit

log = logging.getLogger("tandem.hooks")


@dataclass
class HookReply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


# Every refusal before authentication looks the same, so the answers name no scenario and no setting.
UNAUTHORIZED = {"error": "unauthorized: wrong or missing credentials"}
CHALLENGE = {"WWW-Authenticate": 'Basic realm="tandem hooks"'}
_NO_SECRET = "\x00no secret configured\x00"  # compared against, so every refusal costs the same


def _unauthorized() -> HookReply:
    return HookReply(401, dict(UNAUTHORIZED), dict(CHALLENGE))


def _expected_credentials(services: Services, system: str, scenario_name: str) -> tuple[str, str] | None:
    """The user and password hooks for (connection, scenario) must carry, or None when none can pass."""
    try:
        config = services.config()
        scenario = config.scenario(scenario_name)
    except ConfigError:
        return None
    if system not in (scenario.left, scenario.right):  # the connection's own name only
        return None
    hook = config.hook_auth(scenario, system)
    if not hook.secret:
        return None
    try:
        return hook.username, services.secrets.get(hook.secret)
    except SecretNotFound:
        return None


def authenticate(services: Services, system: str, scenario_name: str, authorization: str | None) -> bool:
    """Check the basic-auth header against the connection's hook secret; reads no body."""
    expected = _expected_credentials(services, system, scenario_name)
    user, password = expected or ("", _NO_SECRET)
    given = _basic_credentials(authorization) or ("", "")
    user_ok = hmac.compare_digest(given[0].encode(), user.encode())
    pass_ok = hmac.compare_digest(given[1].encode(), password.encode())
    return expected is not None and user_ok and pass_ok


def receive_hook(
    services: Services, system: str, scenario_name: str, authorization: str | None, body: bytes
) -> HookReply:
    # Credentials first, from the headers alone: nothing of the body is looked at before.
    if not authenticate(services, system, scenario_name, authorization):
        return _unauthorized()
    config = services.config()
    scenario = config.scenario(scenario_name)
    side = "left" if system == scenario.left else "right"
    try:
        payload = parse_json(body, limit=services.settings.request_body_limit)
    except BadBody as exc:
        return HookReply(exc.status, {"error": exc.message})
    connector = services.connector(getattr(scenario, side))
    if not isinstance(connector, HookParser):
        return HookReply(400, {"error": f"connection '{system}' does not send service hooks"})
    try:
        events = connector.parse_hook(payload)
    except HookPayloadError as exc:
        return HookReply(400, {"error": str(exc)})

    direction: SyncDirection = "left_to_right" if side == "left" else "right_to_left"
    dir_cfg = scenario.directions.get(direction)
    if dir_cfg is None or not dir_cfg.enabled or not dir_cfg.hooks:
        return HookReply(
            200, {"enqueued": 0, "ignored": len(events), "note": f"{direction} has no hooks enabled"}
        )
    containers = {c.lower() for c in scenario.source_containers(direction)}
    target_side = "right" if side == "left" else "left"
    # From configuration and the connector's declared metadata only: the target system is not called, so
    # a hook is never refused (and its subscription never put on probation) because the target is down.
    unit = target_unit(services.connector(getattr(scenario, target_side)), scenario.entity_of(target_side))  # type: ignore[arg-type]
    now = services.clock()
    messages = []
    ignored = 0
    for event in events:
        if event.deleted or (containers and (event.container or "").lower() not in containers):
            ignored += 1
            continue
        messages.append(
            ItemMessage(
                scenario=scenario.name,
                direction=direction,
                entity=event.entity,
                source_id=event.id,
                source_version=event.version,
                session=session_key(scenario, direction, unit, event.id, event.container),
                origin="hook",
                enqueued_at=now,
            )
        )
    deliveries = HookDeliveryStore(services.tables)
    taken = deliveries.take(scenario.name, [m.message_id for m in messages], now) if messages else set()
    duplicates = len(messages) - len(taken)
    messages = [m for m in messages if m.message_id in taken]
    if messages:
        try:
            # One run per hook delivery, so hook-driven syncs show in `tandem status` like polls do.
            run = services.runs.start(scenario.name, direction, "hook")
            messages = [m.model_copy(update={"run_id": run.run_id}) for m in messages]
            enqueue_items(services, messages)
        except Exception:
            deliveries.release(scenario.name, sorted(taken))  # the sender's retry must take them again
            raise
        services.runs.add(scenario.name, run.run_id, changes=len(events), enqueued=len(messages))
        services.runs.finish(scenario.name, run.run_id, "enqueued")
    log.info(
        "hook received",
        extra={
            "scenario": scenario.name,
            "enqueued": len(messages),
            "ignored": ignored,
            "duplicates": duplicates,
        },
    )
    reply: dict[str, Any] = {"enqueued": len(messages), "ignored": ignored}
    if duplicates:
        reply["duplicates"] = duplicates
    return HookReply(202 if messages else 200, reply)
