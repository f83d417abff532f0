"""Builds a PlannerConnector from a connection's configuration (type `planner`) and the secret store.

Auth kinds: `oauth_refresh_token` (delegated; `client_id`, `tenant`, `secret` = the refresh token, rotated
back into the store), `entra` with `client_id`, `tenant` and `secret` (app-only: the client secret), `entra`
without a secret (managed identity / `DefaultAzureCredential`; `client_id` = a user-assigned identity), and
`none` (tests).
"""

from __future__ import annotations

from typing import Any, Protocol

from connectors.planner import auth as graph_auth
from connectors.planner.config import PlannerOptions
from connectors.planner.connector import PlannerConnector


class _Secrets(Protocol):
    def get(self, name: str) -> str: ...

    def set(self, name: str, value: str) -> None: ...


def build(name: str, config: Any, secrets: _Secrets, **extra: Any) -> PlannerConnector:
    """`config` has `url` (`https://graph.microsoft.com/v1.0`), `auth` and `options` (PlannerOptions).

    `extra` goes to PlannerConnector (e.g. `transport` in tests); `token_transport` to the token client.
    """
    options = PlannerOptions.model_validate(dict(config.options or {}))
    token_transport = extra.pop("token_transport", None)
    auth = config.auth
    kind = auth.kind
    secret_name = auth.secret or ""

    def need(*fields: str) -> None:
        missing = [f for f in fields if not getattr(auth, f, None)]
        if missing:
            raise ValueError(
                f"{name}: auth kind '{kind}' needs {', '.join(missing)} in the connection's auth"
            )

    if kind == "oauth_refresh_token":
        need("client_id", "tenant", "secret")
        token = graph_auth.delegated(
            name,
            tenant=auth.tenant,
            client_id=auth.client_id,
            secret_name=secret_name,
            get_secret=lambda: secrets.get(secret_name),
            set_secret=lambda value: secrets.set(secret_name, value),
            options=options,
            transport=token_transport,
        )
        return PlannerConnector(name, config.url, options, auth=token, **extra)
    if kind == "entra" and auth.secret:
        need("client_id", "tenant")
        token = graph_auth.app_only(
            name,
            tenant=auth.tenant,
            client_id=auth.client_id,
            secret_name=secret_name,
            get_secret=lambda: secrets.get(secret_name),
            options=options,
            transport=token_transport,
        )
        return PlannerConnector(name, config.url, options, auth=token, **extra)
    if kind == "entra":
        return PlannerConnector(
            name, config.url, options, auth=graph_auth.managed_identity(options, auth.client_id), **extra
        )
    if kind == "none":
        return PlannerConnector(name, config.url, options, **extra)
    raise ValueError(
        f"{name}: auth kind {kind!r} is not supported for Planner; use 'oauth_refresh_token' (delegated), "
        "'entra' with a client secret (app-only, Tasks.ReadWrite.All) or 'entra' alone (managed identity)"
    )
