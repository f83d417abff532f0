"""Credentials for Graph from a connection's `auth`: delegated (a refresh token rotated back into the secret
store), app-only with a client secret, or a managed identity / `DefaultAzureCredential`. The OAuth flows
themselves live in `connectors.oauth`, shared with PWA."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from connectors.oauth import ClientCredentialsProvider, EntraTokenProvider, RefreshTokenProvider, TokenAuth
from connectors.planner.config import PlannerOptions


class Secrets(Protocol):
    def get(self, name: str) -> str: ...

    def set(self, name: str, value: str) -> None: ...


def graph_auth(
    name: str,
    auth: Any,
    options: PlannerOptions,
    secrets: Secrets,
    transport: httpx.BaseTransport | None = None,
) -> TokenAuth | None:
    """`auth` has `kind`, `secret` (a secret's name), `client_id`, `tenant`; None for kind `none`.

    - `oauth_refresh_token`: a service account's refresh token (Tasks.ReadWrite, User.ReadBasic.All).
    - `entra` with a secret: the app's client secret (Tasks.ReadWrite.All, User.Read.All, admin consent).
    - `entra` alone: the Function App's managed identity (user-assigned when `client_id` is given).
    """
    kind = auth.kind
    secret_name = auth.secret or ""

    def need(*fields: str) -> None:
        missing = [f for f in fields if not getattr(auth, f, None)]
        if missing:
            raise ValueError(
                f"{name}: auth kind '{kind}' needs {', '.join(missing)} in the connection's auth"
            )

    if kind == "none":
        return None
    if kind not in ("entra", "oauth_refresh_token"):
        raise ValueError(
            f"{name}: auth kind {kind!r} is not supported for Planner; use 'oauth_refresh_token' "
            "(delegated), 'entra' with a client secret (app-only, Tasks.ReadWrite.All) or 'entra' alone "
            "(managed identity)"
        )
    if kind == "entra" and not secret_name:
        return TokenAuth(EntraTokenProvider(scope=options.scope, client_id=auth.client_id))
    endpoint: dict[str, Any] = {
        "system": name,
        "tenant": auth.tenant,
        "client_id": auth.client_id,
        "scope": options.scope,
        "secret_name": secret_name,
        "authority": options.authority,
        "transport": transport,
        "timeout": options.timeout_seconds,
    }
    if kind == "oauth_refresh_token":
        need("client_id", "tenant", "secret")
        return TokenAuth(
            RefreshTokenProvider(
                get_refresh_token=lambda: secrets.get(secret_name),
                set_refresh_token=lambda value: secrets.set(secret_name, value),
                **endpoint,
            )
        )
    if kind == "entra":
        need("client_id", "tenant")
        return TokenAuth(
            ClientCredentialsProvider(client_secret=lambda: secrets.get(secret_name), **endpoint)
        )
    raise ValueError(
        f"{name}: auth kind {kind!r} is not supported for Planner; use 'oauth_refresh_token' (delegated), "
        "'entra' with a client secret (app-only, Tasks.ReadWrite.All) or 'entra' alone (managed identity)"
    )
