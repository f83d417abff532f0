"""Credentials for Graph: delegated (a refresh token rotated back into the secret store), app-only with a
client secret, or a managed identity / `DefaultAzureCredential`. The flows live in `connectors.oauth`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from connectors.oauth import ClientCredentialsProvider, EntraTokenProvider, RefreshTokenProvider, TokenAuth
from connectors.planner.config import PlannerOptions


def delegated(
    name: str,
    *,
    tenant: str,
    client_id: str,
    secret_name: str,
    get_secret: Callable[[], str],
    set_secret: Callable[[str], None],
    options: PlannerOptions,
    transport: httpx.BaseTransport | None = None,
) -> TokenAuth:
    """A service account's refresh token (scopes Tasks.ReadWrite, User.ReadBasic.All, offline_access)."""
    return TokenAuth(
        RefreshTokenProvider(
            system=name,
            tenant=tenant,
            client_id=client_id,
            scope=options.scope,
            get_refresh_token=get_secret,
            set_refresh_token=set_secret,
            secret_name=secret_name,
            authority=options.authority,
            transport=transport,
            timeout=options.timeout_seconds,
        )
    )


def app_only(
    name: str,
    *,
    tenant: str,
    client_id: str,
    secret_name: str,
    get_secret: Callable[[], str],
    options: PlannerOptions,
    transport: httpx.BaseTransport | None = None,
) -> TokenAuth:
    """An app registration's client secret (application permissions Tasks.ReadWrite.All, User.Read.All)."""
    return TokenAuth(
        ClientCredentialsProvider(
            system=name,
            tenant=tenant,
            client_id=client_id,
            scope=options.scope,
            client_secret=get_secret,
            secret_name=secret_name,
            authority=options.authority,
            transport=transport,
            timeout=options.timeout_seconds,
        )
    )


def managed_identity(
    options: PlannerOptions, client_id: str | None = None, credential: Any = None
) -> TokenAuth:
    """The Function App's managed identity (user-assigned when `client_id` is given)."""
    return TokenAuth(EntraTokenProvider(credential, scope=options.scope, client_id=client_id))
