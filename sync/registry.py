"""Builds connectors from connection configuration. Each connection type maps to a factory.

Vendor packages are imported only when a connection of their type is used, so the function app
starts fast and the engine holds no vendor detail beyond the type name.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from connectors.contract import Connector
from state.secrets import SecretStore, host_binding_problem
from sync.config import ConfigError, ConnectionConfig, with_scenario_options

Factory = Callable[[str, ConnectionConfig, SecretStore], Connector]

# type -> "module:function"; the function takes (connection name, config, secret store)
BUILTIN: dict[str, str] = {
    "azure_devops": "connectors.ado.factory:build",
    "azure_devops_pipelines": "connectors.ado_pipelines.factory:build",
    "pwa": "connectors.pwa.factory:build",
    "planner": "connectors.planner.factory:build",
}


class ConnectorRegistry:
    def __init__(self, secrets: SecretStore) -> None:
        self.secrets = secrets
        self._factories: dict[str, Factory] = {}
        # (connection, the scenario's options for it) -> (configuration fingerprint, connector)
        self._instances: dict[tuple[str, str], tuple[str, Connector]] = {}

    def register(self, connection_type: str, factory: Factory) -> None:
        self._factories[connection_type] = factory

    def _factory(self, connection_type: str) -> Factory:
        if connection_type in self._factories:
            return self._factories[connection_type]
        target = BUILTIN.get(connection_type)
        if target is None:
            raise ConfigError(f"No connector for connection type '{connection_type}'.")
        module, func = target.split(":")
        factory: Factory = getattr(importlib.import_module(module), func)
        self._factories[connection_type] = factory
        return factory

    def get(
        self,
        name: str,
        config: ConnectionConfig,
        key: str | None = None,
        scenario_options: dict[str, Any] | None = None,
    ) -> Connector:
        """One connector instance per connection (per `key`: an integration's own credentials make their
        own; and per set of options a scenario gives it, see `ScenarioConfig.connector_options`), rebuilt
        when its configuration changes."""
        options = json.dumps(scenario_options, sort_keys=True, default=str) if scenario_options else ""
        cache_key = (key or name, options)
        config = with_scenario_options(config, scenario_options)
        fingerprint = config.model_dump_json()
        cached = self._instances.get(cache_key)
        if cached and cached[0] == fingerprint:
            return cached[1]
        connector = self.build(name, config)
        self._instances[cache_key] = (fingerprint, connector)
        return connector

    def build(self, name: str, config: ConnectionConfig) -> Connector:
        """A connector for a connection that is not (or not yet) saved: checked like `get`, never cached."""
        self.check_secret_host(name, config)
        return self._factory(config.type)(name, config, self.secrets)

    def check_secret_host(self, name: str, config: ConnectionConfig) -> None:
        """Refuse a connection whose secret is bound (in the secret store) to other hosts."""
        secret = config.auth.secret
        if not secret or config.url.startswith("memory://"):
            return
        problem = host_binding_problem(self.secrets, secret, config.secret_host)
        if problem:
            raise ConfigError(f"connections.{name}.auth.secret: {problem}")

    def forget(self) -> None:
        self._instances.clear()
