"""Secret stores: named secrets (PATs, client secrets, refresh tokens) from Key Vault or the environment.

Every value handed out or stored is registered with `state.redact.default_redactor`, so logs mask it. No error
message, repr or log line of this module ever contains a value: only names and where to put them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlparse

from state.redact import Redactor, default_redactor

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient

log = logging.getLogger("tandem.secrets")

ENV_PREFIX = "TANDEM_SECRET_"
HOSTS_SUFFIX = "__HOSTS"  # TANDEM_SECRET_<NAME>__HOSTS: the hosts a local secret may be sent to
HOSTS_TAG = "tandem-hosts"  # the Key Vault tag that binds a secret to hosts (comma-separated)
# Key Vault's own rule for secret names; enforced locally too, so a name that works locally works in Azure.
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")


class SecretStoreError(Exception):
    """A secret could not be read or written. The message names the secret, never its value."""


class SecretNotFound(SecretStoreError, LookupError):
    """The named secret does not exist (or is empty); the message says where to put it."""


class SecretAccessError(SecretStoreError):
    """The store refused: missing role, disabled secret, or no credential."""


@runtime_checkable
class SecretStore(Protocol):
    def get(self, name: str) -> str:
        """The current value of secret `name`; raises SecretNotFound."""

    def set(self, name: str, value: str) -> None:
        """Store a new value (a rotated refresh token, say); later `get` calls return it."""


def parse_hosts(value: str | None) -> frozenset[str] | None:
    """A comma-separated host list (a tag or setting value); None when there is none."""
    hosts = frozenset(h.strip().lower().rstrip(".") for h in (value or "").split(",") if h.strip())
    return hosts or None


def bound_hosts(store: SecretStore, name: str) -> frozenset[str] | None:
    """The hosts secret `name` is bound to in the store, or None when it is not bound (or not set)."""
    lookup = getattr(store, "hosts", None)
    if lookup is None:
        return None
    try:
        return lookup(name)  # type: ignore[no-any-return]
    except SecretNotFound:
        return None


def host_binding_problem(store: SecretStore, name: str, host: str) -> str | None:
    """Why secret `name` must not be sent to `host`, or None. Checked before any connector uses it."""
    hosts = bound_hosts(store, name)
    if hosts is None or host.lower().rstrip(".") in hosts:
        return None
    return (
        f"secret '{name}' is bound to {', '.join(sorted(hosts))} and is not sent to {host}; "
        "name a secret bound to this host (or add it to the secret's hosts)"
    )


def env_var_name(name: str) -> str:
    """The variable a local secret is read from: `ado-cloud-pat` → `TANDEM_SECRET_ADO_CLOUD_PAT`."""
    return ENV_PREFIX + re.sub(r"[^0-9A-Za-z]", "_", name).upper()


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"invalid secret name {name!r}: use 1-127 letters, digits and dashes (Key Vault's naming rule)"
        )
    return name


class LocalSecretStore:
    """Secrets from `TANDEM_SECRET_<NAME>` environment variables and/or a mapping (local.settings.json).

    Lookup order: values given to `set()`, then the environment, then the mapping (by the variable name or
    the secret name itself). With `path`, `set()` also writes the value back to that JSON file, so a rotated
    refresh token survives a restart.
    """

    def __init__(
        self,
        values: Mapping[str, str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        path: str | os.PathLike[str] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._values = dict(values or {})
        self._env = os.environ if env is None else env
        self._path = Path(path) if path is not None else None
        self._overrides: dict[str, str] = {}
        self._bindings: dict[str, frozenset[str]] = {}
        self._redactor = redactor or default_redactor
        self._lock = threading.Lock()
        for key, value in self._values.items():
            # Secrets in a settings file are masked from the start; other settings (queue names…) are not.
            if key.startswith(ENV_PREFIX) and isinstance(value, str):
                self._redactor.register(value)

    @classmethod
    def from_settings_file(
        cls,
        path: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        write_back: bool = True,
        redactor: Redactor | None = None,
    ) -> LocalSecretStore:
        """Read a local.settings.json (its "Values") or a flat JSON object of names to values."""
        file = Path(path)
        data = json.loads(file.read_text(encoding="utf-8")) if file.exists() else {}
        values = data.get("Values", data) if isinstance(data, dict) else {}
        strings = {k: v for k, v in values.items() if isinstance(v, str)}
        return cls(strings, env=env, path=file if write_back else None, redactor=redactor)

    def __repr__(self) -> str:
        where = f", path={str(self._path)!r}" if self._path else ""
        return f"LocalSecretStore({len(self._values)} values{where})"

    def get(self, name: str) -> str:
        check_name(name)
        var = env_var_name(name)
        with self._lock:
            value = self._overrides.get(name)
        if value is None:
            value = self._env.get(var) or self._values.get(var) or self._values.get(name)
        if not value:
            raise SecretNotFound(
                f"secret {name!r} is not set: set the environment variable {var} "
                f'(or add "{var}" to the Values of local.settings.json)'
            )
        self._redactor.register(value)
        return value

    def hosts(self, name: str) -> frozenset[str] | None:
        """The hosts the secret is bound to: `bind()`, else `TANDEM_SECRET_<NAME>__HOSTS`."""
        check_name(name)
        with self._lock:
            bound = self._bindings.get(name)
        if bound is not None:
            return bound
        var = env_var_name(name) + HOSTS_SUFFIX
        return parse_hosts(self._env.get(var) or self._values.get(var))

    def bind(self, name: str, hosts: list[str] | frozenset[str]) -> None:
        """Bind a secret to the hosts it may be sent to (the local stack binds its emulators' secrets)."""
        check_name(name)
        parsed = parse_hosts(",".join(hosts))
        with self._lock:
            if parsed is None:
                self._bindings.pop(name, None)
            else:
                self._bindings[name] = parsed

    def set(self, name: str, value: str) -> None:
        check_name(name)
        if not value:
            raise ValueError(f"refusing to store an empty value for secret {name!r}")
        self._redactor.register(value)
        with self._lock:
            self._overrides[name] = value
            if self._path is not None:
                self._write_back(env_var_name(name), value)

    def _write_back(self, key: str, value: str) -> None:
        path = self._path
        assert path is not None
        data: Any = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if not isinstance(data, dict):
            data = {}
        target = data["Values"] if isinstance(data.get("Values"), dict) else data
        target[key] = value
        # Written to a temporary file and renamed, so a crash never leaves a half-written settings file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2)
                out.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class KeyVaultSecretStore:
    """Secrets from Azure Key Vault through `SecretClient`, cached for `ttl_seconds` to spare the vault.

    Authenticates with DefaultAzureCredential unless given a credential or a client; the identity needs
    "Key Vault Secrets User" on the vault to read, and "Key Vault Secrets Officer" on each secret it
    writes back (rotated refresh tokens). A `tandem-hosts` tag binds a secret to the hosts it may go to.
    """

    def __init__(
        self,
        vault_url: str,
        credential: TokenCredential | None = None,
        client: SecretClient | None = None,
        ttl_seconds: float = 60,
        *,
        clock: Callable[[], float] = time.monotonic,
        redactor: Redactor | None = None,
    ) -> None:
        if not vault_url:
            raise ValueError("Key Vault URL missing: set KEY_VAULT_URL to https://<vault>.vault.azure.net/")
        self.vault_url = vault_url
        self._vault = urlparse(vault_url).hostname or vault_url
        self._credential = credential
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._redactor = redactor or default_redactor
        self._cache: dict[str, tuple[str, float]] = {}
        self._hosts: dict[str, frozenset[str] | None] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyVaultSecretStore({self.vault_url!r}, ttl_seconds={self._ttl})"

    @property
    def client(self) -> SecretClient:
        with self._lock:
            if self._client is None:
                from azure.keyvault.secrets import SecretClient

                credential = self._credential
                if credential is None:
                    from azure.identity import DefaultAzureCredential

                    credential = DefaultAzureCredential()
                self._client = SecretClient(self.vault_url, credential)
            return self._client

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached values (one, or all) so the next get reads the vault."""
        with self._lock:
            if name is None:
                self._cache.clear()
            else:
                self._cache.pop(name, None)

    def get(self, name: str) -> str:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

        check_name(name)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None and now - cached[1] < self._ttl:
            return cached[0]
        # The vault call runs outside the lock: one slow read must not stall cached reads of other secrets.
        try:
            secret = self.client.get_secret(name)
            value = secret.value
        except ResourceNotFoundError:
            raise SecretNotFound(self._not_found(name)) from None
        except ClientAuthenticationError as err:
            raise SecretAccessError(
                f"could not authenticate to Key Vault {self.vault_url} to read secret {name!r}: "
                "check the app's managed identity (or `az login` locally)"
            ) from err
        except HttpResponseError as err:
            raise SecretAccessError(
                f"Key Vault {self.vault_url} refused reading secret {name!r} (HTTP {err.status_code}): "
                "the app's identity needs the 'Key Vault Secrets User' role and the secret must be enabled"
            ) from err
        if not value:
            raise SecretNotFound(self._not_found(name, empty=True))
        self._redactor.register(value)
        tags = getattr(secret.properties, "tags", None) or {}
        with self._lock:
            self._cache[name] = (value, now)
            self._hosts[name] = parse_hosts(tags.get(HOSTS_TAG))
        return value

    def hosts(self, name: str) -> frozenset[str] | None:
        """The hosts in the secret's `tandem-hosts` tag (read with the value, cached with it)."""
        self.get(name)
        with self._lock:
            return self._hosts.get(name)

    def set(self, name: str, value: str) -> None:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

        check_name(name)
        if not value:
            raise ValueError(f"refusing to store an empty value for secret {name!r}")
        # Registered before the call: whatever the SDK logs about the request is already masked.
        self._redactor.register(value)
        failure: str | None = None
        with self._lock:
            hosts = self._hosts.get(name)
        try:
            # A rotated value keeps its binding: set_secret makes a new version whose tags replace the old.
            if hosts:
                self.client.set_secret(name, value, tags={HOSTS_TAG: ",".join(sorted(hosts))})
            else:
                self.client.set_secret(name, value)
        except ClientAuthenticationError:
            failure = f"could not authenticate to Key Vault {self.vault_url} to write secret {name!r}"
        except HttpResponseError as err:
            hint = (
                ": the app's identity needs the 'Key Vault Secrets Officer' role on this secret "
                "(add its name to the rotatedSecretNames deployment parameter)"
                if err.status_code in (401, 403)
                else ""
            )
            failure = (
                f"Key Vault {self.vault_url} refused writing secret {name!r} (HTTP {err.status_code}){hint}"
            )
        if failure is not None:
            # Raised outside the handler so the SDK error, whose request carried the value, is not even
            # kept as __context__.
            raise SecretAccessError(failure)
        with self._lock:
            self._cache[name] = (value, self._clock())

    def _not_found(self, name: str, *, empty: bool = False) -> str:
        state = "is empty" if empty else "does not exist"
        vault = self._vault.split(".")[0]
        return (
            f"secret {name!r} {state} in Key Vault {self.vault_url}: add it with "
            f"`az keyvault secret set --vault-name {vault} --name {name} --value <value>`"
        )


def secret_store(
    key_vault_url: str = "", *, settings_file: str | os.PathLike[str] | None = None
) -> SecretStore:
    """Key Vault when KEY_VAULT_URL is set, else the local store (environment, plus an optional file)."""
    if key_vault_url:
        return KeyVaultSecretStore(key_vault_url)
    if settings_file is not None:
        return LocalSecretStore.from_settings_file(settings_file)
    return LocalSecretStore()
