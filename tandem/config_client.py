"""How the configuration commands reach the configuration: the admin API's /api/config routes (a deployed
app with --url/--key, or the running `tandem serve`), else the app's tables directly (app settings)."""

from __future__ import annotations

import os
from typing import Any, Protocol

from tandem.client import FUNCTIONS_KEY_HEADER, NO_TARGET, CliError, app_settings


class ConfigTarget(Protocol):
    description: str

    def export(self, fmt: str) -> str: ...
    def history(self, limit: int) -> dict[str, Any]: ...
    def rollback(self, version: int, author: str) -> int: ...
    def auto_map(self, left: str, left_entity: str, right: str, right_entity: str) -> dict[str, Any]: ...
    def field_map(self, name: str) -> list[dict[str, Any]]: ...
    def put_field_map(self, name: str, rules: list[dict[str, Any]], author: str, verify: bool) -> int: ...
    def copy_map(self, source: str, target: str, author: str) -> int: ...
    def import_text(self, text: str, fmt: str, author: str, verify: bool) -> int: ...


class ConfigApi:
    """The admin API's configuration routes over HTTP. Writes send If-Match with the version just read,
    so an administrator's concurrent edit is refused (412), never overwritten."""

    def __init__(self, root: str, key: str, client: Any = None) -> None:
        import httpx

        self.root = root.rstrip("/").removesuffix("/api")
        self.description = f"admin API at {self.root}"
        self.client = client or httpx.Client(timeout=60)
        self.headers = {FUNCTIONS_KEY_HEADER: key} if key else {}

    def _call(self, method: str, path: str, author: str = "", etag: str | None = None, **kw: Any) -> Any:
        headers = dict(self.headers)
        if author:
            headers["X-Tandem-User"] = author
        if etag is not None:
            headers["If-Match"] = etag
        try:
            response = self.client.request(method, f"{self.root}/api/config{path}", headers=headers, **kw)
        except Exception as exc:  # httpx transport errors: the message names the target
            raise CliError(f"cannot reach the {self.description}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
                message = f"{body.get('field') or 'request'}: {body.get('error')}"
            except ValueError:
                message = f"{method} {path} answered HTTP {response.status_code}"
            raise CliError(message, 2 if response.status_code < 500 else 1)
        return response

    def _etag(self) -> str:
        return str(self._call("GET", "/history", params={"limit": 1}).headers.get("ETag", "*"))

    def export(self, fmt: str) -> str:
        return str(self._call("GET", "/export", params={"format": fmt}).text)

    def history(self, limit: int) -> dict[str, Any]:
        return dict(self._call("GET", "/history", params={"limit": limit}).json())

    def rollback(self, version: int, author: str) -> int:
        return int(self._call("POST", f"/rollback/{version}", author, self._etag()).json()["version"])

    def auto_map(self, left: str, left_entity: str, right: str, right_entity: str) -> dict[str, Any]:
        body = {"left": left, "left_entity": left_entity, "right": right, "right_entity": right_entity}
        return dict(self._call("POST", "/mappings/auto", json=body).json())

    def field_map(self, name: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/field-maps/{name}").json()["rules"])

    def put_field_map(self, name: str, rules: list[dict[str, Any]], author: str, verify: bool) -> int:
        response = self._call(
            "PUT",
            f"/field-maps/{name}",
            author,
            self._etag(),
            json=rules,
            params={"verify": str(verify).lower()},
        )
        return int(response.json()["version"])

    def copy_map(self, source: str, target: str, author: str) -> int:
        response = self._call(
            "POST", f"/field-maps/{source}/copy", author, self._etag(), json={"name": target}
        )
        return int(response.json()["version"])

    def import_text(self, text: str, fmt: str, author: str, verify: bool) -> int:
        response = self._call(
            "POST",
            "/import",
            author,
            self._etag(),
            json={"format": fmt, "text": text},
            params={"verify": str(verify).lower()},
        )
        return int(response.json()["version"])


class ConfigDirect:
    """The configuration operations run in-process on the app's tables (no queue is needed)."""

    def __init__(self, services: Any) -> None:
        from sync.config_admin import ConfigAdmin

        self.admin = ConfigAdmin(services)
        self.description = "the app's configuration table"

    def _run(self, operation: Any, *args: Any, **kw: Any) -> Any:
        from sync.config_admin import ConfigEditError

        try:
            return operation(*args, **kw)
        except ConfigEditError as exc:
            raise CliError(f"{exc.field or 'configuration'}: {exc.message}", 2) from None

    def export(self, fmt: str) -> str:
        return str(self._run(self.admin.export, fmt))

    def history(self, limit: int) -> dict[str, Any]:
        versions = [v.model_dump(mode="json") for v in self._run(self.admin.history, limit)]
        return {"current": self.admin.store.version(), "versions": versions}

    def rollback(self, version: int, author: str) -> int:
        return int(
            self._run(self.admin.rollback, version, author=author, expected=self.admin.store.version())
        )

    def auto_map(self, left: str, left_entity: str, right: str, right_entity: str) -> dict[str, Any]:
        return dict(
            self._run(self.admin.auto_map, left, left_entity, right, right_entity).model_dump(mode="json")
        )

    def field_map(self, name: str) -> list[dict[str, Any]]:
        return list(self._run(self.admin.get, "field_maps", name))

    def put_field_map(self, name: str, rules: list[dict[str, Any]], author: str, verify: bool) -> int:
        expected = self.admin.store.version()
        return int(
            self._run(
                self.admin.put, "field_maps", name, rules, author=author, expected=expected, verify=verify
            )
        )

    def copy_map(self, source: str, target: str, author: str) -> int:
        return int(
            self._run(self.admin.copy_map, source, target, author=author, expected=self.admin.store.version())
        )

    def import_text(self, text: str, fmt: str, author: str, verify: bool) -> int:
        expected = self.admin.store.version()
        return int(
            self._run(self.admin.import_text, text, fmt, author=author, expected=expected, verify=verify)  # type: ignore[arg-type]
        )


def direct_services(settings: Any) -> Any:
    """Services on the app's tables and secrets; config commands use no queue (a local one stands in)."""
    from state.local_queue import LocalQueue
    from state.tables import Tables
    from sync.registry import ConnectorRegistry
    from sync.services import Services

    tables = Tables.from_settings(settings)
    tables.create_all()
    if settings.key_vault_url:
        from state.secrets import KeyVaultSecretStore

        secrets: Any = KeyVaultSecretStore(settings.key_vault_url)
    else:
        from state.secrets import LocalSecretStore

        secrets = LocalSecretStore()
    return Services(
        settings=settings,
        tables=tables,
        queue=LocalQueue(),
        secrets=secrets,
        registry=ConnectorRegistry(secrets),
    )


def resolve_config_target(url: str | None, key: str | None, stack: dict[str, Any] | None) -> ConfigTarget:
    """--url/--key (or TANDEM_URL/TANDEM_KEY), else the running local stack, else the app settings."""
    url = url or os.environ.get("TANDEM_URL")
    key = key or os.environ.get("TANDEM_KEY")
    if url:
        if stack is not None and not key and stack.get("functions", "").rstrip("/") == url.rstrip("/"):
            key = stack["credentials"]["functions_key"]
        return ConfigApi(url, key or "")
    if stack is not None:
        return ConfigApi(stack["functions"], stack["credentials"]["functions_key"])
    settings = app_settings()
    if settings.storage_connection or settings.storage_account:
        return ConfigDirect(direct_services(settings))
    raise CliError(NO_TARGET, 2)


def author() -> str:
    """Who the history records for a CLI change: TANDEM_USER, else the login name."""
    import getpass

    try:
        return os.environ.get("TANDEM_USER") or f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
