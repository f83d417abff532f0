"""How the command line reaches a Tandem: a running `tandem serve` (found through `.tandem/stack.json`), a
deployed app's admin API (`--url`/`--key`), or its storage and queue directly from app settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sync.config import TandemConfig

FUNCTIONS_KEY_HEADER = "x-functions-key"
NO_TARGET = (
    "No Tandem to talk to. Start the local stack with `tandem serve` (other commands then find it through "
    ".tandem/stack.json), or pass --url https://<app>.azurewebsites.net/api --key <function key> "
    "(or set TANDEM_URL and TANDEM_KEY), or set AzureWebJobsStorage and "
    "ServiceBusConnection__fullyQualifiedNamespace (environment or local.settings.json) to use the "
    "app's storage and queues directly."
)


class CliError(Exception):
    """A failure the person at the terminal can act on; `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Target(Protocol):
    description: str
    local: bool  # a `tandem serve` stack: its queue can be waited on

    def scenarios(self) -> list[str]: ...
    def status(self, scenario: str) -> dict[str, Any]: ...
    def run(self, scenario: str, direction: str | None, **options: Any) -> dict[str, Any]: ...
    def wait_idle(self, timeout: float) -> bool: ...
    def apply_config(self, config: TandemConfig) -> list[str]: ...
    def dead_letters(self, queue: str | None, scenario: str | None = None) -> list[dict[str, Any]]: ...
    def replay(
        self,
        queue: str | None,
        limit: int,
        scenario: str | None = None,
        message_ids: Sequence[str] = (),
    ) -> int: ...
    def ensure_hooks(self, scenario: str) -> dict[str, Any]: ...
    def setup(self, scenario: str, action: str) -> dict[str, Any]: ...
    def bulk(self, scenario: str, request: dict[str, Any], job_id: str) -> dict[str, Any]: ...
    def bulk_job(self, job_id: str) -> dict[str, Any] | None: ...
    def bulk_plans(self, job_id: str) -> list[dict[str, Any]]: ...


def read_stack_file(path: Path) -> dict[str, Any] | None:
    """The running stack's description, or None when there is none (or its process has gone)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    pid = info.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # left behind by a stack that was killed
        except PermissionError:
            pass
    return info


@dataclass
class AdminApi:
    """The app's admin API over HTTP; with `local`, also the stack-only routes of `tandem serve`."""

    url: str
    key: str
    local: bool = False
    timeout: float = 30.0
    # With Microsoft Entra sign-in on the admin API (infra's adminSignInClientId): a bearer token for it.
    token: Callable[[], str] | None = None

    @property
    def description(self) -> str:
        return f"{'local stack' if self.local else 'function app'} at {self.url}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        import httpx

        try:
            response = httpx.request(
                method,
                path if "://" in path else f"{self.url.rstrip('/')}/{path.lstrip('/')}",
                headers={**self._headers(), **(headers or {})},
                json=body,
                params=dict(params or {}),
                timeout=timeout or self.timeout,
            )
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the {self.description}: {type(exc).__name__}") from None
        if response.status_code == 401:
            raise CliError(f"the {self.description} refused the key (401): check --key / TANDEM_KEY")
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {"error": response.text[:500]}
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            code = 2 if response.status_code in (400, 404) else 1
            raise CliError(message or f"{method} {path} answered HTTP {response.status_code}", code)
        return data

    def _headers(self) -> dict[str, str]:
        headers = {FUNCTIONS_KEY_HEADER: self.key} if self.key else {}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token()}"
        return headers

    def _stack_url(self, path: str) -> str:
        # Stack-only routes sit beside the function routes, outside their /api prefix.
        base = self.url.rstrip("/")
        root = base[: -len("/api")] if base.endswith("/api") else base
        return f"{root}/_local/{path}"

    def _need_local(self, what: str) -> None:
        if not self.local:
            raise CliError(
                f"{what} of a deployed app goes through its storage and Service Bus: set AzureWebJobsStorage "
                "and ServiceBusConnection__fullyQualifiedNamespace instead of --url",
                2,
            )

    def scenarios(self) -> list[str]:
        self._need_local("Listing scenarios")
        return list(self._call("GET", self._stack_url("scenarios")))

    def status(self, scenario: str) -> dict[str, Any]:
        return dict(self._call("GET", f"scenarios/{scenario}/status"))

    def run(self, scenario: str, direction: str | None, **options: Any) -> dict[str, Any]:
        """Poll now; options (the run route's): dry_run, items, force, entity."""
        body = {"direction": direction, **{k: v for k, v in options.items() if v}}
        return dict(self._call("POST", f"scenarios/{scenario}/run", body=body, timeout=300))

    def wait_idle(self, timeout: float) -> bool:
        self._need_local("Waiting for the queue")
        data = self._call("GET", self._stack_url("idle"), params={"timeout": timeout}, timeout=timeout + 10)
        return bool(data.get("idle"))

    def apply_config(self, config: TandemConfig) -> list[str]:
        reply = self._call("PUT", "config", **config_request(config), timeout=300)
        return list(reply["scenarios"])

    def ensure_hooks(self, scenario: str) -> dict[str, Any]:
        return dict(self._call("POST", f"scenarios/{scenario}/hooks"))

    def setup(self, scenario: str, action: str) -> dict[str, Any]:
        return dict(self._call("POST", f"scenarios/{scenario}/setup/{action}", timeout=300))

    def bulk(self, scenario: str, request: dict[str, Any], job_id: str) -> dict[str, Any]:
        path = f"scenarios/{scenario}/bulk"
        return dict(self._call("POST", path, body=request, params={"job_id": job_id}))

    def bulk_job(self, job_id: str) -> dict[str, Any] | None:
        try:
            return dict(self._call("GET", f"admin/bulk/{job_id}"))
        except CliError as exc:
            if exc.code == 2:
                return None  # not started yet
            raise

    def bulk_plans(self, job_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"admin/bulk/{job_id}/plans", timeout=300))

    def dead_letters(self, queue: str | None, scenario: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("queue", queue), ("scenario", scenario)) if v}
        return list(self._call("GET", "admin/deadletters", params={**params, "limit": 10_000})["items"])

    def replay(
        self, queue: str | None, limit: int, scenario: str | None = None, message_ids: Sequence[str] = ()
    ) -> int:
        body = replay_request(queue, limit, scenario, message_ids)
        return int(self._call("POST", "admin/deadletters/replay", body=body, timeout=300)["replayed"])


def config_request(config: TandemConfig) -> dict[str, Any]:
    """`PUT /api/config` of `tandem config apply`: the whole document, replacing whatever version is there;
    the instances' credentials are not checked against their systems (secrets are: they must exist)."""
    return {
        "body": config.model_dump(mode="json", exclude_none=True),
        "params": {"verify": "false"},
        "headers": {"If-Match": "*", "X-Tandem-User": "tandem config apply"},
    }


def replay_request(
    queue: str | None, limit: int, scenario: str | None, message_ids: Sequence[str]
) -> dict[str, Any]:
    body: dict[str, Any] = (
        {"message_ids": list(message_ids)} if message_ids else {"all": True, "limit": limit}
    )
    if scenario and not message_ids:
        body["scenario"] = scenario
    if queue:
        body["queue"] = queue
    return body


class DirectState:
    """The app's own tables and queues, from app settings: what an operator uses against Azure."""

    local = False

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._services: Any = None

    @property
    def description(self) -> str:
        return "the app's storage and queues"

    def services(self) -> Any:
        if self._services is None:
            from sync.services import build_services

            self._services = build_services(self.settings)
        return self._services

    def _admin(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        # The admin API's own routes, run in-process: same validation and answers as over HTTP.
        from sync import triggers

        triggers.use_services(self.services())
        response = triggers.call_admin(method, path, body, params, headers)
        data = json.loads(response.get_body() or b"{}")
        if response.status_code >= 400:
            raise CliError(data.get("error", f"HTTP {response.status_code}"), 2)
        return dict(data)

    def scenarios(self) -> list[str]:
        return [s.name for s in self.services().config().scenarios]

    def status(self, scenario: str) -> dict[str, Any]:
        return self._admin("GET", f"scenarios/{scenario}/status")

    def run(self, scenario: str, direction: str | None, **options: Any) -> dict[str, Any]:
        body = {"direction": direction, **{k: v for k, v in options.items() if v}}
        return self._admin("POST", f"scenarios/{scenario}/run", body)

    def ensure_hooks(self, scenario: str) -> dict[str, Any]:
        return self._admin("POST", f"scenarios/{scenario}/hooks")

    def setup(self, scenario: str, action: str) -> dict[str, Any]:
        return self._admin("POST", f"scenarios/{scenario}/setup/{action}")

    def bulk(self, scenario: str, request: dict[str, Any], job_id: str) -> dict[str, Any]:
        return self._admin("POST", f"scenarios/{scenario}/bulk", request, {"job_id": job_id})

    def bulk_job(self, job_id: str) -> dict[str, Any] | None:
        try:
            return self._admin("GET", f"admin/bulk/{job_id}")
        except CliError:
            return None

    def bulk_plans(self, job_id: str) -> list[dict[str, Any]]:
        from sync.bulk import BulkJobs

        return BulkJobs(self.services()).plans(job_id)

    def wait_idle(self, timeout: float) -> bool:
        return False  # Service Bus is drained by the deployed app's workers, not by this command

    def apply_config(self, config: TandemConfig) -> list[str]:
        request = config_request(config)
        reply = self._admin("PUT", "config", request["body"], request["params"], request["headers"])
        return list(reply["scenarios"])

    def dead_letters(self, queue: str | None, scenario: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("queue", queue), ("scenario", scenario)) if v}
        return list(self._admin("GET", "admin/deadletters", params={**params, "limit": "10000"})["items"])

    def replay(
        self, queue: str | None, limit: int, scenario: str | None = None, message_ids: Sequence[str] = ()
    ) -> int:
        body = replay_request(queue, limit, scenario, message_ids)
        return int(self._admin("POST", "admin/deadletters/replay", body)["replayed"])


def app_settings(env: Mapping[str, str] | None = None, settings_file: Path | None = None) -> Any:
    """App settings as the Functions host sees them locally: local.settings.json Values, then env."""
    from sync.settings import AppSettings

    values: dict[str, str] = {}
    file = settings_file or Path("local.settings.json")
    if file.exists():
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CliError(f"{file} is not valid JSON: {exc}", 2) from None
        values.update({k: v for k, v in (data.get("Values") or {}).items() if isinstance(v, str)})
    values.update(os.environ if env is None else env)
    return AppSettings.from_env(values)


SIGN_IN_SCOPE = "TANDEM_SIGN_IN_SCOPE"  # e.g. api://<client id>/.default when admin sign-in is on


def sign_in_token(scope: str | None) -> Callable[[], str] | None:
    """Entra tokens for `scope` from the signed-in identity (Azure CLI, managed identity...), or None."""
    if not scope:
        return None

    def token() -> str:
        from azure.identity import DefaultAzureCredential

        try:
            return DefaultAzureCredential().get_token(scope).token
        except Exception as exc:  # the message of the credential chain says what to sign in with
            raise CliError(f"no Microsoft Entra token for {scope} ({SIGN_IN_SCOPE}): {exc}", 2) from None

    return token


def resolve_target(url: str | None, key: str | None, stack: dict[str, Any] | None) -> Target:
    """--url/--key (or TANDEM_URL/TANDEM_KEY), else the running local stack, else the app settings."""
    url = url or os.environ.get("TANDEM_URL")
    key = key or os.environ.get("TANDEM_KEY")
    if url:
        same = stack is not None and stack.get("functions", "").rstrip("/") == url.rstrip("/")
        if same and stack is not None and not key:
            key = stack["credentials"]["functions_key"]
        return AdminApi(url, key or "", local=same, token=sign_in_token(os.environ.get(SIGN_IN_SCOPE)))
    if stack is not None:
        return AdminApi(stack["functions"], stack["credentials"]["functions_key"], local=True)
    settings = app_settings()
    if settings.storage_connection or settings.storage_account:
        return DirectState(settings)
    raise CliError(NO_TARGET, 2)
