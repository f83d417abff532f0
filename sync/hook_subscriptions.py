"""Keep every hook-enabled direction's service hook subscriptions pointing at this app, and repair them.

Subscriptions a system disabled after failed deliveries are re-enabled and reported to telemetry, so the
"hook subscription disabled" alert tells a person that deliveries were lost meanwhile (polls catch up).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable

from pydantic import BaseModel, Field

from connectors.contract import HookSubscriber
from state.redact import redact
from sync import telemetry
from sync.config import ConnectionConfig
from sync.services import Services

log = logging.getLogger("tandem.hooks")


class HookCheck(BaseModel):
    scenario: str
    connection: str
    url: str
    created: list[str] = Field(default_factory=list)
    repaired: list[str] = Field(default_factory=list)
    repointed: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


def secret_version(secret: str) -> str:
    """A short fingerprint of a hook secret, safe to show (not the secret, not reversible to it)."""
    return hmac.new(secret.encode(), b"tandem hook secret version", hashlib.sha256).hexdigest()[:12]


def ensure_hooks(
    services: Services,
    api_base_url: str,
    *,
    scenario: str | None = None,
    include: Callable[[str, ConnectionConfig], bool] = lambda name, cfg: True,
) -> list[HookCheck]:
    """Make each hook-enabled direction's source call `{api_base_url}/hooks/{connection}/{scenario}`."""
    config = services.config()
    checks: list[HookCheck] = []
    for sc in config.scenarios:
        if scenario is not None and sc.name != scenario:
            continue
        for direction in sc.enabled_directions():
            if not sc.directions[direction].hooks:
                continue
            name = sc.left if direction == "left_to_right" else sc.right
            if not include(name, config.connections[name]):
                continue
            url = f"{api_base_url.rstrip('/')}/hooks/{name}/{sc.name}"
            check = HookCheck(scenario=sc.name, connection=name, url=url)
            hook = config.hook_auth(sc, name)
            checks.append(check)
            try:
                connector = services.side_connector(sc, "left" if direction == "left_to_right" else "right")
                if not isinstance(connector, HookSubscriber):
                    check.problems.append(
                        f"connection '{name}' has no service hooks; this direction polls only"
                    )
                    continue
                if not hook.secret:
                    check.problems.append(
                        f"connection '{name}' has no hook_secret: set connections.{name}.hook_secret "
                        "so its hooks can authenticate"
                    )
                    continue
                password = services.secrets.get(hook.secret)
                containers = sc.source_containers(direction)
                if not containers:
                    lister = getattr(connector, "list_projects", None)
                    containers = [str(p.get("name")) for p in lister()] if lister else []
                # The URL names the version of the secret each subscription was given: after a rotation
                # every subscription differs from it and gets the new secret (ADO never shows the old).
                versioned = f"{url}?v={secret_version(password)}"
                report = connector.ensure_hook_subscriptions(versioned, hook.username, password, containers)
            except Exception as exc:  # reported per scenario; one broken connection must not stop the others
                check.problems.append(redact(f"{type(exc).__name__}: {exc}"))
                continue
            check.created, check.repaired = list(report.created), list(report.repaired)
            check.repointed, check.problems = list(report.repointed), list(report.problems)
            for subscription_id in check.repaired:
                telemetry.hook_subscription_disabled(sc.name, name, subscription_id)
    for check in checks:
        for problem in check.problems:
            log.warning("service hooks: %s/%s: %s", check.scenario, check.connection, problem)
    return checks
