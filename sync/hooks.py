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
from sync.enqueue import enqueue_items
from sync.messages import ItemMessage
from sync.request_body import BadBody, parse_json
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


def _deleted_integration(
    services: Services, system: str, scenario_name: str, authorization: str | None
) -> HookReply | None:
    """410 for a hook about an integration that was deleted (the configuration history says it paired this
    connection), and only to a caller holding that connection's own hook credentials
    (`connections.<name>.hook_secret`), i.e. the system whose subscription still points here. A name that
    never existed, or any caller without those credentials, gets the same 401 as a wrong password: the
    answers reveal no scenario name. None: not that case."""
    try:
        config = services.config()
        if any(s.name == scenario_name for s in config.scenarios):
            return None
        connection = config.connections.get(system)
        if connection is None or not connection.hook_secret:
            return None
        expected = (connection.hook_username, services.secrets.get(connection.hook_secret))
    except (ConfigError, SecretNotFound):
        return None
    given = _basic_credentials(authorization) or ("", "")
    user_ok = hmac.compare_digest(given[0].encode(), expected[0].encode())
    pass_ok = hmac.compare_digest(given[1].encode(), expected[1].encode())
    if not (user_ok and pass_ok) or not _deleted_from(services, scenario_name, system):
        return None
    log.info("hook for %s from %s: the integration is no longer configured (410)", scenario_name, system)
    return HookReply(
        410,
        {
            "error": f"integration '{scenario_name}' is no longer configured on this hub: nothing was "
            "synchronized; delete this service hook subscription"
        },
    )


def _deleted_from(services: Services, scenario_name: str, system: str, versions: int = 50) -> bool:
    """Whether one of the last `versions` configuration changes removed `scenario_name` pairing `system`."""
    paths = {f"scenarios.{scenario_name}.left", f"scenarios.{scenario_name}.right"}
    return any(
        change.op == "removed" and change.path in paths and change.old == system
        for version in services.config_store.history(versions)
        for change in version.changes
    )


def receive_hook(
    services: Services, system: str, scenario_name: str, authorization: str | None, body: bytes
) -> HookReply:
    # Credentials first, from the headers alone: nothing of the body is looked at before.
    if not authenticate(services, system, scenario_name, authorization):
        return _deleted_integration(services, system, scenario_name, authorization) or _unauthorized()
    config = services.config()
    scenario = config.scenario(scenario_name)
    side = "left" if system == scenario.left else "right"
    try:
        payload = parse_json(body, limit=services.settings.request_body_limit)
    except BadBody as exc:
        return HookReply(exc.status, {"error": exc.message})
    connector = services.side_connector(scenario, side)
    if not isinstance(connector, HookParser):
        return HookReply(400, {"error": f"connection '{system}' does not send service hooks"})
    try:
        events = connector.parse_hook(payload)
    except HookPayloadError as exc:
        return HookReply(400, {"error": str(exc)})

    direction: SyncDirection = "left_to_right" if side == "left" else "right_to_left"
    dir_cfg = scenario.directions.get(direction)
    if dir_cfg is None or not dir_cfg.enabled or not dir_cfg.hooks or dir_cfg.trigger == "manual":
        why = "is triggered manually" if dir_cfg and dir_cfg.trigger == "manual" else "has no hooks enabled"
        return HookReply(200, {"enqueued": 0, "ignored": len(events), "note": f"{direction} {why}"})
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
        # From configuration and the connector's declared metadata only: the target system is not called, so
        # a hook is never refused (and its subscription never put on probation) because the target is down.
        target = services.side_connector(view, target_side)
        unit = target_unit(target, view.entity_of(target_side))  # type: ignore[arg-type]
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
    deliveries = HookDeliveryStore(services.tables)
    all_ids = [m.message_id for _, pair_messages in by_pair.values() for m in pair_messages]
    taken = deliveries.take(scenario.name, all_ids, now) if all_ids else set()
    duplicates = len(all_ids) - len(taken)
    messages: list[ItemMessage] = []
    try:
        for view, pair_messages in by_pair.values():
            pair_messages = [m for m in pair_messages if m.message_id in taken]
            if not pair_messages:
                continue  # a replayed delivery: no run row, nothing enqueued
            # One run per hook delivery (and entity pair), so hook-driven syncs show in `tandem status`.
            run = services.runs.start(view.key, direction, "hook")
            pair_messages = [m.model_copy(update={"run_id": run.run_id}) for m in pair_messages]
            enqueue_items(services, pair_messages)
            services.runs.add(view.key, run.run_id, changes=len(events), enqueued=len(pair_messages))
            services.runs.finish(view.key, run.run_id, "enqueued")
            messages += pair_messages
    except Exception:
        # The sender's retry must take the ids again (those already enqueued are deduplicated by the queue).
        deliveries.release(scenario.name, sorted(taken))
        raise
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
