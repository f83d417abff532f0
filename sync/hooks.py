"""Service hook intake: authenticate, parse with the system's connector, keep what is in scope, enqueue.

Answers fast: nothing is read or written on either system here, only item messages are enqueued.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from connectors.contract import HookParser, HookPayloadError
from mapping.fieldmap import SyncDirection
from state.secrets import SecretNotFound
from sync.config import ConfigError
from sync.enqueue import enqueue_items
from sync.messages import ItemMessage
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


def receive_hook(
    services: Services, system: str, scenario_name: str, authorization: str | None, body: bytes
) -> HookReply:
    try:
        config = services.config()
        scenario = config.scenario(scenario_name)
    except ConfigError:
        return HookReply(404, {"error": f"unknown scenario '{scenario_name}'"})

    challenge = {"WWW-Authenticate": 'Basic realm="tandem hooks"'}
    if not scenario.hook_secret:
        return HookReply(
            401, {"error": "hooks are not enabled for this scenario (no hook_secret)"}, challenge
        )
    try:
        expected = services.secrets.get(scenario.hook_secret)
    except SecretNotFound:
        return HookReply(401, {"error": "the scenario's hook secret is not set"}, challenge)
    given = _basic_credentials(authorization)
    user_ok = hmac.compare_digest((given[0] if given else "").encode(), scenario.hook_username.encode())
    pass_ok = hmac.compare_digest((given[1] if given else "").encode(), expected.encode())
    if not (given and user_ok and pass_ok):
        return HookReply(401, {"error": "wrong or missing credentials"}, challenge)

    side = _side_of(scenario, config.connections, system)
    if side is None:
        return HookReply(404, {"error": f"'{system}' is not a connection of scenario '{scenario.name}'"})
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return HookReply(400, {"error": "the body is not valid JSON"})
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
    target_side = "right" if side == "left" else "left"
    now = services.clock()
    by_pair: dict[str, tuple[Any, list[ItemMessage]]] = {}
    ignored = 0
    for event in events:
        try:
            view = scenario.view_for(direction, event.entity)
        except ConfigError:
            ignored += 1  # an entity this scenario does not sync
            continue
        containers = {c.lower() for c in view.source_containers(direction)}
        if event.deleted or (containers and (event.container or "").lower() not in containers):
            ignored += 1
            continue
        unit = target_unit(services.connector(getattr(view, target_side)), view.entity_of(target_side))  # type: ignore[arg-type]
        by_pair.setdefault(view.key, (view, []))[1].append(
            ItemMessage(
                scenario=scenario.name,
                direction=direction,
                entity=event.entity,
                source_id=event.id,
                source_version=event.version,
                session=session_key(view, direction, unit, event.id, event.container),
                origin="hook",
                enqueued_at=now,
            )
        )
    messages: list[ItemMessage] = []
    for view, pair_messages in by_pair.values():
        # One run per hook delivery (and entity pair), so hook-driven syncs show in `tandem status`.
        run = services.runs.start(view.key, direction, "hook")
        pair_messages = [m.model_copy(update={"run_id": run.run_id}) for m in pair_messages]
        enqueue_items(services, pair_messages)
        services.runs.add(view.key, run.run_id, changes=len(events), enqueued=len(pair_messages))
        services.runs.finish(view.key, run.run_id, "enqueued")
        messages += pair_messages
    log.info(
        "hook received", extra={"scenario": scenario.name, "enqueued": len(messages), "ignored": ignored}
    )
    return HookReply(202 if messages else 200, {"enqueued": len(messages), "ignored": ignored})


def _side_of(scenario: Any, connections: dict[str, Any], system: str) -> str | None:
    for side in ("left", "right"):
        name = getattr(scenario, side)
        if system in (side, name) or connections[name].type == system:
            return side
    return None
