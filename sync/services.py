"""The composition root: builds the stores, queue, secrets and connectors the engine runs on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from connectors.contract import Connector
from state.config_store import ConfigStore
from state.links import LinkStore
from state.problems import ConflictStore, FailureStore
from state.queue import MessageQueue
from state.runs import RunStore
from state.secrets import SecretStore
from state.tables import Tables
from state.watermarks import WatermarkStore
from sync.config import ConfigError, ScenarioConfig, TandemConfig, parse_config
from sync.registry import ConnectorRegistry
from sync.settings import AppSettings


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: AppSettings
    tables: Tables
    queue: MessageQueue
    secrets: SecretStore
    registry: ConnectorRegistry
    clock: Callable[[], datetime] = utcnow
    config_ttl: float = 5.0
    # The local stack's part in a configuration change: before it is checked (seed the emulators' credentials)
    # and once it is stored (create the projects, point the service hooks); None in Azure.
    prepare_config: Callable[[TandemConfig], None] | None = None
    config_applied: Callable[[TandemConfig], None] | None = None
    _config: tuple[float, TandemConfig] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.config_store = ConfigStore(self.tables)
        self.links = LinkStore(self.tables)
        self.watermarks = WatermarkStore(self.tables)
        self.runs = RunStore(self.tables)
        self.failures = FailureStore(self.tables)
        self.conflicts = ConflictStore(self.tables)

    def config(self) -> TandemConfig:
        """The applied configuration, cached for a few seconds (edits apply without a restart)."""
        with self._lock:
            if self._config and time.monotonic() - self._config[0] < self.config_ttl:
                return self._config[1]
            config = parse_config(self.config_store.load())
            self._config = (time.monotonic(), config)
            return config

    def apply_config(
        self, config: TandemConfig, *, author: str = "tandem", expected: int | None = None, note: str = ""
    ) -> int:
        """Store `config` as a new version (returned); a connection naming a secret bound to other hosts is
        refused (ConfigError), and so is an edit made from a version other than `expected`
        (state.config_store.VersionConflict)."""
        problems = []
        for name, connection in config.connections.items():
            try:
                self.registry.check_secret_host(name, connection)
            except ConfigError as exc:
                problems.append(f"  {exc}")
        for scenario in config.scenarios:
            for side in scenario.auth:
                try:
                    self.registry.check_secret_host(
                        f"{scenario.name}.auth.{side}", config.connection_for(scenario, side)
                    )
                except ConfigError as exc:
                    problems.append(f"  {exc}".replace("connections.", "scenarios.", 1))
        if problems:
            raise ConfigError("Invalid configuration:\n" + "\n".join(problems))
        number = self.config_store.replace(
            config.model_dump(mode="json", exclude_none=True), author=author, expected=expected, note=note
        )
        with self._lock:
            self._config = None
        self.registry.forget()
        if self.config_applied is not None:
            self.config_applied(config)
        return number

    def connector(self, name: str) -> Connector:
        """The connection's connector with its own options (no scenario's)."""
        config = self.config()
        if name not in config.connections:
            raise ConfigError(f"Unknown connection '{name}'.")
        return self.registry.get(name, config.connections[name])

    def side_connector(self, scenario: ScenarioConfig, side: Literal["left", "right"]) -> Connector:
        """The connector of one side of a scenario: its connection with the options the scenario gives it
        (`connector_options`, e.g. a pipelines target's pool map), and the integration's own credentials when
        it names them (`scenarios[].auth`)."""
        name = getattr(scenario, side)
        config = self.config()
        if name not in config.connections:
            raise ConfigError(f"Unknown connection '{name}'.")
        options = scenario.connector_options.get(side)
        if side not in scenario.auth:
            return self.registry.get(name, config.connections[name], scenario_options=options)
        connection = config.connection_for(scenario, side)
        return self.registry.get(
            name, connection, key=f"{name}@{scenario.name}.{side}", scenario_options=options
        )


def build_services(
    settings: AppSettings | None = None,
    *,
    queue: MessageQueue | None = None,
    secrets: SecretStore | None = None,
) -> Services:
    """Production wiring from app settings; the local stack passes its own queue and secrets."""
    settings = settings or AppSettings.from_env()
    tables = Tables.from_settings(settings)
    tables.create_all()
    if secrets is None:
        if settings.key_vault_url:
            from state.secrets import KeyVaultSecretStore

            secrets = KeyVaultSecretStore(settings.key_vault_url)
        else:
            from state.secrets import LocalSecretStore

            secrets = LocalSecretStore()
    if queue is None:
        if not settings.servicebus_namespace:
            raise ConfigError(
                "No queue configured: set ServiceBusConnection__fullyQualifiedNamespace "
                "(or run the local stack with `tandem serve`)."
            )
        from state.servicebus_queue import ServiceBusQueue

        queue = ServiceBusQueue(settings.servicebus_namespace, deadletter_queue=settings.deadletter_queue)
    return Services(
        settings=settings, tables=tables, queue=queue, secrets=secrets, registry=ConnectorRegistry(secrets)
    )
