"""The local stack behind `tandem serve`: Azurite, the emulators, and the function app on a local host,
wired to a local queue and a local secret store holding the emulators' credentials.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import ipaddress
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from state.local_queue import LocalQueue
from state.queue_journal import SqliteJournal
from state.secrets import LocalSecretStore
from state.tables import Tables
from sync.config import TandemConfig
from sync.registry import ConnectorRegistry
from sync.services import Services
from sync.settings import AppSettings
from tandem.azurite import Azurite
from tandem.configfile import DEMO_CONFIG, load_config
from tandem.host import LocalHost
from tandem.ports import free_port

log = logging.getLogger("tandem.stack")

LOCAL_PREFIX = "/_local"  # stack-only routes (wait on the local queue, scenario names) beside the app


class BadQuery(ValueError):
    """A query parameter of a `_local` route that is not a number in its range."""


def query_number(
    request: Request, name: str, default: float, low: float, high: float, *, integer: bool = False
) -> float:
    """A numeric query parameter, its default when absent; BadQuery (400) when not a number in range."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise BadQuery(f"query parameter {name}: {raw!r} is not {kind}") from None
    if not low <= value <= high:  # also refuses nan
        raise BadQuery(f"query parameter {name}: must be between {low:g} and {high:g}, not {raw}")
    return value


@dataclass(frozen=True)
class EmulatorSpec:
    """One emulator the stack starts: its key in the JSON line, its class, the `${VARIABLE}` of its URL."""

    key: str
    target: str  # "module:Class"; constructed with `options`, then `.start()` returns the base URL
    options: Mapping[str, Any] = field(default_factory=dict)
    variable: str = ""
    secret_option: str | None = "pat"  # constructor option given a fresh random secret on every start
    root_variable: str = ""  # `${VARIABLE}` of the emulator's root URL (e.g. PWA's Entra stand-in authority)


# Adding an emulator to the local stack is one line here.
EMULATORS: tuple[EmulatorSpec, ...] = (
    EmulatorSpec("ado_server", "emulators.ado:AdoEmulator", {"flavor": "server"}, "ADO_SERVER_URL"),
    EmulatorSpec("ado_services", "emulators.ado:AdoEmulator", {"flavor": "services"}, "ADO_SERVICES_URL"),
    EmulatorSpec(
        "pwa",
        "emulators.pwa:PwaEmulator",
        {"flavor": "online", "queue_delay": 0.05, "reporting_delay": 0.2},
        "PWA_URL",
        secret_option="password",
        root_variable="PWA_ROOT_URL",
    ),
    EmulatorSpec(
        "planner",
        "emulators.planner:PlannerEmulator",
        {},
        "PLANNER_URL",
        secret_option="client_secret",
        root_variable="PLANNER_ROOT_URL",
    ),
)


@dataclass
class RunningEmulator:
    spec: EmulatorSpec
    instance: Any
    url: str
    credentials: dict[str, str]


def emulator_credentials(instance: Any) -> dict[str, str]:
    """What the emulator accepts, as the JSON line reports it: `credentials()` if it has one, else its PAT."""
    getter = getattr(instance, "credentials", None)
    if callable(getter):
        return {k: str(v) for k, v in getter().items()}
    pat = getattr(instance, "pat", None)
    return {"pat": str(pat)} if pat else {}


class DataDirBusy(RuntimeError):
    """Another `tandem serve` (or the Azurite it started, still saving) holds the data folder."""


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def state_dir() -> Path:
    """Where `tandem serve` leaves `stack.json` for the other commands (TANDEM_HOME, else ./.tandem)."""
    return Path(os.environ.get("TANDEM_HOME") or ".tandem")


class LocalStack:
    """Starts everything `tandem serve` runs; `stop()` ends all of it, whatever part failed to start."""

    def __init__(
        self,
        config_path: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        emulators: Sequence[EmulatorSpec] = EMULATORS,
        env: Mapping[str, str] | None = None,
        data_dir: str | Path | None = None,
    ) -> None:
        self.config_path = Path(config_path) if config_path else DEMO_CONFIG
        self.host_name = host
        self.port = port
        self.emulator_specs = tuple(emulators)
        self.env = dict(os.environ if env is None else env)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.azurite: Azurite | None = None
        self.emulators: dict[str, RunningEmulator] = {}
        self.services: Services | None = None
        self.queue = LocalQueue()
        self.host: LocalHost | None = None
        self.hook_username = "tandem"
        self.hook_password = secrets.token_urlsafe(18)
        self.scim_token = secrets.token_urlsafe(24)
        self.functions_key: str | None = None  # None: the host makes one up
        self._config_lock = threading.Lock()
        # (secret name, emulator key) already given the emulator's credential: applied again, a secret the
        # connector has since rotated (a Graph refresh token) is kept, not reset to the spent first one.
        self._seeded_secrets: set[tuple[str, str]] = set()
        self._data_lock: int | None = None

    # -- start / stop -------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Start everything and return the description `tandem serve` prints."""
        from state.redact import install_log_redaction
        from sync import triggers

        install_log_redaction()  # every secret the stores hand out is masked in log records from now on
        try:
            if self.data_dir is not None:
                self._open_data_dir(self.data_dir)
                self.azurite = Azurite(
                    self.host_name, location=self.data_dir / "azurite", pass_fds=self._held_fds()
                ).start()
            else:
                self.azurite = Azurite(self.host_name).start()
            self._start_emulators()
            port = self.port or free_port(self.host_name)
            public = f"http://{self.host_name}:{port}"
            settings = AppSettings.from_env(self.env).model_copy(
                update={
                    "storage_connection": self.azurite.connection_string,
                    "storage_account": "",
                    "servicebus_namespace": "",
                    "key_vault_url": "",
                    "public_base_url": public,
                    "appinsights_connection": "",
                }
            )
            config = load_config(self.config_path, self.variables())
            settings = settings.model_copy(
                update={"scim_ado_connection": self.scim_connection(settings, config)}
            )
            store = LocalSecretStore(env=self.env)
            store.set(settings.scim_token_secret, self.scim_token)
            tables = Tables.from_settings(settings)
            tables.create_all()
            self.services = Services(
                settings=settings,
                tables=tables,
                queue=self.queue,
                secrets=store,
                registry=ConnectorRegistry(store),
                prepare_config=self.seed_secrets,
                config_applied=self.config_applied,
            )
            self.apply_config(config)  # no host yet: its hooks are pointed once it runs, below
            triggers.use_services(self.services)

            import function_app

            app_settings = {k: str(v) for k, v in settings.model_dump(by_alias=True).items()}
            self.host = LocalHost(
                function_app.app,
                settings=app_settings,
                queue=self.queue,
                key=self.functions_key,
                host=self.host_name,
                port=port,
                extra_routes=self._local_routes(),
            ).start()
            self.ensure_hooks()
        except BaseException:
            self.stop()
            raise
        return self.describe()

    def stop(self) -> None:
        from sync import triggers

        if self.host is not None:
            self.host.stop()
            self.host = None
        for running in reversed(list(self.emulators.values())):
            try:
                running.instance.stop()
            except Exception:
                log.exception("stopping emulator %s failed", running.spec.key)
        self.emulators.clear()
        if self.azurite is not None:
            self.azurite.stop()
            self.azurite = None
        self.queue.close()
        if self._data_lock is not None:
            os.close(self._data_lock)
            self._data_lock = None
        triggers.use_services(None)

    def _held_fds(self) -> tuple[int, ...]:
        return (self._data_lock,) if self._data_lock is not None else ()

    def _open_data_dir(self, folder: Path, wait: float = 30.0) -> None:
        """Take the data folder for this stack: its lock (held by Azurite too, so a restart waits until the
        Azurite of a killed stack has saved), the queue journal, and the keys that must outlive a restart
        (the hook password the systems' subscriptions carry, the functions key clients hold)."""
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise DataDirBusy(
                        f"the data folder {folder} is in use by another `tandem serve`; stop it first"
                    ) from None
                time.sleep(0.1)
        self._data_lock = fd
        keys_file = folder / "keys.json"
        keys: dict[str, str] = {}
        if keys_file.exists():
            keys = json.loads(keys_file.read_text(encoding="utf-8"))
        keys.setdefault("functions_key", secrets.token_urlsafe(24))
        keys.setdefault("hook_password", secrets.token_urlsafe(18))
        tmp = keys_file.with_suffix(".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            json.dump(keys, out)
        os.replace(tmp, keys_file)
        self.functions_key, self.hook_password = keys["functions_key"], keys["hook_password"]
        self.queue = LocalQueue(journal=SqliteJournal(folder / "queue.sqlite3"))

    def _start_emulators(self) -> None:
        for spec in self.emulator_specs:
            module_name, _, class_name = spec.target.partition(":")
            try:
                factory = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError):
                log.warning("emulator %s is not available (%s not found); not started", spec.key, spec.target)
                continue
            options = dict(spec.options)
            if spec.secret_option:
                options[spec.secret_option] = secrets.token_urlsafe(18)
            instance = factory(**options)
            url = str(instance.start()).rstrip("/")
            self.emulators[spec.key] = RunningEmulator(spec, instance, url, emulator_credentials(instance))
            self._seeded_secrets = {s for s in self._seeded_secrets if s[1] != spec.key}  # a new credential

    def emulator_variables(self) -> dict[str, str]:
        """`${NAME}` values this stack defines: its running emulators' base (and root) URLs, and for each
        `X_URL` an `X_HOST` with its host (for `auth.hosts`, as `tandem/pipelines_config.yaml` uses it)."""
        found = {r.spec.variable: r.url for r in self.emulators.values() if r.spec.variable}
        for variable, url in list(found.items()):
            if variable.endswith("_URL"):
                found[variable.removesuffix("_URL") + "_HOST"] = urlsplit(url).hostname or ""
        for r in self.emulators.values():
            root = getattr(r.instance, "root_url", None)
            if r.spec.root_variable and root:
                found[r.spec.root_variable] = str(root).rstrip("/")
        return found

    def variables(self) -> dict[str, str]:
        """`${NAME}` values for configuration files: the environment, then the emulators' URLs."""
        return {**self.env, **self.emulator_variables()}

    def scim_connection(self, settings: AppSettings, config: TandemConfig) -> str:
        """SCIM_ADO_CONNECTION if set, else the configuration's azure_devops connection on the Services
        emulator (entitlements exist on Services only)."""
        if settings.scim_ado_connection:
            return settings.scim_ado_connection
        services = self.emulators.get("ado_services")
        for name, connection in config.connections.items():
            if (
                connection.type == "azure_devops"
                and services
                and self.emulator_for(connection.url) is services
            ):
                return name
        return ""

    # -- configuration and hooks --------------------------------------------------------------------

    def apply_config(self, config: TandemConfig) -> None:
        """Store `config`; its emulator connections get the emulators' credentials, its hooks a secret, its
        projects exist and, once the host runs, its hooks point here (the admin API's `PUT /api/config` does
        the same through `Services.prepare_config` and `config_applied`)."""
        assert self.services is not None
        self.seed_secrets(config)
        self.services.apply_config(config)

    def seed_secrets(self, config: TandemConfig) -> None:
        """The emulators' credentials under the secret names `config`'s connections give, and the hook
        password under its hook secrets, before the configuration is checked and stored."""
        assert self.services is not None
        with self._config_lock:
            for name, connection in config.connections.items():
                running = self.emulator_for(connection.url)
                secret = connection.auth.secret
                if running is None or not secret or (secret, running.spec.key) in self._seeded_secrets:
                    continue
                value = running.credentials.get("pat") or running.credentials.get("password")
                if value:
                    self.services.secrets.set(secret, value)
                    # Bound to the emulator it belongs to, as a Key Vault tag binds a deployed secret.
                    bind = getattr(self.services.secrets, "bind", None)
                    if bind is not None:
                        bind(secret, [connection.secret_host])
                    self._seeded_secrets.add((secret, running.spec.key))
                else:
                    log.warning("emulator %s offers no credential for connection %s", running.spec.key, name)
            for scenario in config.scenarios:
                for side in (scenario.left, scenario.right):
                    hook = config.hook_auth(scenario, side)
                    if hook.secret:
                        self.services.secrets.set(hook.secret, self.hook_password)
                        self.hook_username = hook.username

    def config_applied(self, config: TandemConfig) -> None:
        """A configuration was stored (by the stack or through the admin API): the projects it pairs exist in
        the emulators, and once the host runs, the service hooks point at it."""
        self.seed_containers(config)
        if self.host is not None:
            problems = self.ensure_hooks()
            for problem in problems:
                log.warning("service hooks: %s", problem)

    def seed_containers(self, config: TandemConfig) -> None:
        """Create the projects the scenarios pair in the emulators, so hooks and syncs work from the start."""
        for scenario in config.scenarios:
            for pair in scenario.containers:
                for side, name in (("left", pair.left), ("right", pair.right)):
                    running = self.emulator_for(config.connections[getattr(scenario, side)].url)
                    seed = getattr(running.instance, "seed_project", None) if running else None
                    if seed is None:
                        continue
                    # ValueError: already there (an earlier apply, or the person driving the stack seeded it).
                    with contextlib.suppress(ValueError):
                        seed(name)

    def emulator_for(self, url: str) -> RunningEmulator | None:
        for running in self.emulators.values():
            if url.rstrip("/").lower().startswith(running.url.lower()):
                return running
        return None

    def ensure_hooks(self) -> list[str]:
        """Point the emulators' service hook subscriptions at this host; returns the problems found.

        Only connections served by a running emulator or another one on this machine (a loopback URL, as
        with `--no-emulators`): a real system must never be told to call 127.0.0.1.
        """
        from sync.hook_subscriptions import ensure_hooks

        assert self.services is not None and self.host is not None
        checks = ensure_hooks(
            self.services,
            self.host.api_url,
            include=lambda name, cfg: self.emulator_for(cfg.url) is not None or is_loopback(cfg.url),
        )
        return [f"{c.scenario}: {c.connection}: {p}" for c in checks for p in c.problems]

    # -- description --------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        assert self.azurite is not None and self.host is not None and self.services is not None
        info: dict[str, Any] = {"functions": self.host.api_url, "tables": self.azurite.table_endpoint}
        info["console"] = f"{self.host.api_url}/console/"  # the admin console: sign in with functions_key
        if self.data_dir is not None:
            info["data_dir"] = str(self.data_dir)
        credentials: dict[str, Any] = {
            "functions_key": self.host.key,
            "hook": {"username": self.hook_username, "password": self.hook_password},
        }
        for key, running in self.emulators.items():
            info[key] = running.url
            credentials[key] = running.credentials
        credentials["tables"] = {"connection_string": self.azurite.connection_string}
        info["credentials"] = credentials
        if self.services.settings.scim_ado_connection:
            info["scim"] = {"url": f"{self.host.api_url}/scim/v2", "token": self.scim_token}
        info["scenarios"] = [s.name for s in self.services.config().scenarios]
        return info

    # -- stack-only admin routes --------------------------------------------------------------------

    def _local_routes(self) -> list[Route]:
        """Admin routes a deployed app leaves to Service Bus and the portal; key-protected like the app's."""

        def guarded(handler: Any) -> Any:
            async def endpoint(request: Request) -> Response:
                if self.host is None or not self.host.authorized(request):
                    return Response(status_code=401)
                try:
                    return await handler(request)
                except BadQuery as exc:
                    return JSONResponse({"error": str(exc)}, status_code=400)

            return endpoint

        return [
            Route(f"{LOCAL_PREFIX}/idle", guarded(self._idle), methods=["GET"]),
            Route(f"{LOCAL_PREFIX}/scenarios", guarded(self._scenarios), methods=["GET"]),
        ]

    async def _idle(self, request: Request) -> Response:
        timeout = query_number(request, "timeout", 30.0, 0.0, 600.0)
        idle = await run_in_threadpool(self.queue.wait_idle, timeout)
        counts = {q: vars(self.queue.counts(q)) for q in self.queue.queue_names()}
        return JSONResponse({"idle": idle, "queues": counts})

    async def _scenarios(self, request: Request) -> Response:
        assert self.services is not None
        config = await run_in_threadpool(self.services.config)
        return JSONResponse([s.name for s in config.scenarios])
