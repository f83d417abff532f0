"""A Planner connector wired to a running Planner emulator the way the registry builds one (factory, secret
store, the emulator's token endpoint): the fixture of the connector tests, ready for a contract suite."""

from __future__ import annotations

from typing import Any

from connectors.planner.connector import PlannerConnector
from connectors.planner.factory import build
from emulators.planner import PlannerEmulator
from sync.config import ConnectionConfig


class Secrets:
    """The secret store's interface over a dict (the registry test uses the real local store)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = dict(values)

    def get(self, name: str) -> str:
        return self.values[name]

    def set(self, name: str, value: str) -> None:
        self.values[name] = value


def config(emulator: PlannerEmulator, kind: str = "oauth_refresh_token", **options: Any) -> ConnectionConfig:
    auth: dict[str, Any] = {"kind": kind}
    if kind != "none":
        auth.update(client_id=emulator.client_id, tenant=emulator.tenant, secret="planner-secret")
    return ConnectionConfig.model_validate(
        {
            "type": "planner",
            "url": emulator.base_url,
            "auth": auth,
            "options": {"authority": emulator.root_url, **options},
        }
    )


def planner_connector(
    emulator: PlannerEmulator, kind: str = "oauth_refresh_token", secrets: Secrets | None = None, **extra: Any
) -> PlannerConnector:
    secrets = secrets or Secrets({"planner-secret": emulator.client_secret})
    options = extra.pop("options", {})
    return build("planner", config(emulator, kind, **options), secrets, **extra)
